"""timeline.html: one lane per process, grouped by role, operations as bars, violations in red.

One self-contained file (no network, no library): the data is embedded as JSON and drawn on a
canvas. Drag to pan, wheel to zoom, hover for an operation's details. The legend on the page
says what each colour and mark means.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..checkers import CheckReport
from ..history.format import DRAIN_PROCESS, WORKER

#: Above this many operations, only the violating ones and an even sample of the rest are drawn.
MAX_DRAWN = 200_000

#: The roles a process can have, in the order of their groups of lanes on the page.
ROLES = ("producer", "consumer", "client", "reader", "unknown", "drain")
#: Operations that take items from the queue: a process doing any of them is a consumer.
TAKING = frozenset({"get", "claim", "ack", "nack"})
#: Operations that say nothing about a process's role.
NEUTRAL = frozenset({"open", "killed"})

#: What each colour of a bar means, in the legend's order: (key, colour, meaning).
COLOURS = (
    ("put", "#4c8bf5", "put"),
    ("take", "#34a853", "get or claim"),
    ("ack", "#137333", "ack"),
    ("nack", "#a0522d", "nack"),
    ("other", "#aaaaaa", "other call (size, open)"),
    ("info", "#f4b400", "crashed: the process died during the call, which may or may not have "
                        "happened (the bar runs until the harness saw it die)"),
    ("fail", "#9334e6", "raised an error"),
    ("violating", "#d93025", "part of a violation"),
)


def process_roles(history: list[dict[str, Any]]) -> dict[Any, str]:
    """The role of every process of ``history``, from what it did (the records carry no role).

    ``drain`` is the harness's final drain; a process that put is a ``producer``, or a
    ``client`` if it also took items; one that got, claimed, acked or nacked is a
    ``consumer``; one that only called ``size()`` is a ``reader``; one that did nothing else
    than open the queue and be killed, or did only operations this page does not know, is
    ``unknown``. So a saved history gets the same page as the run that wrote it.
    """
    done: dict[Any, set[str]] = defaultdict(set)
    for op in history:
        done[op["process"]].add(op["op"])
    roles = {}
    for process, ops in done.items():
        if process == DRAIN_PROCESS:
            roles[process] = "drain"
        elif "put" in ops:
            roles[process] = "client" if ops & TAKING else "producer"
        elif ops & TAKING:
            roles[process] = "consumer"
        elif ops - NEUTRAL == {"size"}:
            roles[process] = "reader"
        else:
            roles[process] = "unknown"
    return roles


def lanes(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One lane per worker: the processes that filled one worker's place in turn (a worker
    and its replacements after kills: records that name the same ``worker``) share it; a
    process that names none has a lane of its own. Grouped by role in the order of ``ROLES``,
    by number within a group (then by name, for names that are not numbers), labelled with
    the role, the worker and how many processes it had."""
    roles = process_roles(history)
    members: dict[Any, list[Any]] = {}
    for op in history:
        key = op.get(WORKER, op["process"])
        if op["process"] not in members.setdefault(key, []):
            members[key].append(op["process"])
    lane_role = {key: min((roles[p] for p in processes), key=ROLES.index)
                 for key, processes in members.items()}
    ordered = sorted(members, key=lambda k: (ROLES.index(lane_role[k]), *_number_first(k)))
    return [{"process": key, "processes": members[key], "role": lane_role[key],
             "label": _lane_label(key, lane_role[key], len(members[key]))} for key in ordered]


def _lane_label(key: Any, role: str, processes: int) -> str:
    if role == "drain":
        return "drain"
    name = str(key) if str(key).startswith(role) else f"{role} {key}"
    return name if processes == 1 else f"{name} ({processes} processes)"


