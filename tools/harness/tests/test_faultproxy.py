"""The fault relay in front of Tansu: a target set after the start, and an outage that
keeps the relay's port (the Swift tests start the relay first and let Tansu advertise
its port, so the port must never be given back while a test runs)."""

from __future__ import annotations

import socket
import struct
from typing import Optional

import pytest

from helpers import Server
from sluice_harness.faultproxy import _read_exact as _read


def api_versions(port: int, correlation: int) -> Optional[int]:
    """Sends ApiVersions v0 through the relay; the correlation id of the answer, or None
    when the connection is reset or closed first."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            body = struct.pack(">hhih", 18, 0, correlation, 4) + b"test"
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _read(s, 4)
            if head is None:
                return None
            answer = _read(s, struct.unpack(">i", head)[0])
            return None if answer is None else struct.unpack(">i", answer[:4])[0]
    except (ConnectionResetError, BrokenPipeError):
        return None


@pytest.fixture
def relay():
    server = Server(["faultproxy"], greeting_key="listen")
    yield server
    assert server.close() == 0


def port_of(relay: Server) -> int:
    return int(relay.hello["listen"].rsplit(":", 1)[1])


def test_no_target_resets_then_relays(relay: Server, tansu: Server) -> None:
    port = port_of(relay)
    assert api_versions(port, 7) is None
    assert relay.ok("stats")["refused"] == 1
    relay.ok("set_target", target=tansu.bootstrap)
    assert api_versions(port, 8) == 8
    stats = relay.ok("stats")
    assert (stats["connections"], stats["requests"]) == (1, 1)


def test_outage_closes_connections_and_keeps_the_port(relay: Server, tansu: Server) -> None:
    port = port_of(relay)
    relay.ok("set_target", target=tansu.bootstrap)
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    # The relayed connection is open (a request goes through) before the outage.
    body = struct.pack(">hhih", 18, 0, 1, 4) + b"test"
    held.sendall(struct.pack(">i", len(body)) + body)
    head = _read(held, 4)
    assert head is not None
    assert struct.unpack(">i", (_read(held, struct.unpack(">i", head)[0]) or b"")[:4])[0] == 1

    assert relay.ok("outage", on=True)["closed"] == 1
    held.settimeout(10)
    try:
        assert held.recv(1) == b"", "the relayed connection ends with the outage"
    except ConnectionResetError:
        pass
    held.close()
    assert api_versions(port, 2) is None
    # Nobody else can take the port while the relay is down.
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        other.bind(("127.0.0.1", port))
    other.close()

    relay.ok("outage", on=False)
    assert api_versions(port, 3) == 3
    assert relay.ok("stats")["refused"] == 1
