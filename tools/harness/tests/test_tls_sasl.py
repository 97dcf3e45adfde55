"""Self-tests of the TLS and SASL helpers: test certificates, Tansu advertising a
stunnel port, TLS read-back with `consume --ssl-ca`, and the scramp SCRAM server."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Dict

import pytest

from helpers import Server, b64, pid_alive, run_harness, wait_dead


def make_certs(directory) -> Dict[str, str]:
    res = run_harness(["certs", "--dir", str(directory)])
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def verify(ca: str, cert: str) -> bool:
    res = subprocess.run(["openssl", "verify", "-CAfile", ca, cert], capture_output=True, timeout=30)
    return res.returncode == 0


def test_certs(tmp_path) -> None:
    c = make_certs(tmp_path)
    for leaf in ("server_cert", "client_cert", "elsewhere_cert"):
        assert verify(c["ca"], c[leaf]), leaf
        assert not verify(c["other_ca"], c[leaf]), leaf
    text = subprocess.run(["openssl", "x509", "-in", c["server_cert"], "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, timeout=30).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    text = subprocess.run(["openssl", "x509", "-in", c["elsewhere_cert"], "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, timeout=30).stdout
    assert "127.0.0.1" not in text and "localhost" not in text


def test_tansu_behind_stunnel(tmp_path) -> None:
    from confluent_kafka import Producer

    c = make_certs(tmp_path)
    tansu = Server(["tansu", "--advertise-port", "0"])
    try:
        assert tansu.hello["advertised"] != tansu.bootstrap
        plain_port = tansu.bootstrap.split(":")[1]
        tls_port = tansu.hello["advertised"].split(":")[1]
        tunnel = Server(["stunnel", "--accept-port", tls_port, "--connect-port", plain_port,
                         "--cert", c["server_cert"], "--key", c["server_key"], "--dir", str(tmp_path)],
                        greeting_key="accept")
        try:
            stunnel_pid = tunnel.hello["pid"]
            assert pid_alive(stunnel_pid)
            assert (tmp_path / "stunnel.pid").exists()
            tansu.ok("create_topic", topic="tls", partitions=1)
            producer = Producer({"bootstrap.servers": tansu.hello["advertised"], "security.protocol": "ssl",
                                 "ssl.ca.location": c["ca"], "log_level": 3})
            for i in range(3):
                producer.produce("tls", value=f"v{i}".encode(), partition=0)
            assert producer.flush(20) == 0
            res = run_harness(["consume", "--bootstrap", tansu.hello["advertised"], "--topic", "tls",
                               "--expect", "3", "--timeout-s", "20", "--ssl-ca", c["ca"]])
            assert res.returncode == 0, res.stderr
            assert [json.loads(l)["value"] for l in res.stdout.splitlines()] == [b64(b"v0"), b64(b"v1"), b64(b"v2")]
            # The CA is really checked: another CA cannot even fetch metadata.
            res = run_harness(["consume", "--bootstrap", tansu.hello["advertised"], "--topic", "tls",
                               "--timeout-s", "3", "--ssl-ca", c["other_ca"]])
            assert res.returncode == 1, res.stdout
        finally:
            assert tunnel.close() == 0
        assert wait_dead(stunnel_pid), "stunnel survived its harness"
    finally:
        tansu.close()


def test_stunnel_dies_with_killed_harness(tmp_path) -> None:
    c = make_certs(tmp_path)
    tunnel = Server(["stunnel", "--accept-port", "0", "--connect-port", "1", "--cert", c["server_cert"],
                     "--key", c["server_key"], "--dir", str(tmp_path)], greeting_key="ok")
    assert tunnel.hello["ok"] is False  # port 0 is not a port stunnel can accept on
    tunnel.close()

    from sluice_harness.common import free_port

    tunnel = Server(["stunnel", "--accept-port", str(free_port()), "--connect-port", "1",
                     "--cert", c["server_cert"], "--key", c["server_key"], "--dir", str(tmp_path)],
                    greeting_key="accept")
    pid = tunnel.hello["pid"]
    tunnel.proc.kill()
    tunnel.proc.wait(5)
    assert wait_dead(pid), "stunnel survived SIGKILL of its harness"


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_server(mechanism: str) -> None:
    from scramp import ScramClient

    server = Server(["scram-server"], greeting_key="scramp")
    try:
        for password, ok in (("pencil", True), ("crayon", False)):
            server.ok("start", mechanism=mechanism, username="a=b,c", password="pencil")
            client = ScramClient([mechanism], "a=b,c", password)
            enc = lambda s: base64.b64encode(s.encode()).decode()
            dec = lambda s: base64.b64decode(s).decode()
            first = server.ok("client_first", message=enc(client.get_client_first()))
            assert first["username"] == "a=b,c"
            client.set_server_first(dec(first["message"]))
            final = server.ok("client_final", message=enc(client.get_client_final()))
            assert final["authenticated"] is ok, final
            if ok:
                client.set_server_final(dec(final["message"]))
            else:
                assert dec(final["message"]).startswith("e=")
        assert server.cmd("client_final", message="")["ok"] is False  # no exchange started
    finally:
        assert server.close() == 0