def render(history: list[dict[str, Any]], report: CheckReport, title: str,
           partial: str | None = None) -> str:
    """The timeline page for ``history`` and its verdict (on the history recorded until a run
    ended early, for the reason ``partial``, if it did)."""
    start = report.start_ns
    flagged = {i for v in report.violations for i in v.ops}
    focus = report.first_violation.ops if report.first_violation else []
    lane_list = lanes(history)
    lane_of = {process: i for i, lane in enumerate(lane_list) for process in lane["processes"]}
    step = max(1, len(history) // MAX_DRAWN)
    end = max((op["return"] or op["call"] for op in history), default=start)
    ops = []
    for index, op in enumerate(history):
        if index % step and index not in flagged:
            continue
        ret = op["return"]
        ops.append([
            lane_of[op["process"]], (op["call"] - start) / 1e3,
            ((ret if ret is not None else end) - start) / 1e3,
            op["op"], op["type"], _label(op), 2 if index in focus else int(index in flagged),
        ])
    first = report.first_violation
    payload = {"lanes": lane_list, "ops": ops, "end": (end - start) / 1e3,
               "colours": {key: colour for key, colour, _ in COLOURS}}
    return _PAGE.format(
        title=html.escape(title),
        verdict={True: "VALID", False: "INVALID", None: "UNKNOWN"}[report.valid] + (
            "" if partial is None else html.escape(f" (partial: {partial}; the verdict is on "
                                                   "the history recorded until then)")),
        verdict_class={True: "ok", False: "bad", None: "unknown"}[report.valid],
        violation=html.escape(first.message) if first else "no violation found",
        counts=html.escape(", ".join(f"{k} {v}" for k, v in report.counts.items())),
        sampled=f" (every {step}th operation drawn, and every violating one)" if step > 1 else "",
        legend=_legend(),
        focus='<button id="focus">zoom to the first violation</button> ' if first else "",
        data=json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"),
    )


def write(path: Path, history: list[dict[str, Any]], report: CheckReport, title: str,
          partial: str | None = None) -> None:
    """Write the timeline page to ``path``."""
    path.write_text(render(history, report, title, partial), encoding="utf-8")


def _number_first(process: Any) -> tuple[int, int, str]:
    """Sorts numeric process ids (ints or digit strings) by value, before any other name."""
    text = str(process)
    if isinstance(process, int) or text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


def _legend() -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(meaning)}</li>'
        for _, colour, meaning in COLOURS)
    return (
        f'<ul class="legend">{items}'
        '<li><span class="swatch outlined"></span>black outline: the operations of the first '
        'violation</li>'
        '<li><span class="swatch tick"></span>black tick: the harness killed the process '
        '(SIGKILL)</li></ul>'
        "<p><small>One lane per process, labelled with its role and process id, grouped: "
        "producers, consumers, clients (put and took), readers, unknown, then the final drain. "
        "The role is what the process did: it put (producer); it got, claimed, acked or nacked "
        "(consumer); it only called size() (reader); it only opened the queue or was killed "
        "(unknown). A bar runs from the call to its return. A replacement started after a kill "
        "has a lane of its own.</small></p>")


def _label(op: dict[str, Any]) -> str:
    value = op["value"]
    shown = "" if value is None and op["op"] != "get" else json.dumps(value)
    if op["op"] == "get" and value is None:
        shown = "empty" if op["type"] == "ok" else "?"
    text = f"{op['op']}({shown})" if op["op"] == "put" else f"{op['op']}→{shown}"
    if op["op"] not in ("put", "get"):
        text = f"{op['op']}→{shown}"
    if op.get("error"):
        text += f" raised {op['error']}"
    return text[:200]


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 16px; color: #222; }}
.ok {{ color: #1a7f37; }} .bad {{ color: #cf222e; }} .unknown {{ color: #9a6700; }}
#wrap {{ position: relative; border: 1px solid #ccc; }}
canvas {{ display: block; width: 100%; cursor: grab; }}
#tip {{ position: absolute; pointer-events: none; background: #fff; border: 1px solid #888;
        padding: 4px 6px; font: 12px monospace; display: none; white-space: pre; }}
.legend {{ list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap;
           gap: 4px 18px; font-size: 13px; }}
.swatch {{ display: inline-block; width: 14px; height: 12px; margin-right: 5px;
           vertical-align: middle; }}
