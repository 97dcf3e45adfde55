"""`faultproxy`: a TCP relay in front of a real broker that can lose responses.

Not a broker: every byte goes to and from the real broker behind it. It understands
only Kafka's framing (4-byte length, then api key / correlation id in requests and the
correlation id in responses), so that it can do what a network does to a producer:
deliver a request, then lose the answer and the connection.

It holds its listening port for its whole life: a broker advertises that port, and a
port given back between two relays could be taken by another process in between. So
the target can be set after the start (start the relay, then the broker advertising
its port), and an outage is a mode, not a stopped relay.

Prints {"listen":"127.0.0.1:PORT"} and serves JSON-line commands on stdin:

  {"op":"set_target","target":"127.0.0.1:9092"}
      where new connections are relayed to (until set, they are reset at once);
  {"op":"outage","on":true}
      while on, every relayed connection is closed and new ones are reset as soon as
      they are accepted: for a client, the broker is unreachable, as if the relay had
      stopped, but the port stays this relay's;

  {"op":"drop_responses","api_key":0,"count":1}
      the next `count` responses to requests of `api_key` are thrown away and the
      client's connection closed, after the broker handled the request;
  {"op":"swallow_responses","api_key":0,"on":true}
      while on, every response to a request of `api_key` is thrown away and the
      connection kept: requests still reach the broker (and are handled), the client
      never hears back, as when a process dies with its requests on the wire;
  {"op":"stats"}   counts of connections relayed, requests relayed, responses dropped
      and swallowed, and connections refused (no target yet, or an outage);
  {"op":"quit"}
"""

from __future__ import annotations

import argparse
import socket
import struct
import threading
from typing import Any, Dict, List, Optional

from . import common
from .common import LOOPBACK, log


class Proxy:
    def __init__(self, target: Optional[str], port: int) -> None:
        self.target = _address(target) if target else None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, port))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.drop: Dict[int, int] = {}
        self.swallow: set = set()
        self.down = False
        self.open: set = set()  # the relayed connections
        self.stats = {"connections": 0, "requests": 0, "dropped": 0, "swallowed": 0, "refused": 0}

    def serve_forever(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                target = None if self.down else self.target
                if target is None:
                    self.stats["refused"] += 1
            if target is None:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(target, timeout=5)
                upstream.settimeout(None)
            except OSError as exc:
                log(f"upstream connect failed: {exc}")
                client.close()
                continue
            conn = _Connection(self, client, upstream)
            with self.lock:
                if self.down:  # went down while connecting upstream
                    self.stats["refused"] += 1
                    conn.close()
                    continue
                self.stats["connections"] += 1
                self.open.add(conn)
            threading.Thread(target=conn.client_to_broker, daemon=True).start()
            threading.Thread(target=conn.broker_to_client, daemon=True).start()

    def take_drop(self, api_key: int) -> bool:
        with self.lock:
            left = self.drop.get(api_key, 0)
            if left <= 0:
                return False
            self.drop[api_key] = left - 1
            self.stats["dropped"] += 1
            return True

    def take_swallow(self, api_key: int) -> bool:
        with self.lock:
            if api_key not in self.swallow:
                return False
            self.stats["swallowed"] += 1
            return True

    def forget(self, conn: "_Connection") -> None:
        with self.lock:
            self.open.discard(conn)

    # commands
    def set_target(self, req: Dict[str, Any]) -> Dict[str, Any]:
        target = _address(str(req["target"]))
        with self.lock:
            self.target = target
        return {"ok": True}

    def outage(self, req: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            self.down = bool(req.get("on", True))
            closing = list(self.open) if self.down else []
        for conn in closing:  # each forgets itself
            conn.close()
        return {"ok": True, "closed": len(closing)}

    def swallow_responses(self, req: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            if req.get("on", True):
                self.swallow.add(int(req["api_key"]))
            else:
                self.swallow.discard(int(req["api_key"]))
        return {"ok": True}

    def drop_responses(self, req: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            self.drop[int(req["api_key"])] = self.drop.get(int(req["api_key"]), 0) + int(req.get("count", 1))
        return {"ok": True}

    def get_stats(self, req: Dict[str, Any]) -> Dict[str, Any]:
        with self.lock:
            return {"ok": True, **self.stats}


def _address(target: str):
    host, port = target.rsplit(":", 1)
    return (host, int(port))


def _reset(sock: socket.socket) -> None:
    """Closes with a RST, as a connect to a port nobody listens on ends."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _read_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class _Connection:
    def __init__(self, proxy: Proxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.api_keys: Dict[int, int] = {}  # correlation id -> api key

    def close(self) -> None:
        self.proxy.forget(self)
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def client_to_broker(self) -> None:
        try:
            while True:
                head = _read_exact(self.client, 4)
                if head is None:
                    break
                (n,) = struct.unpack(">i", head)
                body = _read_exact(self.client, n)
                if body is None:
                    break
                api_key, _, corr = struct.unpack(">hhi", body[:8])
                with self.lock:
                    self.api_keys[corr] = api_key
                with self.proxy.lock:
                    self.proxy.stats["requests"] += 1
                self.upstream.sendall(head + body)
        except OSError:
            pass
        self.close()

    def broker_to_client(self) -> None:
        try:
            while True:
                head = _read_exact(self.upstream, 4)
                if head is None:
                    break
                (n,) = struct.unpack(">i", head)
                body = _read_exact(self.upstream, n)
                if body is None:
                    break
                (corr,) = struct.unpack(">i", body[:4])
                with self.lock:
                    api_key = self.api_keys.pop(corr, -1)
                if self.proxy.take_swallow(api_key):
                    continue
                if self.proxy.take_drop(api_key):
                    log(f"dropping the response to api key {api_key} (correlation {corr}) and the connection")
                    break
                self.client.sendall(head + body)
        except OSError:
            pass
        self.close()


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness faultproxy")
    ap.add_argument("--target", help="HOST:PORT of the real broker (or later, by set_target)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--max-lifetime-s", type=float, default=common.DEFAULT_MAX_LIFETIME_S)
    args = ap.parse_args(argv)
    common.claim_stdout()
    common.install_stop_signals()
    proxy = Proxy(args.target, args.port)
    proxy.serve_forever()
    common.start_watchdog(lambda: None, args.max_lifetime_s)
    common.emit({"listen": f"{LOOPBACK}:{proxy.port}"})
    try:
        common.serve(
            {"drop_responses": proxy.drop_responses, "swallow_responses": proxy.swallow_responses,
             "set_target": proxy.set_target, "outage": proxy.outage, "stats": proxy.get_stats}
        )
    except common.Stop as stop:
        log(f"stopping: {stop}")
    return 0
