"""libsluice against a real sluiced and Tansu: the scenarios of tests/ctest.c, checked here
(records read back with the harness's confluent-kafka consumer)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List

from sluice_testing import consume

C_DIR = Path(__file__).resolve().parents[1]

NO_ACK_REF_BIT = 1 << 63


def run(ctest: str, *args: str, timeout: float = 30) -> List[dict]:
    out = subprocess.run([ctest, *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"sluice-ctest {' '.join(args)} exited {out.returncode}: {out.stderr}"
    return [json.loads(line) for line in out.stdout.splitlines()]


def calls(lines: List[dict]) -> Dict[str, dict]:
    return {line["call"]: line for line in lines if "call" in line}


def test_produce_keys_headers_timestamps_read_back(ctest, sluiced, tansu, topic):
    lines = run(ctest, "produce", sluiced.socket, topic)
    assert lines[0] == {"unfinished": 3}, "sluice_produce returns before the replies"
    c = calls(lines)
    for name in "abd":
        assert c[name]["replies"] == "BA", f"call {name}: buffered then acked, got {c[name]}"
        assert c[name]["code"] == 0
    assert c["a"]["partition"] == 1 and c["b"]["partition"] == 2
    assert len({c["a"]["ref"], c["b"]["ref"], c["d"]["ref"]}) == 3 and 0 not in {c["a"]["ref"], c["b"]["ref"]}
    assert c["e"]["err"] == "ok"
    assert c["e"]["partition"] == c["d"]["partition"], "the same key hashes to the same partition"
    assert c["e"]["offset"] > c["d"]["offset"]

    got = {(r.partition, r.offset): r for r in consume(tansu.bootstrap, topic, expect=6)}
    assert len(got) == 6
    a0, a1, a2 = (got[(1, c["a"]["offset"] + i)] for i in range(3))
    assert (a0.key, a0.value, a0.timestamp) == (b"k1", b"a0", 1700000000123)
    assert a0.headers == [("h1", b"v1"), ("empty", b"")]
    assert (a1.key, a1.value, a1.timestamp, a1.headers) == (b"k2", b"a1", 1700000000124, [])
    assert (a2.key, a2.value, a2.headers) == (b"k3", b"a2", [("trace", b"\x00\x01\x02")])
    b = got[(2, c["b"]["offset"])]
    assert (b.key, b.value, b.timestamp) == (None, b"", 1700000001000), "empty key = null key, empty value stays empty"
    d = got[(c["d"]["partition"], c["d"]["offset"])]
    assert (d.key, d.value) == (b"same-key", b"d0")
    assert abs(d.timestamp - time.time() * 1000) < 120_000, "timestamp 0: stamped by the gateway"
    e = got[(c["e"]["partition"], c["e"]["offset"])]
    assert (e.key, e.value, e.timestamp) == (b"same-key", b"e0", 1700000002000)


def test_unknown_topic_fails_with_its_code(ctest, sluiced):
    c = calls(run(ctest, "fail", sluiced.socket, "no-such-topic-c"))
    assert c["async"]["replies"] == "F"
    assert c["async"]["code_name"] == "UNKNOWN_TOPIC" and c["async"]["partition"] == -1
    assert "no-such-topic-c" in c["async"]["message"]
    assert c["async"]["persistence"] == 1, "SLUICE_NOT_PERSISTED: refused, never sent"
    assert c["sync"]["err"] == "sluiced failed the call" and c["sync"]["code_name"] == "UNKNOWN_TOPIC"
    assert c["ping_after"]["err"] == "ok", "the connection stays usable"
    info = calls(run(ctest, "info", sluiced.socket, "no-such-topic-c"))
    assert info["metadata"]["err"] == "sluiced failed the call"
    assert info["metadata"]["code_name"] == "UNKNOWN_TOPIC"


def test_spool_unavailable_on_a_full_disk(ctest, sluiced_factory, topic, tmp_path):
    """A spool whose segment is /dev/full, when_full = fail: SLUICE_CODE_SPOOL_UNAVAILABLE."""
    spool = tmp_path / "spool"
    spool.mkdir()
    os.symlink("/dev/full", spool / ("0" * 20 + ".spool"))
    daemon = sluiced_factory(["spool.enabled=true", f"spool.dir={spool}", "spool.when_full=fail"])
    c = calls(run(ctest, "fail", daemon.socket, topic, "0"))
    assert c["async"]["replies"] == "F"
    assert c["async"]["code"] == 14 and c["async"]["code_name"] == "SPOOL_UNAVAILABLE"
    assert c["async"]["persistence"] == 1, "SLUICE_NOT_PERSISTED: never buffered"
    assert "diskFull" in c["async"]["message"]
    assert c["sync"]["code_name"] == "SPOOL_UNAVAILABLE"
    assert c["ping_after"]["err"] == "ok"


def test_unknown_partition(ctest, sluiced, topic):
    c = calls(run(ctest, "fail", sluiced.socket, topic, "7"))
    assert c["async"]["code_name"] == "UNKNOWN_PARTITION"
    assert c["sync"]["code_name"] == "UNKNOWN_PARTITION"


def test_not_authorized_by_topic_rules(ctest, sluiced_factory, tansu, topic):
    allowed = tansu.create_topic(f"allowed-c-{os.getpid()}", partitions=3)
    daemon = sluiced_factory(config=(
        "[[security.topic_rules]]\n"
        'topics = ["allowed-*"]\n'
        f"uids = [{os.getuid()}]\n"))
    c = calls(run(ctest, "fail", daemon.socket, topic))
    assert c["async"]["code_name"] == "NOT_AUTHORIZED" and c["async"]["replies"] == "F"
    assert c["sync"]["code_name"] == "NOT_AUTHORIZED"
    assert c["ping_after"]["err"] == "ok", "a refused call leaves the connection open"
    ok = calls(run(ctest, "produce", daemon.socket, allowed))
    assert ok["a"]["replies"] == "BA" and ok["e"]["err"] == "ok"


def test_connection_refused_by_allowed_uids(ctest, sluiced_factory):
    daemon = sluiced_factory(settings=[f"security.allowed_uids={os.getuid() + 1}"])
    lines = run(ctest, "refused", daemon.socket)
    assert lines[0]["on_error"] == "NOT_AUTHORIZED" and lines[0]["ref"] == 0
    assert lines[1] == {"ping": "not connected to sluiced (connection lost)", "connected": 0}


def test_ping_and_metadata(ctest, sluiced, topic):
    c = calls(run(ctest, "info", sluiced.socket, topic))
    assert c["ping"]["err"] == "ok" and c["ping"]["version"]
    assert c["metadata"]["err"] == "ok" and c["metadata"]["partition_count"] == 3


def test_produce_no_ack(ctest, sluiced, tansu, topic):
    lines = run(ctest, "noack", sluiced.socket, topic, "5")
    assert lines == [{"sent": 5}], "no replies for accepted ProduceNoAck calls"
    records = consume(tansu.bootstrap, topic, expect=5, partitions=[0])
    assert [r.value for r in records] == [b"n%d" % i for i in range(5)]
    # Rejected at once: one failed reply each, to on_error, with the call's (no-ack) ref.
    lines = run(ctest, "noack", sluiced.socket, "no-such-topic-noack", "3")
    errors = [line for line in lines if "on_error" in line]
    assert [e["on_error"] for e in errors] == ["UNKNOWN_TOPIC"] * 3
    assert all(e["ref"] & NO_ACK_REF_BIT for e in errors)
    assert lines[-1] == {"sent": 3}


def test_back_pressure_holds_the_connection(ctest, sluiced_factory, tansu, topic):
    # Buffered calls linger 300 ms; with room for 2 calls per partition the gateway stops
    # reading the connection, so the ping behind 8 calls is read only once the first
    # calls have been acked.
    held = sluiced_factory(settings=["producer.partition_buffer_limit=2", "producer.max_linger_ms=300"])
    lines = run(ctest, "backpressure", held.socket, topic, "8")
    summary, results = lines[0], lines[1:]
    assert summary["final_before_pong"] >= 2, summary
    assert summary["pong_ms"] >= 600, summary  # ~3 rounds of 300 ms lingering
    assert [r["replies"] for r in results] == ["BA"] * 8
    offsets = [r["offset"] for r in results]
    assert offsets == list(range(offsets[0], offsets[0] + 8)), "order kept under back-pressure"
    assert [r.value for r in consume(tansu.bootstrap, topic, expect=8, partitions=[0])] == [b"bp%d" % i for i in range(8)]

    # The same calls with the default buffer (512): all buffered at once, the ping is
    # answered before the first linger ends.
    free = sluiced_factory(settings=["producer.max_linger_ms=300"])
    summary = run(ctest, "backpressure", free.socket, topic, "8")[0]
    assert summary["final_before_pong"] == 0, summary


def test_no_allocation_per_call_in_steady_state(ctest, sluiced, topic):
    # 500 calls of 3 records with headers grow the buffers; 500 more allocate nothing,
    # replies included (counted with -Wl,--wrap=malloc/calloc/realloc).
    r = run(ctest, "allocs", sluiced.socket, topic)[0]
    assert r["warmup_allocations"] > 0 and r["steady_allocations"] == 0, r


def test_sync_timeout_leaves_the_call_going(ctest, sluiced_factory, topic):
    daemon = sluiced_factory(settings=["producer.max_linger_ms=1000"])
    lines = run(ctest, "synctimeout", daemon.socket, topic)
    assert lines[0] == {"sync": "timed out", "unfinished_after_timeout": 1, "flush": "success", "unfinished": 0}
    again = calls(lines)["again"]
    assert again["err"] == "ok" and again["offset"] == 1, "the timed-out call was produced at offset 0"


def test_blocked_write_times_out(ctest, sluiced_factory, topic):
    # One call fits the buffer and lingers 5 s; the next is held, so the gateway stops
    # reading and 256 KiB calls soon fill the socket: a write blocks for write_timeout_ms
    # (500), then gives up. Cut mid-frame, the connection is closed: earlier calls LOST.
    daemon = sluiced_factory(settings=["producer.partition_buffer_limit=1", "producer.max_linger_ms=5000"])
    r = run(ctest, "writeblock", daemon.socket, topic)[0]
    assert r["err"] == "timed out" and 450 <= r["blocked_ms"] < 5000, r
    assert 1 <= r["sent"] < 64, r
    assert r["connected"] == 0 and r["lost"] == r["sent"] and r["unfinished"] == 0, r


def test_daemon_restart_fails_in_flight_calls_and_reconnect_works(ctest, sluiced_factory, topic):
    # Calls linger 2 s in the buffer, so they are unfinished when sluiced is killed.
    daemon = sluiced_factory(settings=["producer.max_linger_ms=2000"])
    proc = subprocess.Popen([ctest, "restart", daemon.socket, topic, "4"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"sent": 4}
        daemon.stop(signal.SIGKILL)
        daemon.start()
        out, err = proc.communicate("go\n", timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == {"poll": "not connected to sluiced (connection lost)", "connected": 0, "unfinished": 0}
    inflight = [line for line in lines if line.get("call") == "inflight"]
    assert [c["replies"] for c in inflight] == ["BL"] * 4, "buffered, then lost: in doubt, not resent"
    assert all("outcome is unknown" in c["message"] for c in inflight)
    reconnect = next(line for line in lines if "reconnect" in line)
    assert reconnect["reconnect"] == "ok"
    after = calls(lines)["after"]
    assert after["err"] == "ok" and after["partition"] == 0


def test_example_program(sluiced, topic, ctest):
    out = subprocess.run([str(C_DIR / "build" / "sluice-example"), sluiced.socket, topic],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert sum(line.startswith("ref ") and " acked: " in line for line in out.stdout.splitlines()) == 10
    assert "sync call acked" in out.stdout


def test_make_install_and_pkg_config(tmp_path, sluiced, topic, ctest):
    prefix = tmp_path / "prefix"
    subprocess.run(["make", "-s", "-C", str(C_DIR), "install", f"PREFIX={prefix}"], check=True,
                   capture_output=True, timeout=60)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sluice"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    assert f"-I{prefix}/include" in flags and "-lsluice" in flags
    exe = tmp_path / "example"
    subprocess.run(["cc", "-o", str(exe), str(C_DIR / "examples" / "produce.c"), *flags,
                    f"-Wl,-rpath,{prefix}/lib"], check=True, capture_output=True, timeout=60)
    out = subprocess.run([str(exe), sluiced.socket, topic], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_pipelined_loop_cost(ctest, sluiced, topic):
    """Not a benchmark (clients/c/README.md has the figures): checks the bench loop
    completes every call; prints its figures."""
    result = run(ctest, "bench", sluiced.socket, topic, "5000", "64", timeout=60)[0]
    print(result)
    assert result["acked"] == 5000 and result["failed"] == 0
