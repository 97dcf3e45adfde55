"""Cost per call of the client libraries: a small pipelined loop against a real sluiced.

    SLUICED=... .venv/bin/python clients/testing/bench_clients.py [--calls 30000] [--runs 3]

Starts Tansu (harness) and sluiced (default settings), creates a topic of 3 partitions,
then per run: libsluice's loop (`sluice-ctest bench`: one connection, up to WINDOW calls
unfinished, one 100-byte record per call, partitions round-robin) and the same loop
with the Python Client (handles kept in a deque, oldest waited for when the window is
full). Prints one JSON line per run: calls/s, the client's CPU µs per call (the whole
process: for Python, its reader thread included) and sluiced's CPU µs per call over
the same run. Not part of the test suite; clients/c/README.md quotes its output.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sluice_testing as st  # noqa: E402

CTEST = Path(__file__).resolve().parents[1] / "c" / "build" / "sluice-ctest"


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def python_loop(socket: str, topic: str, calls: int, window: int) -> dict:
    from sluice_client import Client, Record

    with Client(socket) as c:
        partitions = c.metadata(topic)
        rec = Record(b"x" * 100)
        for p in range(partitions):
            c.produce_sync(topic, rec, partition=p)
        pending: collections.deque = collections.deque()
        start, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        for i in range(calls):
            if len(pending) >= window:
                pending.popleft().result(timeout=60)
            pending.append(c.produce(topic, rec, partition=i % partitions))
        while pending:
            pending.popleft().result(timeout=60)
        elapsed = time.monotonic() - start
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"calls": calls, "window": window, "elapsed_s": round(elapsed, 3),
            "calls_per_s": round(calls / elapsed), "client_cpu_us_per_call": round(cpu * 1e6 / calls, 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", str(CTEST.parents[1]), "tests"], check=True)
    tansu = st.Tansu(Path(tempfile.mkdtemp(prefix="sluice-bench-")))
    daemon = None
    try:
        topic = tansu.create_topic("bench-clients", partitions=3)
        daemon = st.Sluiced(tansu.bootstrap, Path(tempfile.mkdtemp(prefix="sluice-bench-")), ["log.level=warning"])
        for run in range(args.runs):
            for client in ("c", "python"):
                before = proc_cpu_s(daemon.proc.pid)
                if client == "c":
                    out = subprocess.run([str(CTEST), "bench", daemon.socket, topic, str(args.calls), str(args.window)],
                                         capture_output=True, text=True, check=True, timeout=300)
                    result = json.loads(out.stdout.splitlines()[-1])
                else:
                    result = python_loop(daemon.socket, topic, args.calls, args.window)
                sluiced_cpu = proc_cpu_s(daemon.proc.pid) - before
                result.update(client=client, run=run, load_avg=os.getloadavg()[0],
                              sluiced_cpu_us_per_call=round(sluiced_cpu * 1e6 / args.calls, 1))
                print(json.dumps(result), flush=True)
    finally:
        if daemon:
            daemon.stop()
        tansu.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
