"""Helpers for the harness self-tests: each broker runs as a `python -m sluice_harness`
child, exactly as the Swift integration tests run it."""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HARNESS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if HARNESS_DIR not in sys.path:
    sys.path.insert(0, HARNESS_DIR)


def harness_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = HARNESS_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_harness(args: List[str], stdin: Optional[str] = None, timeout: float = 60.0):
    return subprocess.run([sys.executable, "-m", "sluice_harness", *args], input=stdin,
                          capture_output=True, text=True, env=harness_env(), timeout=timeout)


def b64(s: Optional[bytes]) -> Optional[str]:
    return None if s is None else base64.b64encode(s).decode()


class Server:
    """A running command server (`tansu`, `mock`, `stunnel`, `scram-server`);
    `greeting_key` is a field its greeting line must have."""

    def __init__(self, args: List[str], startup_timeout: float = 30.0,
                 greeting_key: str = "bootstrap") -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sluice_harness", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None, text=True, env=harness_env())
        self.next_id = 0
        t0 = time.monotonic()
        self.hello = self._read(startup_timeout)
        self.startup_s = time.monotonic() - t0
        assert greeting_key in self.hello, self.hello
        self.bootstrap: str = self.hello.get("bootstrap", "")

    def _read(self, timeout: float) -> Dict[str, Any]:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no line from harness in {timeout}s")
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError(f"harness exited ({self.proc.wait(5)})")
        return json.loads(line)

    def cmd(self, op: str, timeout: float = 30.0, **kw: Any) -> Dict[str, Any]:
        self.next_id += 1
        req = {"op": op, "id": self.next_id, **kw}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        assert reply.get("id") == self.next_id, reply
        return reply

    def ok(self, op: str, **kw: Any) -> Dict[str, Any]:
        reply = self.cmd(op, **kw)
        assert reply["ok"] is True, reply
        return reply

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(5)
        return self.proc.returncode


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False

