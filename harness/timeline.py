"""timeline.html: one lane per process, operations as bars, the violating ones in red.

One self-contained file (no network, no library): the data is embedded as JSON and drawn on a
canvas. Drag to pan, wheel to zoom, hover for an operation's details.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .checkers import CheckReport

#: Above this many operations, only the violating ones and an even sample of the rest are drawn.
MAX_DRAWN = 200_000


def render(history: list[dict[str, Any]], report: CheckReport, title: str) -> str:
    """The timeline page for ``history`` and its verdict."""
    start = report.start_ns
    flagged = {i for v in report.violations for i in v.ops}
    focus = report.first_violation.ops if report.first_violation else []
    lanes = sorted({op["process"] for op in history}, key=lambda p: (isinstance(p, str), str(p)))
    lane_of = {p: i for i, p in enumerate(lanes)}
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
    payload = {"lanes": [str(p) for p in lanes], "ops": ops, "end": (end - start) / 1e3}
    return _PAGE.format(
        title=html.escape(title),
        verdict={True: "VALID", False: "INVALID", None: "UNKNOWN"}[report.valid],
        verdict_class={True: "ok", False: "bad", None: "unknown"}[report.valid],
        violation=html.escape(first.message) if first else "no violation found",
        counts=html.escape(", ".join(f"{k} {v}" for k, v in report.counts.items())),
        sampled=f" (every {step}th operation drawn, and every violating one)" if step > 1 else "",
        data=json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"),
    )


def write(path: Path, history: list[dict[str, Any]], report: CheckReport, title: str) -> None:
    """Write the timeline page to ``path``."""
    path.write_text(render(history, report, title), encoding="utf-8")


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
.legend span {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
                vertical-align: middle; }}
</style></head><body>
<h1>{title}: <span class="{verdict_class}">{verdict}</span></h1>
<p><b>First violation:</b> {violation}</p>
<p><small>{counts}{sampled}</small></p>
<p class="legend">put<span style="background:#4c8bf5"></span> get<span style="background:#34a853">
</span> other<span style="background:#aaa"></span> crashed (info)<span style="background:#f4b400">
</span> raised (fail)<span style="background:#9334e6"></span> violating<span style="background:#d93025">
</span> &nbsp; <button id="focus">zoom to the first violation</button>
<button id="all">whole run</button> &nbsp; drag to pan, wheel to zoom, hover for details</p>
<div id="wrap"><canvas id="c"></canvas><div id="tip"></div></div>
<script>
const D = {data};
const LANE = 18, LEFT = 90, TOP = 24;
const cv = document.getElementById("c"), cx = cv.getContext("2d"), tip = document.getElementById("tip");
let t0 = 0, t1 = Math.max(D.end, 1);
function resize() {{
  cv.width = cv.clientWidth * devicePixelRatio;
  cv.height = (TOP + D.lanes.length * LANE + 8) * devicePixelRatio;
  cv.style.height = (TOP + D.lanes.length * LANE + 8) + "px";
  cx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0); draw();
}}
function x(t) {{ return LEFT + (t - t0) / (t1 - t0) * (cv.clientWidth - LEFT - 8); }}
function colour(o) {{
  if (o[6]) return "#d93025";
  if (o[4] === "info") return "#f4b400";
  if (o[4] === "fail") return "#9334e6";
  return o[3] === "put" ? "#4c8bf5" : o[3] === "get" ? "#34a853" : "#aaa";
}}
function draw() {{
  cx.clearRect(0, 0, cv.width, cv.height); cx.font = "11px monospace"; cx.fillStyle = "#555";
  D.lanes.forEach((name, i) => cx.fillText(name.slice(0, 11), 4, TOP + i * LANE + 12));
  for (let k = 0; k <= 5; k++) {{
    const t = t0 + (t1 - t0) * k / 5; cx.fillText((t / 1e6).toFixed(6) + " s", x(t) - 20, 12);
  }}
  for (const pass of [0, 1]) for (const o of D.ops) {{
    if ((o[6] > 0) !== (pass === 1) || o[2] < t0 || o[1] > t1) continue;
    cx.fillStyle = colour(o);
    cx.fillRect(x(o[1]), TOP + o[0] * LANE + 3, Math.max(1.5, x(o[2]) - x(o[1])), LANE - 6);
    if (o[6] === 2) {{ cx.strokeStyle = "#000"; cx.strokeRect(x(o[1]) - 1, TOP + o[0] * LANE + 2,
        Math.max(3.5, x(o[2]) - x(o[1]) + 2), LANE - 4); }}
  }}
}}
function focusFirst() {{
  const f = D.ops.filter(o => o[6] === 2); if (!f.length) return;
  const a = Math.min(...f.map(o => o[1])), b = Math.max(...f.map(o => o[2]));
  const pad = Math.max((b - a) * 0.5, 50); t0 = Math.max(0, a - pad); t1 = b + pad; draw();
}}
document.getElementById("focus").onclick = focusFirst;
document.getElementById("all").onclick = () => {{ t0 = 0; t1 = Math.max(D.end, 1); draw(); }};
cv.addEventListener("wheel", e => {{
  e.preventDefault(); const r = cv.getBoundingClientRect();
  const at = t0 + (e.clientX - r.left - LEFT) / (cv.clientWidth - LEFT - 8) * (t1 - t0);
  const k = e.deltaY > 0 ? 1.25 : 0.8; t0 = at - (at - t0) * k; t1 = at + (t1 - at) * k; draw();
}});
let drag = null;
cv.addEventListener("mousedown", e => drag = e.clientX);
window.addEventListener("mouseup", () => drag = null);
cv.addEventListener("mousemove", e => {{
  const r = cv.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
  if (drag !== null) {{
    const dt = (e.clientX - drag) / (cv.clientWidth - LEFT - 8) * (t1 - t0);
    t0 -= dt; t1 -= dt; drag = e.clientX; draw(); return;
  }}
  const lane = Math.floor((py - TOP) / LANE);
  const t = t0 + (px - LEFT) / (cv.clientWidth - LEFT - 8) * (t1 - t0);
  const slack = (t1 - t0) / cv.clientWidth * 3;
  const hit = D.ops.find(o => o[0] === lane && o[1] - slack <= t && t <= o[2] + slack);
  if (!hit) {{ tip.style.display = "none"; return; }}
  tip.textContent = `${{D.lanes[hit[0]]}}: ${{hit[5]}} [${{hit[4]}}]\\ncalled ${{(hit[1] / 1e6).toFixed(6)}} s, ` +
    `returned ${{hit[4] === "info" ? "?" : (hit[2] / 1e6).toFixed(6) + " s"}}`;
  tip.style.left = (px + 12) + "px"; tip.style.top = (py + 12) + "px"; tip.style.display = "block";
}});
window.addEventListener("resize", resize); resize(); if (D.ops.some(o => o[6] === 2)) focusFirst();
</script></body></html>
"""
