"""The at-least-once checker on hand-written claim/ack histories: one per rule."""

from harness.checkers import check

S = 1_000_000_000
T0 = 5000.0  # the queue clock's seconds at the history's start


def op(process, kind, value, call, ret, type_="ok"):
    returned = None if ret is None else 10 * S + int(ret * S)
    return {"process": process, "op": kind, "value": value, "type": type_,
            "call": 10 * S + int(call * S), "return": returned}


def claim(process, item, attempt, at, lease, call, ret, order=1):
    value = {"item": item, "id": f"{order}.{attempt}", "attempt": attempt,
             "at": T0 + at, "until": T0 + at + lease}
    return op(process, "claim", value, call, ret)


def ack(process, item, attempt, call, ret, type_="ok", order=1, ended=False):
    value = {"item": item, "id": f"{order}.{attempt}"}
    if ended:
        value["ended"] = True
    return op(process, "ack", value, call, ret, type_)


def nack(process, item, attempt, call, ret, order=1):
    return op(process, "nack", {"item": item, "id": f"{order}.{attempt}"}, call, ret)


def delivery(history):
    report = check(history)
    return report, report.checkers["delivery"]


def test_claim_then_ack_of_every_item_is_valid():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3), ack(2, "a", 1, 4, 5),
               op(2, "claim", None, 6, 7)]
    report, _ = delivery(history)
    assert report.valid is True
    assert report.counts["lost"] == 0
    assert report.counts["acked"] == 1
    assert set(report.checkers) == {"delivery", "errors"}


def drained(call):
    return op("drain", "drained", None, call, call + 0.1)


def test_an_item_never_acked_is_lost_once_the_drain_found_nothing_left():
    report, result = delivery([op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
                               drained(20)])
    assert result.valid is False
    assert "a was put (operation 0) and never acknowledged" in result.violations[0].message
    assert report.counts["lost"] == 1


def test_an_item_put_and_never_claimed_is_lost_once_the_drain_found_nothing_left():
    report, result = delivery([op(1, "put", "a", 0, 1), op(1, "put", "b", 1, 2),
                               claim(2, "a", 1, 2, 10, 2, 3), ack(2, "a", 1, 4, 5), drained(20)])
    assert report.counts["lost"] == 1
    assert "b was put" in result.violations[0].message


def test_without_a_drain_an_unacked_item_is_remaining_not_lost():
    report, result = delivery([op(1, "put", "a", 0, 1), op(1, "put", "b", 1, 2),
                               claim(2, "a", 1, 2, 10, 2, 3)])
    assert result.valid is True
    assert (report.counts["lost"], report.counts["remaining"]) == (0, 2)


def test_an_item_put_after_the_drain_found_nothing_is_remaining():
    report, result = delivery([op(1, "put", "a", 0, 1), ack(2, "a", 1, 4, 5),
                               claim(2, "a", 1, 2, 10, 2, 3), drained(6), op(1, "put", "b", 7, 8)])
    assert result.valid is True
    assert (report.counts["lost"], report.counts["remaining"]) == (0, 1)


def test_a_redelivery_before_the_lease_ended_is_two_live_claims():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
               claim(3, "a", 2, 4, 10, 4, 5), ack(3, "a", 2, 6, 7)]
    _, result = delivery(history)
    assert result.valid is False
    message = result.violations[0].message
    assert "a was held by two live claims at once" in message
    assert "took it 8.000000 s before the lease" in message


def test_a_redelivery_after_the_lease_ended_is_valid_and_blamed_on_the_dead_holder():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3),
               op(2, "killed", None, 3.5, 3.5),
               claim(3, "a", 2, 4, 10, 4, 5), ack(3, "a", 2, 6, 7)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_holder_killed"] == 1


def test_a_redelivery_after_a_nack_is_valid_even_within_the_lease():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3), nack(2, "a", 1, 3, 4),
               claim(3, "a", 2, 4.5, 10, 4.5, 5), ack(3, "a", 2, 6, 7)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_nack"] == 1


def test_a_redelivery_after_a_successful_ack_is_a_violation():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3), ack(2, "a", 1, 3, 3.1),
               claim(3, "a", 2, 4, 10, 4, 5), ack(3, "a", 2, 6, 7)]
    _, result = delivery(history)
    assert result.valid is False
    kinds = {v.kind for v in result.violations}
    assert "delivered after ack" in kinds
    assert "acked twice" in kinds


def test_a_late_ack_refused_after_a_redelivery_is_valid():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3),
               claim(3, "a", 2, 4, 10, 4, 5), ack(2, "a", 1, 5, 6, ended=True),
               ack(3, "a", 2, 6, 7)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_lease_ended"] == 1
    assert report.counts["acks_refused"] == 1


def test_an_ack_refused_although_nobody_took_the_item_is_a_violation():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
               ack(2, "a", 1, 4, 5, ended=True)]
    _, result = delivery(history)
    assert "refused ack" in {v.kind for v in result.violations}


def test_an_ack_killed_in_flight_may_have_happened():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
               ack(2, "a", 1, 4, None, type_="info")]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["lost"] == 0


def test_deliveries_nobody_saw_must_be_claims_killed_in_flight():
    unexplained = [op(1, "put", "a", 0, 1), claim(3, "a", 3, 4, 10, 4, 5), ack(3, "a", 3, 6, 7)]
    _, result = delivery(unexplained)
    assert "unaccounted deliveries" in {v.kind for v in result.violations}
    explained = [*unexplained, op(2, "claim", None, 2, None, "info"),
                 op(4, "claim", None, 2.5, None, "info")]
    report, result = delivery(explained)
    assert result.valid is True
    assert report.counts["redelivered_after_killed_during_claim"] == 2


