"""The stress run on Kubernetes that the kind test and its stand-in share."""

from harness.checkers import check
from harness.containers.run import run_in_containers
from harness.stress.config import StressConfig


def assert_valid_stress_on_kubernetes(placement, platform, delivery, kill_every_ms, min_kills):
    """Two producer and two consumer containers with kills, on ``platform``: VALID, killed and
    restarted at least ``min_kills`` times, a history from every container."""
    config = StressConfig(producers=2, consumers=2, items=600, rate=20.0, block=0.1,
                          kill_every_ms=kill_every_ms, delivery=delivery, seed=13,
                          timeout=600)
    run = run_in_containers(config, placement, platform)
    result = check(run.history)
    assert run.failure is None, run.failure
    assert result.valid, result.first_violation
    assert run.kills >= min_kills and run.placement["restarts"] >= 1
    names = {op["process"].rsplit(".", 1)[0] for op in run.history if op["process"] != "drain"}
    assert names == {"producer-1", "producer-2", "consumer-1", "consumer-2", "reader-1"}
    assert any(op["process"] == "drain" and op["op"] == "drained" for op in run.history)
