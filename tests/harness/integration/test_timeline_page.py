"""The timeline page's own script, run by Node.js on a recording canvas: what a reader sees."""

import itertools
import json
import math
import re
import shutil
import subprocess

import pytest

from harness.checkers import check
from harness.reporting import timeline

NODE = shutil.which("node") or shutil.which("nodejs")

#: A stand-in for the browser: a canvas that records what is painted where, within its clip.
FAKE_BROWSER = r"""
const frames = []; let frame = [];
function clipped(box, clip) {
  if (!clip) return box;
  const x0 = Math.max(box[0], clip[0]), y0 = Math.max(box[1], clip[1]);
  const x1 = Math.min(box[0] + box[2], clip[0] + clip[2]);
  const y1 = Math.min(box[1] + box[3], clip[1] + clip[3]);
  return x1 > x0 && y1 > y0 ? [x0, y0, x1 - x0, y1 - y0] : null;
}
let clip = null, path = null; const stack = [];
const ctx = {
  font: "", fillStyle: "", strokeStyle: "",
  measureText: text => ({width: 7 * text.length}),
  setTransform() {}, clearRect() { frame = []; frames.push(frame); },
  save() { stack.push(clip); }, restore() { clip = stack.pop(); },
  beginPath() { path = null; }, rect(x, y, w, h) { path = [x, y, w, h]; },
  clip() { clip = clipped(path, clip); }, moveTo() {}, lineTo() {}, stroke() {},
  fillRect(x, y, w, h) {
    const box = clipped([x, y, w, h], clip);
    if (box) frame.push({kind: "rect", box, fill: this.fillStyle});
  },
  strokeRect(x, y, w, h) {
    const box = clipped([x, y, w, h], clip);
    if (box) frame.push({kind: "rect", box, fill: this.strokeStyle});
  },
  fillText(text, x, y) {
    const box = clipped([x, y - 11, 7 * text.length, 14], clip);
    frame.push({kind: "text", text, whole: !!box && box[2] === 7 * text.length, box});
  },
};
const listeners = {};
const canvas = {
  clientWidth: 1000, width: 0, height: 0, style: {}, getContext: () => ctx,
  addEventListener: (name, f) => { listeners[name] = f; },
  getBoundingClientRect: () => ({left: 0, top: 0}),
};
const elements = {c: canvas, tip: {style: {}}, focus: {}, all: {}};
const document = {getElementById: id => elements[id]};
const window = {addEventListener() {}};
const devicePixelRatio = 1;
"""

DRIVE = r"""
for (let i = 0; i < 40; i++) listeners.wheel({deltaY: -1, clientX: 600, preventDefault() {}});
listeners.mousedown({clientX: 600});
listeners.mousemove({clientX: 100, clientY: 50});
console.log(JSON.stringify({frames, left: LEFT}));
"""


def page_script(page):
    return re.search(r"<script>(.*)</script>", page, re.S).group(1)


def overlaps(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's script")
def test_every_lane_label_stays_whole_and_uncovered_at_every_zoom(tmp_path):
    # Every process has a call that spans nearly the whole run: zoomed in anywhere, a bar
    # starts left of the view in every lane.
    history = []
    for process in [*range(1, 13), "drain"]:
        name = "put" if process in range(1, 7) else "get"
        history.append({"process": process, "op": name, "value": f"v{process}",
                        "type": "ok", "call": 1_000 + (process if process != "drain" else 0),
                        "return": 10_000_000_000})
    page = timeline.render(history, check(history), "zoom")
    labels = [lane["label"] for lane in timeline.lanes(history)]
    script = tmp_path / "page.js"
    script.write_text(FAKE_BROWSER + page_script(page) + DRIVE)
    done = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    frames = seen["frames"]
    assert len(frames) >= 42  # the first drawing, each zoom step and the pan
    for frame in frames:
        texts = [(i, p) for i, p in enumerate(frame) if p["kind"] == "text"]
        for label in labels:
            [(index, painted)] = [(i, p) for i, p in texts if p["text"] == label]
            assert painted["whole"], f"label {label!r} cut"
            for later in frame[index + 1:]:
                if later["kind"] == "rect":
                    assert not overlaps(later["box"], painted["box"]), f"{label!r} covered"
        bars = [p for p in frame if p["kind"] == "rect" and p["box"][0] >= seen["left"]]
        assert len(bars) >= len(labels)  # the bars are still drawn, in the plot


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the page's script")
def test_the_time_labels_are_round_whole_and_apart_at_every_zoom(tmp_path):
    history = [{"process": p, "op": "put", "value": f"v{p}", "type": "ok",
                "call": 1_000 + 13_370_000 * p, "return": 2_000 + 13_370_000 * p}
               for p in range(1, 60)]
    page = timeline.render(history, check(history), "ticks")
    script = tmp_path / "page.js"
    script.write_text(FAKE_BROWSER + page_script(page) + DRIVE)
    done = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for frame in json.loads(done.stdout)["frames"]:
        ticks = [p for p in frame if p["kind"] == "text" and p["text"].endswith(" s")]
        assert len(ticks) >= 3
        assert all(t["whole"] and t["box"][0] + t["box"][2] <= 1000 for t in ticks)
        assert all(a["box"][0] + a["box"][2] < b["box"][0] for a, b in itertools.pairwise(ticks))
        values = [float(t["text"][:-2]) for t in ticks]
        steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
        assert len(steps) == 1, f"uneven steps {values}"
        (step,) = steps
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in (1.0, 2.0, 5.0), values
        decimals = {len(t["text"][:-2].partition(".")[2]) for t in ticks}
        assert len(decimals) == 1 and decimals.pop() <= max(0, -math.floor(math.log10(step)))
