"""Self-tests of the harness: both brokers, produce with confluent-kafka, read back
with the `consume` subcommand, exact checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List

import pytest

from helpers import Server, b64, harness_env, pid_alive, run_harness, wait_dead

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TS = 1_700_000_000_123


def produce(bootstrap: str, topic: str, records: List[Dict[str, Any]], *extra: str) -> List[Dict[str, Any]]:
    stdin = "".join(json.dumps(r) + "\n" for r in records)
    res = run_harness(["produce", "--bootstrap", bootstrap, "--topic", topic, "--stdin", *extra],
                      stdin=stdin)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def consume(bootstrap: str, topic: str, *extra: str) -> List[Dict[str, Any]]:
    res = run_harness(["consume", "--bootstrap", bootstrap, "--topic", topic, *extra])
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def edge_records(tag: str) -> List[Dict[str, Any]]:
    """Null vs empty key/value, headers (with a null value), explicit timestamp."""
    return [
        {"key": None, "value": b64(f"v-{tag}".encode()), "partition": 0,
         "headers": [["h1", b64(b"x")], ["h2", None], ["h3", b64(b"")]], "timestamp": TS},
        {"key": b64(b""), "value": b64(b""), "partition": 0, "timestamp": TS + 1},
        {"key": b64(b"k"), "value": None, "partition": 0, "timestamp": TS + 2},
        {"key": b64(bytes(range(256))), "value": b64(b"\x00" * 10_000), "partition": 1, "timestamp": TS + 3},
    ]


def check_codecs(server: Server, topic: str) -> None:
    server.ok("create_topic", topic=topic, partitions=2)
    sent: List[Dict[str, Any]] = []
    for codec in CODECS:
        recs = edge_records(codec)
        delivered = produce(server.bootstrap, topic, recs, "--compression", codec)
        assert [d["index"] for d in delivered] == list(range(len(recs)))
        for r, d in zip(recs, delivered):
            assert "error" not in d, d
            assert d["partition"] == r["partition"]
            sent.append({**r, "offset": d["offset"]})
    got = consume(server.bootstrap, topic, "--expect", str(len(sent)), "--idle-ms", "5000")
    want = sorted(
        ({"partition": r["partition"], "offset": r["offset"], "key": r["key"], "value": r["value"],
          "headers": r.get("headers") or [], "timestamp": r["timestamp"], "timestamp_type": 1}
         for r in sent),
        key=lambda r: (r["partition"], r["offset"]))
    assert got == want
    # Offsets are dense per partition: 3 records per codec on partition 0, 1 on partition 1.
    assert [r["offset"] for r in got if r["partition"] == 0] == list(range(3 * len(CODECS)))
    assert [r["offset"] for r in got if r["partition"] == 1] == list(range(len(CODECS)))


# --- Tansu -------------------------------------------------------------------

def test_tansu_hello(tansu: Server) -> None:
    assert tansu.bootstrap.startswith("127.0.0.1:")
    assert pid_alive(tansu.hello["pid"])
    assert tansu.startup_s < 20


def test_tansu_codecs_headers_nulls_timestamps(tansu: Server) -> None:
    check_codecs(tansu, "codecs")


def test_tansu_create_topic_errors(tansu: Server) -> None:
    tansu.ok("create_topic", topic="dup", partitions=1)
    again = tansu.cmd("create_topic", topic="dup", partitions=1)
    assert again["ok"] is False and "exists" in again["error"]
    assert tansu.cmd("create_topic", topic="bad", partitions=0)["ok"] is False
    assert tansu.cmd("create_topic", topic="bad")["ok"] is False
    assert tansu.cmd("nonsense")["ok"] is False
    assert tansu.ok("ping")["ok"]


def test_tansu_consume_partitions_and_idle(tansu: Server) -> None:
    tansu.ok("create_topic", topic="parts", partitions=3)
    for p in range(3):
        res = run_harness(["produce", "--bootstrap", tansu.bootstrap, "--topic", "parts",
                           "--count", "4", "--partition", str(p), "--value-prefix", f"p{p}-"])
        assert res.returncode == 0, res.stderr
        assert [json.loads(l)["offset"] for l in res.stdout.splitlines()] == [0, 1, 2, 3]
    got = consume(tansu.bootstrap, "parts", "--partitions", "0,2", "--idle-ms", "1500")
    assert [(r["partition"], r["offset"]) for r in got] == [(p, o) for p in (0, 2) for o in range(4)]
    assert b64(b"p2-3") == got[-1]["value"]
    # --expect stops early.
    t0 = time.monotonic()
    got = consume(tansu.bootstrap, "parts", "--expect", "12", "--idle-ms", "20000")
    assert len(got) == 12 and time.monotonic() - t0 < 15


def test_tansu_stops_on_quit_eof_and_sigterm() -> None:
    for how in ("quit", "eof", "sigterm"):
        server = Server(["tansu"])
        pid = server.hello["pid"]
        assert pid_alive(pid)
        if how == "quit":
            assert server.ok("quit")
        elif how == "sigterm":
            server.proc.send_signal(signal.SIGTERM)
        assert server.close() == 0
        assert wait_dead(pid), f"tansu survived {how}"


def test_tansu_dies_with_killed_harness() -> None:
    server = Server(["tansu"])
    pid = server.hello["pid"]
    server.proc.kill()  # no cleanup possible: PR_SET_PDEATHSIG must do it
    server.proc.wait(5)
    assert wait_dead(pid), "tansu survived SIGKILL of its harness"


# --- librdkafka mock cluster -------------------------------------------------

def test_mock_hello(mock: Server) -> None:
    hosts = mock.bootstrap.split(",")
    assert len(hosts) == 3 and all(h.startswith("127.0.0.1:") for h in hosts)
    assert mock.hello["librdkafka"].startswith("2.")


def test_mock_codecs_headers_nulls_timestamps(mock: Server) -> None:
    check_codecs(mock, "codecs")


def test_mock_commands(mock: Server) -> None:
    created = mock.ok("create_topic", topic="faults", partitions=2)
    assert created["replication"] == 3
    mock.ok("set_leader", topic="faults", partition=0, broker_id=2)
    mock.ok("set_leader", topic="faults", partition=1, broker_id=3)
    mock.ok("set_rtt", broker_id=2, rtt_ms=0)
    mock.ok("start_request_tracking")
    mock.ok("clear_requests")

    # Two retriable Produce errors (NOT_LEADER_FOR_PARTITION, then by name), then success.
    mock.ok("push_request_errors", api_key=0, errors=[6, "NOT_LEADER_FOR_PARTITION"])
    delivered = produce(mock.bootstrap, "faults", [{"value": b64(b"a"), "partition": 0}])
    assert delivered == [{"index": 0, "partition": 0, "offset": 0}]
    reqs = mock.ok("get_requests")["requests"]
    produce_reqs = [r for r in reqs if r["api_key"] == 0]
    assert len(produce_reqs) == 3 and {r["broker_id"] for r in produce_reqs} == {2}

    # Per-broker error with a delay; count it on the stack, then let it be consumed.
    mock.ok("broker_push_request_error_rtts", broker_id=3, api_key=0, errors=[[6, 50], [0, 10]])
    assert mock.ok("broker_error_stack_cnt", broker_id=3, api_key=0)["count"] == 2
    delivered = produce(mock.bootstrap, "faults", [{"value": b64(b"b"), "partition": 1}])
    assert delivered == [{"index": 0, "partition": 1, "offset": 0}]
    assert mock.ok("broker_error_stack_cnt", broker_id=3, api_key=0)["count"] == 0

    # A broker down and back up; the leader moves.
    mock.ok("broker_down", broker_id=2)
    mock.ok("set_leader", topic="faults", partition=0, broker_id=1)
    delivered = produce(mock.bootstrap, "faults", [{"value": b64(b"c"), "partition": 0}])
    assert delivered == [{"index": 0, "partition": 0, "offset": 1}]
    mock.ok("broker_up", broker_id=2)

    mock.ok("push_request_errors", api_key=0, errors=[6, 6, 6])
    mock.ok("clear_request_errors", api_key=0)
    mock.ok("topic_set_error", topic="faults", error=0)
    mock.ok("set_apiversion", api_key=0, min=3, max=9)
    mock.ok("stop_request_tracking")

    got = consume(mock.bootstrap, "faults", "--expect", "3", "--idle-ms", "5000")
    assert [(r["partition"], r["offset"], r["value"]) for r in got] == [
        (0, 0, b64(b"a")), (0, 1, b64(b"c")), (1, 0, b64(b"b"))]

    # Bad arguments are answered, not fatal.
    assert mock.cmd("broker_down", broker_id=9)["ok"] is False
    assert mock.cmd("set_leader", topic="faults", partition=7, broker_id=1)["ok"] is False
    assert mock.cmd("push_request_errors", api_key=0, errors=[])["ok"] is False
    assert mock.cmd("push_request_errors", api_key=0, errors=["NO_SUCH_ERROR"])["ok"] is False
    assert mock.ok("ping")["ok"]


def test_mock_no_leader_then_leader() -> None:
    server = Server(["mock", "--brokers", "2"])
    try:
        assert server.ok("create_topic", topic="t", partitions=1)["replication"] == 2
        server.ok("set_leader", topic="t", partition=0, broker_id=-1)
        res = run_harness(["produce", "--bootstrap", server.bootstrap, "--topic", "t",
                           "--count", "1", "--timeout-s", "2"])
        assert res.returncode != 0  # no leader: not delivered
        server.ok("set_leader", topic="t", partition=0, broker_id=2)
        assert produce(server.bootstrap, "t", [{"value": b64(b"x")}]) == [
            {"index": 0, "partition": 0, "offset": 0}]
    finally:
        assert server.close() == 0


def test_mock_stops_on_sigterm() -> None:
    server = Server(["mock", "--brokers", "1"])
    server.proc.send_signal(signal.SIGTERM)
    assert server.close() == 0


# --- consume errors ----------------------------------------------------------

def test_consume_missing_topic_fails(mock: Server) -> None:
    res = run_harness(["consume", "--bootstrap", mock.bootstrap, "--topic", "missing",
                       "--timeout-s", "2"])
    assert res.returncode != 0 and "missing" in res.stderr and res.stdout == ""


def test_consume_unreachable_broker_fails() -> None:
    res = run_harness(["consume", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--timeout-s", "2"])
    assert res.returncode != 0 and res.stdout == ""


def test_usage() -> None:
    res = subprocess.run([sys.executable, "-m", "sluice_harness", "bogus"],
                         capture_output=True, text=True, env=harness_env(), timeout=30)
    assert res.returncode == 2 and "usage" in res.stderr