def test_dead_letters_are_not_lost():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3),
               op("drain", "dead", ["a"], 8, 9)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["dead"] == 1


def test_a_claim_of_an_item_never_put_is_unexpected():
    _, result = delivery([claim(2, "zzz", 1, 2, 10, 2, 3), ack(2, "zzz", 1, 4, 5)])
    assert "zzz, which was never put" in result.violations[0].message


def test_a_malformed_claim_value_makes_the_verdict_unknown():
    report = check([op(1, "put", "a", 0, 1), op(2, "claim", {"item": "a"}, 2, 3)])
    assert report.valid is None
    assert "not a claim/ack history" in report.checkers["delivery"].error


def unknown_claim(process, item, at, call, ret, lease=None, order=1):
    """A claim of a queue that numbers no deliveries (and, without ``lease``, has no lease)."""
    value = {"item": item, "id": f"{order}/{process}/{call}", "attempt": None, "at": T0 + at,
             "until": None if lease is None else T0 + at + lease}
    return op(process, "claim", value, call, ret)


def unknown_ack(process, item, call, ret, claimed_at_call, order=1):
    """The ack of the claim ``process`` made at ``claimed_at_call`` (its id names it)."""
    value = {"item": item, "id": f"{order}/{process}/{claimed_at_call}"}
    return op(process, "ack", value, call, ret)


def test_without_attempt_numbers_deliveries_are_numbered_in_the_order_of_their_leases():
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 2, 3, lease=1),
               unknown_claim(3, "a", 4, 4, 5, lease=10),
               unknown_ack(3, "a", 6, 7, claimed_at_call=4)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_lease_ended"] == 1


def test_without_attempt_numbers_a_redelivery_within_the_lease_is_two_live_claims():
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 2, 3, lease=10),
               unknown_claim(3, "a", 4, 4, 5, lease=10),
               unknown_ack(3, "a", 6, 7, claimed_at_call=4)]
    _, result = delivery(history)
    assert [v.kind for v in result.violations] == ["two live claims"]


def test_without_a_lease_a_redelivery_after_the_holder_died_is_valid():
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 2, 3),
               op(2, "killed", None, 3.5, 3.5),
               unknown_claim(3, "a", 4, 4, 5), unknown_ack(3, "a", 6, 7, claimed_at_call=4)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_holder_killed"] == 1


def test_without_a_lease_a_redelivery_while_the_holder_lives_is_two_live_claims():
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 2, 3),
               unknown_claim(3, "a", 4, 4, 5), unknown_ack(3, "a", 6, 7, claimed_at_call=4),
               op(2, "killed", None, 8, 8)]
    _, result = delivery(history)
    assert result.valid is False
    assert "took it while claim #1" in result.violations[0].message
    assert "the queue has no lease" in result.violations[0].message


# -- found by the agreement with the exhaustive search ---------------------------------------


def test_a_refused_ack_is_explained_by_a_claim_killed_in_flight_that_may_have_redelivered():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 1, 3, 0, 1.5),
               op(3, "claim", None, 2, None, type_="info"), op(3, "killed", None, 3, 3),
               ack(2, "a", 1, 2, 3.5, ended=True)]
    _, result = delivery(history)
    assert result.valid is True


def test_a_nack_refused_although_nobody_claimed_the_item_again_is_a_violation():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
               op(2, "nack", {"item": "a", "id": "1.1", "ended": True}, 4, 5)]
    _, result = delivery(history)
    assert [v.kind for v in result.violations] == ["refused ack"]
    assert "nack #2 of delivery 1.1 of a was refused as ended" in result.violations[0].message


def test_a_nack_accepted_after_the_item_was_delivered_again_is_a_stale_answer():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3),
               claim(3, "a", 2, 4, 10, 4, 5), nack(2, "a", 1, 6, 7)]
    _, result = delivery(history)
    assert [v.kind for v in result.violations] == ["stale answer"]
    assert "had been delivered again by claim #2" in result.violations[0].message


def test_an_ack_accepted_for_a_delivery_no_claim_returned_is_a_violation():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 10, 2, 3),
               op(2, "ack", {"item": "a", "id": "1.7"}, 4, 5)]
    _, result = delivery(history)
    assert "unknown delivery" in {v.kind for v in result.violations}


def test_two_claims_that_return_one_delivery_id_are_the_same_delivery_twice():
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 2, 3, lease=1),
               op(3, "claim", {"item": "a", "id": "1/2/2", "attempt": None, "at": T0 + 4,
                               "until": T0 + 5}, 4, 5)]
    _, result = delivery(history)
    assert [v.kind for v in result.violations] == ["same delivery twice"]


def test_without_attempt_numbers_overlapping_claims_are_ordered_by_their_lease_not_their_return():
    # The first claim took the item at 2 and returned last; the second took it at 4, once the
    # first lease was over, and returned first.
    history = [op(1, "put", "a", 0, 1), unknown_claim(2, "a", 2, 1.5, 6, lease=1),
               unknown_claim(3, "a", 4, 3.5, 5, lease=10),
               unknown_ack(3, "a", 7, 8, claimed_at_call=3.5)]
    report, result = delivery(history)
    assert result.valid is True
    assert report.counts["redelivered_after_lease_ended"] == 1


def test_an_answer_refused_before_anyone_claimed_the_item_again_is_a_violation():
    history = [op(1, "put", "a", 0, 1), claim(2, "a", 1, 2, 1, 2, 3),
               ack(2, "a", 1, 4, 5, ended=True), claim(3, "a", 2, 6, 10, 6, 7)]
    _, result = delivery(history)
    assert [v.kind for v in result.violations] == ["refused ack"]
