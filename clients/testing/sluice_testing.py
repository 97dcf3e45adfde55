"""Test support shared by the client suites (clients/c/tests, clients/python/tests).

Real peers only: a Tansu broker started through the project's harness
(tools/harness, `python -m sluice_harness tansu`), a `sluiced` child process on a
socket in a temporary directory, and the harness's confluent-kafka consumer to read
topics back (`python -m sluice_harness consume`). Both conftest.py files import this
module and expose its fixtures.

Environment: SLUICED is the daemon binary (default <repo>/.build/debug/sluiced);
SLUICE_PYTHON the interpreter that runs the harness (default <repo>/.venv/bin/python).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "tools" / "harness"


def sluiced_binary() -> str:
    return os.environ.get("SLUICED") or str(REPO / ".build" / "debug" / "sluiced")


def harness_python() -> str:
    override = os.environ.get("SLUICE_PYTHON")
    if override:
        return override
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def harness_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HARNESS) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class Tansu:
    """`sluice_harness tansu`: a broker on loopback, topics created on request."""

    def __init__(self, log_dir: Path) -> None:
        self.log = open(log_dir / "tansu-harness.log", "w")
        self.proc = subprocess.Popen(
            [harness_python(), "-m", "sluice_harness", "tansu"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=harness_env(), text=True, bufsize=1)
        greeting = self._line(30)
        if "bootstrap" not in greeting:
            raise RuntimeError(f"tansu did not start: {greeting}")
        self.bootstrap: str = greeting["bootstrap"]
        self._ids = itertools.count(1)

    def _line(self, timeout: float) -> dict:
        # The harness answers within its own bounds (20 s start, 15 s per topic);
        # readline blocks, so the timeout is the harness's, checked after the fact.
        assert self.proc.stdout is not None
        started = time.monotonic()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"tansu harness exited ({self.proc.poll()}) after {time.monotonic() - started:.1f} s")
        return json.loads(line)

    def command(self, op: str, **fields) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "id": next(self._ids), **fields}) + "\n")
        self.proc.stdin.flush()
        reply = self._line(30)
        if not reply.get("ok"):
            raise RuntimeError(f"tansu {op} failed: {reply}")
        return reply

    def create_topic(self, name: str, partitions: int = 1) -> str:
        self.command("create_topic", topic=name, partitions=partitions)
        return name

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Consumed:
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[tuple]
    timestamp: int


def _b64(v: Optional[str]) -> Optional[bytes]:
    return None if v is None else base64.b64decode(v)


def consume(bootstrap: str, topic: str, expect: int, partitions: Optional[Sequence[int]] = None,
            timeout_s: float = 20.0) -> List[Consumed]:
    """Reads the topic back with the harness's confluent-kafka consumer."""
    args = [harness_python(), "-m", "sluice_harness", "consume", "--bootstrap", bootstrap,
            "--topic", topic, "--expect", str(expect), "--idle-ms", "3000",
            "--timeout-s", str(int(timeout_s))]
    if partitions is not None:
        args += ["--partitions", ",".join(map(str, partitions))]
    out = subprocess.run(args, capture_output=True, text=True, env=harness_env(), timeout=timeout_s + 15)
    if out.returncode != 0:
        raise RuntimeError(f"consume {topic} failed: {out.stderr[-2000:]}")
    records = []
    for line in out.stdout.splitlines():
        r = json.loads(line)
        records.append(Consumed(r["partition"], r["offset"], _b64(r["key"]), _b64(r["value"]),
                                [(h[0], _b64(h[1])) for h in r["headers"]], r["timestamp"]))
    return records


class Sluiced:
    """A `sluiced` child process on a socket of its own, restartable on the same path."""

    def __init__(self, bootstrap: str, workdir: Path, settings: Sequence[str] = (),
                 config: str = "") -> None:
        binary = sluiced_binary()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no sluiced binary at {binary} (build it, or set SLUICED)")
        self.socket = str(workdir / "sluiced.sock")
        self.args = [binary, "--brokers", bootstrap, "--socket", self.socket,
                     "--log-level", "notice", "--set", "listener.systemd=false",
                     "--set", "shutdown.drain_timeout_ms=5000"]
        if config:
            path = workdir / "sluiced.toml"
            path.write_text(config)
            self.args += ["--config", str(path)]
        for s in settings:
            self.args += ["--set", s]
        self.log_path = workdir / "sluiced.log"
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluiced exited with {self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.socket):
                s = socket.socket(socket.AF_UNIX)
                try:
                    s.connect(self.socket)
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            time.sleep(0.05)
        raise RuntimeError(f"sluiced did not listen on {self.socket} within {timeout} s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-n:]
        except OSError:
            return ""


# -- fixtures (the conftest.py files import these names)

@pytest.fixture(scope="session")
def tansu(tmp_path_factory) -> Iterator[Tansu]:
    broker = Tansu(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.close()


_topic_ids = itertools.count(1)


@pytest.fixture
def topic(tansu, request) -> str:
    """A fresh topic of 3 partitions, named after the test."""
    name = f"{request.node.name.split('[')[0].replace('_', '-')}-{os.getpid()}-{next(_topic_ids)}"
    return tansu.create_topic(name[-200:], partitions=3)


@pytest.fixture
def sluiced_factory(tansu) -> Iterator:
    """start(settings=[...], config="TOML") -> Sluiced; every daemon is stopped after the test.

    Socket paths are limited to 107 bytes, so each daemon gets a short directory in /tmp.
    """
    started: List[Sluiced] = []
    dirs: List[str] = []

    def start(settings: Sequence[str] = (), config: str = "") -> Sluiced:
        d = tempfile.mkdtemp(prefix="sluice-cl-")
        dirs.append(d)
        daemon = Sluiced(tansu.bootstrap, Path(d), settings, config)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop(signal.SIGKILL)
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sluiced(sluiced_factory) -> Sluiced:
    """sluiced with its defaults, against the session's Tansu."""
    return sluiced_factory()
