"""The peers' adapters (``harness.backends.peers``): each installed one keeps the backend
protocol in one process, and goes through a short multi-process stress that the checkers can
judge; a missing library is a one-line reason, not an import error."""

import pytest

from harness.backends.peers import PEERS, Peer
from harness.backends.redis_server import missing_reason, redis_for
from harness.backends.registry import BUILT_IN, BackendSpec, resolve
from harness.checkers import check
from harness.cli import main
from harness.errors import BackendUnavailable
from harness.stress.config import StressConfig
from harness.stress.run import run_stress

AT_LEAST_ONCE_PEERS = [name for name in PEERS if name in (
    "persist-queue-sqlite-ack", "litequeue", "redis-stream")]


@pytest.fixture(scope="module")
def redis_url():
    """A redis-server of the harness's own for the module, or None when there is none."""
    if missing_reason() is not None:
        yield None
        return
    with redis_for("auto") as url:
        yield url


@pytest.fixture
def peer(request, redis_url):
    """The peer named by the test's parameter, skipped with its one-line reason if missing."""
    name = request.param
    reason = PEERS[name].missing()
    if reason is None and PEERS[name].needs_redis and redis_url is None:
        reason = missing_reason()
    if reason:
        pytest.skip(f"{name}: {reason}")
    return resolve(name)


@pytest.mark.parametrize("peer", list(PEERS), indirect=True)
def test_each_peer_keeps_the_protocol_in_one_process(peer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "queue").mkdir()
    other = tmp_path.parent / f"{tmp_path.name}-other"
    other.mkdir()
    elsewhere = peer.open(other)  # as the harness probes a backend before a run
    elsewhere.put("elsewhere")
    queue = peer.open(tmp_path / "queue")
    try:
        for item in ("w0:0", "w0:1", "w0:2"):
            queue.put(item)
        assert queue.size() == 3
        # the order is the library's (kombu's filesystem:// is not FIFO within a millisecond);
        # the stress's fifo checker judges it
        assert sorted(queue.get() for _ in range(3)) == ["w0:0", "w0:1", "w0:2"]
        assert queue.get() is None
        assert queue.size() == 0
        assert elsewhere.get() == "elsewhere"
    finally:
        for opened in (queue, elsewhere):
            close = getattr(opened, "close", None)
            if close:
                close()
    assert [path.name for path in tmp_path.iterdir()] == ["queue"]  # nothing outside its folder


@pytest.mark.parametrize("peer", AT_LEAST_ONCE_PEERS, indirect=True)
def test_each_claiming_peer_claims_acks_and_gives_back(peer, tmp_path):
    queue = peer.open(tmp_path)
    queue.put("w0:0")
    first = queue.claim(5.0)
    assert first.item == "w0:0"
    assert first.attempt in (1, None)
    assert queue.claim(5.0) is None  # held: nobody else gets it
    queue.nack(first, 0.0)
    again = queue.claim(5.0)
    assert again.item == "w0:0"
    assert again.id != first.id
    queue.ack(again)
    assert queue.claim(5.0) is None
    assert queue.size() == 0


@pytest.mark.parametrize("peer", list(PEERS), indirect=True)
def test_each_peer_goes_through_a_short_stress_the_checkers_can_judge(peer, tmp_path):
    config = StressConfig(producers=2, consumers=2, items=60, backend=peer.name, timeout=60)
    run = run_stress(config, tmp_path)
    report = check(run.history)
    assert run.failure is None
    assert report.valid is not None, report.to_json()
    # every item was put, unless the library raised (huey's FileStorage can fail to open when
    # processes create its folders at once): a finding of the errors checker
    assert report.counts["puts"] == 60 or report.checkers["errors"].valid is False


@pytest.mark.parametrize("peer", AT_LEAST_ONCE_PEERS, indirect=True)
def test_each_claiming_peer_goes_through_a_short_claim_ack_stress(peer, tmp_path):
    config = StressConfig(producers=2, consumers=2, items=60, backend=peer.name, timeout=60,
                          delivery="at-least-once")
    run = run_stress(config, tmp_path)
    report = check(run.history)
    assert run.failure is None
    assert report.valid is not None, report.to_json()
    # A peer that is not safe across processes may refuse puts ("database is locked") or
    # lose items: then the checkers must say so.
    assert report.counts["put_ok"] == 60 or report.checkers["errors"].valid is False
    assert report.counts["lost"] == 0 or report.checkers["delivery"].valid is False


def test_litequeue_takes_back_a_lease_that_ended(tmp_path):
    if PEERS["litequeue"].missing():
        pytest.skip(PEERS["litequeue"].missing())
    import time

    queue = resolve("litequeue").open(tmp_path)
    queue.put("w0:0")
    held = queue.claim(5.0)
    assert queue.claim(5.0) is None  # its lease has not ended
    later = resolve("litequeue").open(tmp_path, clock=lambda: time.time() + 3600)
    again = later.claim(5.0)  # an hour ahead on the harness's clock: every lease has ended
    assert again.item == held.item
    assert again.claimed_at >= held.until


def test_the_redis_stream_refuses_the_late_ack_of_a_claim_taken_back(redis_url, tmp_path):
    if PEERS["redis-stream"].missing() or redis_url is None:
        pytest.skip(PEERS["redis-stream"].missing() or missing_reason())
    import time

    from harness.errors import ClaimEnded

    queue = resolve("redis-stream").open(tmp_path)
    queue.put("w0:0")
    held = queue.claim(0.5)
    later = resolve("redis-stream").open(tmp_path, clock=lambda: time.time() + 3600)
    again = later.claim(0.5)
    assert (again.item, again.attempt) == ("w0:0", 2)
    later.ack(again)
    with pytest.raises(ClaimEnded):
        queue.ack(held)


MISSING = Peer(lambda *a, **k: None, "no_such_queue_library", "no-such-queue",
               "a library that is not installed")


def test_a_missing_library_is_one_line_naming_what_to_install(tmp_path, monkeypatch, capsys):
    spec = BackendSpec("no-such-peer", MISSING.factory, "built-in peer adapter", MISSING.about,
                       MISSING)
    monkeypatch.setitem(BUILT_IN, "no-such-peer", spec)
    assert spec.missing() == "not installed: pip install no-such-queue"
    with pytest.raises(BackendUnavailable, match="no-such-peer: not installed: pip install "
                       "no-such-queue"):
        spec.open(tmp_path)
    assert main(["backends"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines()
              if line.startswith("no-such-peer")]
    assert len(listed) == 1
    assert "not installed: pip install no-such-queue" in listed[0]
    assert main(["stress", "--backend", "no-such-peer", "--out", str(tmp_path / "out")]) == 2
    assert "not installed: pip install no-such-queue" in capsys.readouterr().err


def test_stress_starts_its_own_redis_server_when_asked(redis_url, tmp_path, capsys):
    if PEERS["redis-list"].missing() or redis_url is None:
        pytest.skip(PEERS["redis-list"].missing() or missing_reason())
    code = main(["stress", "--backend", "redis-list", "--redis-server", "auto", "--items", "40",
                 "--producers", "2", "--consumers", "2", "--quiet", "--out",
                 str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().out
    assert "verdict: VALID" in capsys.readouterr().out


def test_a_redis_backend_without_a_server_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    if PEERS["redis-list"].missing():
        pytest.skip(PEERS["redis-list"].missing())
    monkeypatch.delenv("HARNESS_REDIS_URL", raising=False)
    code = main(["stress", "--backend", "redis-list", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "no Redis server: pass --redis-server auto" in capsys.readouterr().err
