"""timeline.html: lanes in numeric order, grouped by role, labelled, with a legend."""

import html
import json
import re

from harness.checkers import check
from harness.history.files import read_history, write_history
from harness.history.format import killed
from harness.reporting import timeline


def op(process, name, value, call, ret=None, kind="ok"):
    return {"process": process, "op": name, "value": value, "type": kind, "call": call,
            "return": call + 5 if ret is None and kind == "ok" else ret}


def embedded_data(page):
    """The JSON the page draws from."""
    found = re.search(r"const D = (\{.*?\});\n", page)
    assert found, "no embedded data"
    return json.loads(found.group(1))


def a_run():
    """Processes numbered so that text order (1, 10, 11, 2, ...) differs from numeric order."""
    history = []
    clock = 1000
    for process in (11, 2, 10, 1):  # producers, recorded in no particular order
        history.append(op(process, "open", None, clock))
        history.append(op(process, "put", f"v{process}", clock + 10))
        clock += 100
    for process in (12, 3, 20):  # consumers: get, claim, and ack/nack
        history.append(op(process, "open", None, clock))
        history.append(op(process, "get", f"v{process - 1}" if process != 20 else None, clock + 10))
        clock += 100
    history.append(op(21, "claim", None, clock))
    history.append(op(30, "size", 0, clock + 1))
    history.append(op(4, "size", 1, clock + 2))
    history.append(op(40, "open", None, clock + 3))
    history.append(killed(40, clock + 4))
    history.append(op(5, "put", "both", clock + 5))
    history.append(op(5, "get", "both", clock + 6))
    history.append(op("drain", "get", None, clock + 50))
    return history


def lanes_of(history):
    return embedded_data(timeline.render(history, check(history), "t"))["lanes"]


def test_lanes_are_grouped_by_role_and_in_numeric_order_within_a_group():
    lanes = lanes_of(a_run())
    assert [lane["label"] for lane in lanes] == [
        "producer 1", "producer 2", "producer 10", "producer 11",
        "consumer 3", "consumer 12", "consumer 20", "consumer 21",
        "client 5",
        "reader 4", "reader 30",
        "unknown 40",
        "drain",
    ]
    assert [lane["process"] for lane in lanes][:4] == [1, 2, 10, 11]


def test_the_role_comes_from_what_the_process_did():
    roles = timeline.process_roles([
        op(1, "put", "a", 0), op(1, "size", 1, 1),
        op(2, "open", None, 0), op(2, "nack", {"item": "a", "id": 1}, 1),
        op(3, "open", None, 0), op(3, "ack", {"item": "a", "id": 1}, 1),
        op(4, "open", None, 0), op(4, "size", 0, 1), killed(4, 2),
        op(5, "open", None, 0), killed(5, 1),
        op(6, "enqueue", "x", 0),
        op("drain", "open", None, 9),
    ])
    assert roles == {1: "producer", 2: "consumer", 3: "consumer", 4: "reader", 5: "unknown",
                     6: "unknown", "drain": "drain"}


def test_process_names_that_are_not_numbers_follow_the_numbers_of_their_group():
    history = [op("w10", "put", "a", 0), op("w9", "put", "b", 1), op("7", "put", "c", 2),
               op(10, "put", "d", 3)]
    assert [lane["label"] for lane in lanes_of(history)] == [
        "producer 7", "producer 10", "producer w10", "producer w9"]


def test_every_operation_is_drawn_in_its_processs_lane():
    history = a_run()
    data = embedded_data(timeline.render(history, check(history), "t"))
    lane_of = {lane["process"]: i for i, lane in enumerate(data["lanes"])}
    for drawn, record in zip(data["ops"], history, strict=True):
        assert drawn[0] == lane_of[record["process"]]
        assert drawn[3] == record["op"]


def test_a_saved_history_gets_the_same_lanes(tmp_path):
    history = a_run()
    write_history(tmp_path / "history.jsonl", history)
    again = read_history(tmp_path / "history.jsonl")
    assert lanes_of(again) == lanes_of(history)


def test_the_page_has_a_legend_for_every_colour_and_mark():
    history = a_run()
    page = timeline.render(history, check(history), "t")
    legend = page.split('<ul class="legend">')[1].split("</ul>")[0]
    colours = embedded_data(page)["colours"]
    assert set(colours) == {key for key, _, _ in timeline.COLOURS}
    for key, colour, meaning in timeline.COLOURS:
        assert colours[key] == colour
        assert f"background:{colour}" in legend and html.escape(meaning) in legend
    assert "first violation" in legend
    assert "killed the process" in legend
    assert "labelled with its role and process id" in page


def test_a_worker_and_its_replacements_share_one_lane():
    history = [dict(op(pid, "put", f"v{pid}", 10 * pid), worker="producer-1")
               for pid in (1, 4, 7)]
    history += [dict(killed(1, 15), worker="producer-1"), dict(killed(4, 45), worker="producer-1")]
    history += [dict(op(2, "get", "v1", 30), worker="consumer-1"),
                op("drain", "get", None, 100)]
    lanes = lanes_of(history)
    assert [lane["label"] for lane in lanes] == [
        "producer-1 (3 processes)", "consumer-1", "drain"]
    data = embedded_data(timeline.render(history, check(history), "t"))
    assert {o[0] for o in data["ops"] if o[3] in ("put", "killed")} == {0}


def test_a_valid_page_has_no_button_to_a_violation_and_a_partial_page_says_so():
    history = a_run()
    valid = timeline.render(history, check(history), "t")
    assert check(history).valid and 'id="focus"' not in valid
    partial = timeline.render(history, check(history), "t", partial="interrupted by SIGINT")
    assert ">VALID (partial: interrupted by SIGINT; the verdict is on the history recorded " \
           "until then)<" in partial
    broken = [op(1, "put", "a", 0), op(2, "get", "never-put", 10)]
    assert 'id="focus"' in timeline.render(broken, check(broken), "t")
