"""The benchmark report shows each issue 14 target as met or missed, with the figure."""

from benchmarks.report import issue14_markdown, issue14_targets


def rows():
    return [
        {"group": "put-to-get latency", "backend": "filequeue-journal", "family": "latency",
         "items": 2000, "items_per_second": 400.0, "p50_ms": 0.2, "p99_ms": 12.5,
         "max_ms": 20.0, "lost": 0, "duplicated": 0},
        {"group": "idle blocked consumers", "backend": "8 idle consumers", "family": "idle",
         "core_share": 0.004},
        {"group": "batches: put_many + get_many", "backend": "filequeue-journal, batch 100",
         "family": "batch", "batch": 100, "items": 100_000, "items_per_second": 300_000.0},
        {"group": "pairs at backlog 0", "backend": "filequeue-journal", "family": "ours",
         "items": 2000, "items_per_second": 40_000.0},
        {"group": "raw limits", "backend": "append+fsync 200 B", "family": "raw",
         "items": 500, "items_per_second": 5000.0},
        {"group": "durable puts by producers", "family": "group-commit", "producers": 8,
         "backend": "filequeue-journal-fsync, 8 producers", "items": 4000,
         "items_per_second": 10_000.0, "puts_per_fsync": 5.75},
        {"group": "durable puts by producers", "family": "group-commit", "producers": 1,
         "backend": "filequeue-journal-fsync, 1 producers", "items": 4000,
         "items_per_second": 4600.0},
    ]


def test_each_target_is_met_or_missed_with_its_figure():
    verdicts = {name: (shown, met) for name, shown, _, met in issue14_targets(rows())}
    assert verdicts["put-to-get latency p50, 1 producer, 4 blocked consumers"] == (
        "0.200 ms", True)
    assert verdicts["put-to-get latency p99"] == ("12.500 ms", False)
    assert verdicts["CPU of 8 idle blocked consumers, share of one core"] == ("0.400 %", True)
    assert verdicts["put_many + get_many, batches of 100, items/s"] == ("300,000/s", True)
    assert verdicts["batches of 100 vs single-operation pairs at backlog 0"] == ("7.50x", True)
    assert verdicts["durable puts, 8 producers, vs raw append+fsync"] == ("2.00x", False)
    assert verdicts["durable puts, 1 producer, vs raw append+fsync"] == ("0.92x", True)
    assert verdicts["monitor report after 100 new results"] == ("not run", None)


def test_the_section_marks_missed_targets_and_lists_the_latencies():
    page = issue14_markdown(rows())
    assert "| put-to-get latency p99 | 12.500 ms | <= 10 ms | **missed** |" in page
    assert "| filequeue-journal | 0.200 ms | 12.500 ms | 20.000 ms | 0 | 0 |" in page
    assert "8 producers 10,000/s (5.8 puts per fsync)" in page
    assert "1 producers 4,600/s;" in page or page.rstrip().endswith("1 producers 4,600/s")
