"""`scram-server`: an independent SCRAM server (PyPI scramp) for testing Sluice's
SCRAM client, over JSON lines on stdin/stdout (see common.serve). Greeting:
{"scramp": VERSION}. Messages travel base64-encoded.

  {"op":"start","mechanism":"SCRAM-SHA-256"|"SCRAM-SHA-512","username":u,"password":p,
   ["iterations":4096], ["salt":b64], ["server_nonce":s]}
      -> {"ok":true}                        a fresh exchange; the server knows user u
                                            with password p
  {"op":"client_first","message":b64}
      -> {"ok":true,"message":b64(server-first),"username":<user as the server read it>}
  {"op":"client_final","message":b64}
      -> {"ok":true,"message":b64(server-final),"authenticated":bool,"error":str|null}

A refused proof is not a command failure: server-final then is `e=...` and
"authenticated" false, as a real SCRAM server would answer (a Kafka broker answers
with SASL_AUTHENTICATION_FAILED instead; the Swift test maps that itself).
"""

from __future__ import annotations

import argparse
import base64
from typing import Any, Dict, List, Optional

from . import common
from .common import log


class Exchange:
    def __init__(self) -> None:
        self.server = None
        self.username: Optional[str] = None
        self.seen_username: Optional[str] = None

    def start(self, req: Dict[str, Any]) -> Dict[str, Any]:
        from scramp import ScramMechanism

        mechanism = common.require(req, "mechanism", str)
        if mechanism not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise ValueError(f"unsupported mechanism {mechanism!r}")
        self.username = common.require(req, "username", str)
        password = common.require(req, "password", str)
        iterations = req.get("iterations", 4096)
        salt = base64.b64decode(req["salt"]) if req.get("salt") else None
        m = ScramMechanism(mechanism)
        salt, stored_key, server_key, iterations = m.make_auth_info(
            password, iteration_count=iterations, salt=salt)

        def auth_fn(username: str):
            from scramp import ScramException
            from scramp.core import ServerError

            self.seen_username = username
            if username != self.username:
                raise ScramException(f"unknown user {username!r}", ServerError.UNKNOWN_USER)
            return salt, stored_key, server_key, iterations

        self.server = m.make_server(auth_fn, s_nonce=req.get("server_nonce"))
        self.seen_username = None
        return {"ok": True}

    def client_first(self, req: Dict[str, Any]) -> Dict[str, Any]:
        if self.server is None:
            raise ValueError("no exchange started")
        message = base64.b64decode(common.require(req, "message", str)).decode("utf-8")
        self.server.set_client_first(message)
        first = self.server.get_server_first()
        return {"message": base64.b64encode(first.encode("utf-8")).decode("ascii"),
                "username": self.seen_username}

    def client_final(self, req: Dict[str, Any]) -> Dict[str, Any]:
        from scramp import ScramException

        if self.server is None:
            raise ValueError("no exchange started")
        message = base64.b64decode(common.require(req, "message", str)).decode("utf-8")
        error: Optional[str] = None
        try:
            self.server.set_client_final(message)
        except ScramException as exc:
            error = str(exc)
        final = self.server.get_server_final()
        self.server = None
        return {"message": base64.b64encode(final.encode("utf-8")).decode("ascii"),
                "authenticated": error is None, "error": error}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness scram-server")
    ap.add_argument("--max-lifetime-s", type=float, default=600.0)
    args = ap.parse_args(argv)

    common.claim_stdout()
    common.install_stop_signals()
    try:
        import scramp
    except ImportError:
        common.emit({"ok": False, "error": "scramp is not installed; run scripts/bootstrap"})
        return 1
    exchange = Exchange()
    common.start_watchdog(lambda: None, args.max_lifetime_s)
    try:
        common.emit({"scramp": getattr(scramp, "__version__", "?")})
        common.serve({
            "start": exchange.start,
            "client_first": exchange.client_first,
            "client_final": exchange.client_final,
        })
    except common.Stop as stop:
        log(f"stopping: {stop}")
    return 0