.swatch.outlined {{ background: #d93025; outline: 2px solid #000; }}
.swatch.tick {{ width: 2px; background: #000; margin: 0 11px 0 6px; }}
</style></head><body>
<h1>{title}: <span class="{verdict_class}">{verdict}</span></h1>
<p><b>First violation:</b> {violation}</p>
<p><small>{counts}{sampled}</small></p>
<h2>Legend</h2>
{legend}
<p>{focus}<button id="all">whole run</button>
&nbsp; drag to pan, wheel to zoom, hover for details</p>
<div id="wrap"><canvas id="c"></canvas><div id="tip"></div></div>
<script>
const D = {data};
const LANE = 18, TOP = 24, RIGHT = 8;
const cv = document.getElementById("c"), cx = cv.getContext("2d"), tip = document.getElementById("tip");
cx.font = "11px monospace";
// The label column is as wide as the longest label, so that every label shows in full.
const LEFT = Math.max(60, ...D.lanes.map(l => cx.measureText(l.label).width)) + 12;
let t0 = 0, t1 = Math.max(D.end, 1);
function height() {{ return TOP + D.lanes.length * LANE + 8; }}
function resize() {{
  cv.width = cv.clientWidth * devicePixelRatio;
  cv.height = height() * devicePixelRatio;
  cv.style.height = height() + "px";
  cx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0); draw();
}}
function x(t) {{ return LEFT + (t - t0) / (t1 - t0) * (cv.clientWidth - LEFT - RIGHT); }}
function colour(o) {{
  const c = D.colours;
  if (o[6]) return c.violating;
  if (o[4] === "info") return c.info;
  if (o[4] === "fail") return c.fail;
  if (o[3] === "put") return c.put;
  if (o[3] === "get" || o[3] === "claim") return c.take;
  return c[o[3]] || c.other;
}}
function draw() {{
  const width = cv.clientWidth;
  cx.clearRect(0, 0, width, height()); cx.font = "11px monospace";
  // Bars only inside the plot: a bar that starts before the view must not cover the labels.
  cx.save(); cx.beginPath(); cx.rect(LEFT, 0, width - LEFT, height()); cx.clip();
  for (const pass of [0, 1]) for (const o of D.ops) {{
    if ((o[6] > 0) !== (pass === 1) || o[2] < t0 || o[1] > t1) continue;
    const y = TOP + o[0] * LANE;
    if (o[3] === "killed") {{ cx.fillStyle = "#000"; cx.fillRect(x(o[1]) - 1, y, 2, LANE); continue; }}
    cx.fillStyle = colour(o);
    cx.fillRect(x(o[1]), y + 3, Math.max(1.5, x(o[2]) - x(o[1])), LANE - 6);
    if (o[6] === 2) {{ cx.strokeStyle = "#000"; cx.strokeRect(x(o[1]) - 1, y + 2,
        Math.max(3.5, x(o[2]) - x(o[1]) + 2), LANE - 4); }}
  }}
  cx.restore();
  cx.fillStyle = "#555";
  let free = LEFT;  // where the next time label may start: labels never overlap nor spill
  for (const [t, text] of ticks()) {{
    const w = cx.measureText(text).width, at = Math.max(x(t) - w / 2, free);
    if (at + w > width - RIGHT) break;
    cx.fillText(text, at, 12); free = at + w + 8;
  }}
  // The labels, and a line between two groups of lanes, drawn last: visible at every zoom.
  cx.fillStyle = "#fff"; cx.fillRect(0, TOP, LEFT - 2, D.lanes.length * LANE);
  D.lanes.forEach((lane, i) => {{
    if (i > 0 && lane.role !== D.lanes[i - 1].role) {{
      cx.strokeStyle = "#999"; cx.beginPath(); cx.moveTo(0, TOP + i * LANE);
      cx.lineTo(width, TOP + i * LANE); cx.stroke();
    }}
    cx.fillStyle = "#333"; cx.fillText(lane.label, 4, TOP + i * LANE + 12);
  }});
}}
function ticks() {{
  // Round instants 1, 2 or 5 times a power of ten apart, three to eight in view, with as
  // many decimals as the step needs.
  const raw = (t1 - t0) / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw * 0.999);
  const digits = Math.max(0, -Math.floor(Math.log10(step / 1e6) + 1e-9));
  const first = Math.ceil(t0 / step), found = [];
  for (let k = first; k * step <= t1; k++) found.push([k * step, (k * step / 1e6).toFixed(digits) + " s"]);
  return found;
}}
function focusFirst() {{
  const f = D.ops.filter(o => o[6] === 2); if (!f.length) return;
  const a = Math.min(...f.map(o => o[1])), b = Math.max(...f.map(o => o[2]));
  const pad = Math.max((b - a) * 0.5, 50); t0 = Math.max(0, a - pad); t1 = b + pad; draw();
}}
if (document.getElementById("focus")) document.getElementById("focus").onclick = focusFirst;
document.getElementById("all").onclick = () => {{ t0 = 0; t1 = Math.max(D.end, 1); draw(); }};
cv.addEventListener("wheel", e => {{
  e.preventDefault(); const r = cv.getBoundingClientRect();
  const at = t0 + (e.clientX - r.left - LEFT) / (cv.clientWidth - LEFT - RIGHT) * (t1 - t0);
  const k = e.deltaY > 0 ? 1.25 : 0.8; t0 = at - (at - t0) * k; t1 = at + (t1 - at) * k; draw();
}});
let drag = null;
cv.addEventListener("mousedown", e => drag = e.clientX);
window.addEventListener("mouseup", () => drag = null);
cv.addEventListener("mousemove", e => {{
  const r = cv.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
  if (drag !== null) {{
    const dt = (e.clientX - drag) / (cv.clientWidth - LEFT - RIGHT) * (t1 - t0);
    t0 -= dt; t1 -= dt; drag = e.clientX; draw(); return;
  }}
  const lane = Math.floor((py - TOP) / LANE);
  const t = t0 + (px - LEFT) / (cv.clientWidth - LEFT - RIGHT) * (t1 - t0);
  const slack = (t1 - t0) / cv.clientWidth * 3;
  const hit = px >= LEFT && D.ops.find(o => o[0] === lane && o[1] - slack <= t && t <= o[2] + slack);
  if (!hit) {{ tip.style.display = "none"; return; }}
  tip.textContent = `${{D.lanes[hit[0]].label}}: ${{hit[5]}} [${{hit[4]}}]\\ncalled ${{(hit[1] / 1e6).toFixed(6)}} s, ` +
    `returned ${{hit[4] === "info" ? "?" : (hit[2] / 1e6).toFixed(6) + " s"}}`;
  tip.style.left = (px + 12) + "px"; tip.style.top = (py + 12) + "px"; tip.style.display = "block";
}});
window.addEventListener("resize", resize); resize(); if (D.ops.some(o => o[6] === 2)) focusFirst();
</script></body></html>
"""
