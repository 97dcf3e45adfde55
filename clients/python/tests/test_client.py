"""The blocking Client against a real sluiced and Tansu; records read back with the
harness's confluent-kafka consumer."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from sluice_client import (
    Ack, CallFailed, Client, ConnectError, ConnectionLost, ErrorCode, NotAuthorized, Persistence,
    Partitioner, Record, SpoolUnavailable, Timeout, UnknownPartition, UnknownTopic,
)
from sluice_testing import consume


def test_produce_keys_headers_timestamps_read_back(sluiced, tansu, topic):
    with Client(sluiced.socket) as c:
        batch = c.produce(topic, [
            Record(b"v0", key=b"k0", headers=[("h1", b"x"), ("empty", b"")], timestamp_ms=1700000000001),
            Record("v1", key="k1", timestamp_ms=1700000000002),
            Record(b"", headers=[("bin", b"\x00\xff")], timestamp_ms=1700000000003),
        ], partition=2)
        single = c.produce(topic, b"bare value", partition=0)
        offset = batch.result(timeout=20)
        assert batch.partition == 2 and batch.buffered and batch.done()
        assert single.result(timeout=20) >= 0 and single.partition == 0
        ack = c.produce_sync(topic, Record(b"sync", key=b"user-42"), timeout=20)
        again = c.produce_sync(topic, Record(b"sync2", key=b"user-42"), timeout=20)
    assert isinstance(ack, Ack)
    assert again.partition == ack.partition, "the same key hashes to the same partition"
    assert again.offset > ack.offset

    got = {(r.partition, r.offset): r for r in consume(tansu.bootstrap, topic, expect=6)}
    assert len(got) == 6
    r0, r1, r2 = (got[(2, offset + i)] for i in range(3))
    assert (r0.key, r0.value, r0.timestamp, r0.headers) == (b"k0", b"v0", 1700000000001, [("h1", b"x"), ("empty", b"")])
    assert (r1.key, r1.value, r1.timestamp, r1.headers) == (b"k1", b"v1", 1700000000002, [])
    assert (r2.key, r2.value, r2.headers) == (None, b"", [("bin", b"\x00\xff")]), "no key = null key"
    bare = got[(0, single.result())]
    assert (bare.key, bare.value) == (None, b"bare value")
    assert abs(bare.timestamp - time.time() * 1000) < 120_000, "timestamp 0: stamped by the gateway"
    assert got[(ack.partition, ack.offset)].value == b"sync"


def test_random_partitioner_and_pipelining(sluiced, tansu, topic):
    with Client(sluiced.socket) as c:
        handles = [c.produce(topic, Record(b"r%d" % i), partition=Partitioner.RANDOM) for i in range(30)]
        acks = [h.ack(timeout=20) for h in handles]
    assert {a.partition for a in acks} <= {0, 1, 2}
    assert len({a.partition for a in acks}) > 1, "30 random calls over 3 partitions"
    assert len({(a.partition, a.offset) for a in acks}) == 30
    assert sorted(r.value for r in consume(tansu.bootstrap, topic, expect=30)) == sorted(b"r%d" % i for i in range(30))


def test_ping_metadata_no_ack(sluiced, tansu, topic):
    errors = []
    with Client(sluiced.socket, on_error=errors.append) as c:
        assert c.ping()
        assert c.metadata(topic) == 3
        for i in range(4):
            c.produce_no_ack(topic, Record(b"n%d" % i), partition=1)
        c.produce_no_ack("no-such-topic-py", Record(b"lost"))
        c.ping()  # answered after the calls before it: the rejection came first
    assert [e.code for e in errors] == [ErrorCode.UNKNOWN_TOPIC]
    assert isinstance(errors[0], UnknownTopic)
    assert [r.value for r in consume(tansu.bootstrap, topic, expect=4, partitions=[1])] == [b"n0", b"n1", b"n2", b"n3"]


def test_spool_unavailable_on_a_full_disk(sluiced_factory, topic, tmp_path):
    """A spool whose segment is /dev/full with when_full = fail: SpoolUnavailable, not persisted."""
    spool = tmp_path / "spool"
    spool.mkdir()
    os.symlink("/dev/full", spool / ("0" * 20 + ".spool"))
    daemon = sluiced_factory(["spool.enabled=true", f"spool.dir={spool}", "spool.when_full=fail"])
    with Client(daemon.socket) as c:
        with pytest.raises(SpoolUnavailable) as e:
            c.produce_sync(topic, Record(b"x"), partition=0)
        assert e.value.code == ErrorCode.SPOOL_UNAVAILABLE and e.value.not_persisted
        assert "diskFull" in str(e.value)


def test_unknown_topic_and_partition(sluiced, topic):
    with Client(sluiced.socket) as c:
        with pytest.raises(UnknownTopic) as e:
            c.produce_sync("no-such-topic-py", Record(b"x"))
        assert e.value.code == ErrorCode.UNKNOWN_TOPIC and e.value.partition == -1
        assert e.value.persistence == Persistence.NOT_PERSISTED and e.value.not_persisted
        assert "no-such-topic-py" in str(e.value)
        with pytest.raises(UnknownTopic):
            c.metadata("no-such-topic-py")
        handle = c.produce(topic, Record(b"x"), partition=9)
        with pytest.raises(UnknownPartition) as e:
            handle.result(timeout=20)
        assert isinstance(e.value, CallFailed) and e.value.code == ErrorCode.UNKNOWN_PARTITION
        assert c.produce_sync(topic, Record(b"still fine"), partition=0).offset >= 0


def test_not_authorized_by_topic_rules(sluiced_factory, tansu, topic):
    allowed = tansu.create_topic(f"allowed-py-{os.getpid()}", partitions=1)
    daemon = sluiced_factory(config=(
        "[[security.topic_rules]]\n"
        'topics = ["allowed-*"]\n'
        f"uids = [{os.getuid()}]\n"))
    with Client(daemon.socket) as c:
        with pytest.raises(NotAuthorized) as e:
            c.produce_sync(topic, Record(b"x"))
        assert e.value.code == ErrorCode.NOT_AUTHORIZED == 8
        assert c.produce_sync(allowed, Record(b"ok")).offset == 0
        assert c.metadata(topic) == 3, "metadata is not restricted"


def test_connection_refused_by_allowed_uids(sluiced_factory):
    daemon = sluiced_factory(settings=[f"security.allowed_uids={os.getuid() + 1}"])
    errors = []
    c = Client(daemon.socket, on_error=errors.append)
    with pytest.raises(ConnectionLost) as lost:
        c.ping(timeout=10)  # the gateway answers ref 0 NOT_AUTHORIZED and closes
    assert "NOT_AUTHORIZED" in str(lost.value)
    # One refusal per connection: the one opened by Client(), and one more when the
    # ping found it already closed and connected again.
    assert 1 <= len(errors) <= 2 and all(isinstance(e, NotAuthorized) for e in errors), errors
    assert errors[0].code == ErrorCode.NOT_AUTHORIZED
    c.close()


def test_back_pressure(sluiced_factory, tansu, topic):
    # Room for 2 calls per partition, each lingering 300 ms: the gateway stops reading
    # this connection, so the ping behind 8 calls is read only after the first acks.
    daemon = sluiced_factory(settings=["producer.partition_buffer_limit=2", "producer.max_linger_ms=300"])
    with Client(daemon.socket) as c:
        started = time.monotonic()
        handles = [c.produce(topic, Record(b"bp%d" % i), partition=0) for i in range(8)]
        c.ping(timeout=20)
        held_for = time.monotonic() - started
        done_at_pong = sum(h.done() for h in handles)
        offsets = [h.result(timeout=20) for h in handles]
    assert done_at_pong >= 2 and held_for >= 0.6, (done_at_pong, held_for)  # ~3 rounds of 300 ms lingering
    assert offsets == list(range(offsets[0], offsets[0] + 8)), "order kept"
    assert [r.value for r in consume(tansu.bootstrap, topic, expect=8, partitions=[0])] == [b"bp%d" % i for i in range(8)]


def test_blocked_write_times_out(sluiced_factory, topic):
    # As in the C test: the gateway stops reading, the socket fills, a write gives up
    # after write_timeout; the connection is closed and the calls in flight are in doubt.
    daemon = sluiced_factory(settings=["producer.partition_buffer_limit=1", "producer.max_linger_ms=5000"])
    big = Record(b"w" * (256 * 1024))
    with Client(daemon.socket, write_timeout=0.5) as c:
        handles = []
        started = time.monotonic()
        with pytest.raises(Timeout):
            for _ in range(64):
                started = time.monotonic()
                handles.append(c.produce(topic, big, partition=0))
        assert 0.45 <= time.monotonic() - started < 5
        assert 1 <= len(handles) < 64 and not c.connected
        for h in handles:
            with pytest.raises(ConnectionLost):
                h.result(timeout=5)


def test_daemon_killed_in_flight_calls_fail_in_doubt_then_reconnect(sluiced_factory, topic):
    daemon = sluiced_factory(settings=["producer.max_linger_ms=2000"])
    c = Client(daemon.socket)
    handles = [c.produce(topic, Record(b"lost%d" % i), partition=0) for i in range(3)]
    c.ping()  # every call above is buffered now
    assert all(h.buffered and not h.done() for h in handles)
    daemon.stop(signal.SIGKILL)
    for h in handles:
        with pytest.raises(ConnectionLost) as e:
            h.result(timeout=10)
        assert e.value.in_doubt and "outcome is unknown" in str(e.value)
    assert not c.connected
    daemon.start()
    ack = c.produce_sync(topic, Record(b"after"), partition=0, timeout=20)  # reconnects
    assert ack.partition == 0 and c.connected
    c.close()


def test_daemon_sigterm_drains_then_reconnect(sluiced_factory, tansu, topic):
    daemon = sluiced_factory(settings=["producer.max_linger_ms=500"])
    with Client(daemon.socket) as c:
        handles = [c.produce(topic, Record(b"drained%d" % i), partition=1) for i in range(3)]
        c.ping()
        daemon.stop(signal.SIGTERM)  # drain: buffered calls are still produced and answered
        offsets = [h.result(timeout=15) for h in handles]
        daemon.start()
        deadline = time.monotonic() + 10
        while True:  # the first call after the restart may find the old, closed connection
            try:
                ack = c.produce_sync(topic, Record(b"after"), partition=1, timeout=20)
                break
            except ConnectionLost:
                assert time.monotonic() < deadline
        assert ack.offset == offsets[-1] + 1
    values = [r.value for r in consume(tansu.bootstrap, topic, expect=4, partitions=[1])]
    assert values == [b"drained0", b"drained1", b"drained2", b"after"], "nothing lost, nothing resent"


def test_threads_share_a_client(sluiced, tansu, topic):
    with Client(sluiced.socket) as c:
        results = []
        lock = threading.Lock()

        def work(t):
            for i in range(20):
                a = c.produce_sync(topic, Record(b"t%d-%d" % (t, i)), partition=t % 3, timeout=20)
                with lock:
                    results.append(a)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(results) == 80 and len(set(results)) == 80
    assert len(consume(tansu.bootstrap, topic, expect=80)) == 80


def test_connect_errors_are_clear(tmp_path):
    with pytest.raises(ConnectError) as e:
        Client(str(tmp_path / "nobody.sock"), connect_timeout=1)
    assert "nobody.sock" in str(e.value)


def test_example_program(sluiced, topic):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "produce.py"
    out = subprocess.run([sys.executable, str(example), sluiced.socket, topic], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert sum(line.startswith("ref ") and " acked: " in line for line in out.stdout.splitlines()) == 10
    assert "sync call acked" in out.stdout
