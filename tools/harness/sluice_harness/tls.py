"""TLS for the integration tests: test certificates made with openssl, and stunnel in
front of a plaintext broker.

`certs --dir D` writes into D (a temp dir the caller owns and deletes):
  ca.pem/ca.key            test CA
  server.pem/server.key    server certificate signed by the CA,
                           SAN IP:127.0.0.1 and DNS:localhost, serverAuth
  client.pem/client.key    client certificate signed by the CA, clientAuth (mutual TLS)
  elsewhere.pem/elsewhere.key  server certificate signed by the CA for another host:
                           SAN DNS:kafka.elsewhere.invalid and IP:192.0.2.1 (neither
                           127.0.0.1 nor localhost), for name/address mismatch tests
  other-ca.pem/other-ca.key  an unrelated CA (a "wrong CA" for the client to trust)
and prints one JSON line with those paths. Keys are EC P-256 (quick to generate),
certificates valid from now for 2 days.

`stunnel --accept-port P --connect-port Q --cert C --key K [--client-ca CA] --dir D`
runs Debian's stunnel in the foreground: TLS on 127.0.0.1:P, forwarded in plaintext
to 127.0.0.1:Q. With --client-ca it requires a client certificate signed by CA.
Its config and pid file go in D. Prints {"accept":"127.0.0.1:P","pid":N} once P
accepts connections, then serves JSON-line commands like `tansu` (ping, quit);
stdin EOF, quit or a signal stop it (SIGTERM, then SIGKILL). stunnel gets
PR_SET_PDEATHSIG=SIGKILL, so it dies with this harness however that ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import time
from typing import Dict, List, Optional

from . import common
from .common import LOOPBACK, log

OPENSSL_TIMEOUT_S = 30.0
STUNNEL_STARTUP_TIMEOUT_S = 10.0


def _openssl(args: List[str]) -> None:
    res = subprocess.run(["openssl"] + args, stdin=subprocess.DEVNULL, capture_output=True,
                         timeout=OPENSSL_TIMEOUT_S)
    if res.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed ({res.returncode}): "
                           f"{res.stderr.decode('utf-8', 'replace').strip()}")


def _make_ca(directory: str, name: str, common_name: str) -> Dict[str, str]:
    cert = os.path.join(directory, f"{name}.pem")
    key = os.path.join(directory, f"{name}.key")
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={common_name}",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return {"cert": cert, "key": key}


def _make_leaf(directory: str, name: str, common_name: str, ca: Dict[str, str],
               extensions: List[str]) -> Dict[str, str]:
    cert = os.path.join(directory, f"{name}.pem")
    key = os.path.join(directory, f"{name}.key")
    csr = os.path.join(directory, f"{name}.csr")
    ext = os.path.join(directory, f"{name}.ext")
    with open(ext, "w", encoding="ascii") as f:
        f.write("\n".join(["basicConstraints=critical,CA:FALSE",
                           "authorityKeyIdentifier=keyid",
                           "subjectKeyIdentifier=hash"] + extensions) + "\n")
    _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}"])
    _openssl(["x509", "-req", "-in", csr, "-CA", ca["cert"], "-CAkey", ca["key"],
              "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
              "-days", "2", "-extfile", ext, "-out", cert])
    return {"cert": cert, "key": key}


def make_certs(directory: str) -> Dict[str, str]:
    """Writes the test CA, server and client certificates and an unrelated CA."""
    os.makedirs(directory, exist_ok=True)
    ca = _make_ca(directory, "ca", "Sluice Test CA")
    other = _make_ca(directory, "other-ca", "Sluice Unrelated Test CA")
    server = _make_leaf(directory, "server", "localhost", ca, [
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ])
    elsewhere = _make_leaf(directory, "elsewhere", "kafka.elsewhere.invalid", ca, [
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        "subjectAltName=DNS:kafka.elsewhere.invalid,IP:192.0.2.1",
    ])
    client = _make_leaf(directory, "client", "sluice-test-client", ca, [
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=clientAuth",
    ])
    return {
        "ca": ca["cert"], "ca_key": ca["key"],
        "server_cert": server["cert"], "server_key": server["key"],
        "elsewhere_cert": elsewhere["cert"], "elsewhere_key": elsewhere["key"],
        "client_cert": client["cert"], "client_key": client["key"],
        "other_ca": other["cert"], "other_ca_key": other["key"],
    }


def stunnel_config(directory: str, accept_port: int, connect_port: int, cert: str, key: str,
                   client_ca: Optional[str]) -> str:
    lines = [
        "foreground = yes",
        f"pid = {os.path.join(directory, 'stunnel.pid')}",
        "syslog = no",
        "debug = notice",
        "[kafka]",
        f"accept = {LOOPBACK}:{accept_port}",
        f"connect = {LOOPBACK}:{connect_port}",
        f"cert = {cert}",
        f"key = {key}",
        "sslVersionMin = TLSv1.2",
    ]
    if client_ca:
        lines += [f"CAfile = {client_ca}", "verifyChain = yes", "requireCert = yes"]
    path = os.path.join(directory, "stunnel.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Stunnel:
    def __init__(self, config: str, accept_port: int) -> None:
        self.config = config
        self.accept_port = accept_port
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        binary = shutil.which("stunnel") or shutil.which("stunnel4")
        if binary is None:
            raise RuntimeError("no stunnel binary (Debian package stunnel4); run scripts/bootstrap")
        # stdout/stderr: our stderr (fd 1 was pointed at it by claim_stdout).
        self.proc = subprocess.Popen([binary, self.config], stdin=subprocess.DEVNULL,
                                     stdout=2, stderr=2, preexec_fn=common.set_pdeathsig_kill,
                                     close_fds=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not common.port_accepts(self.accept_port, timeout=0.5):
            if not self.alive():
                raise RuntimeError(f"stunnel exited with {self.proc.returncode} before listening "
                                   f"(port {self.accept_port} taken?)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"stunnel did not listen on port {self.accept_port} in {timeout_s}s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"stunnel pid {self.proc.pid} did not exit after SIGKILL")


def certs_main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness certs")
    ap.add_argument("--dir", required=True, help="directory to write the PEM files into")
    args = ap.parse_args(argv)
    common.claim_stdout()
    try:
        paths = make_certs(args.dir)
    except Exception as exc:  # openssl failure, timeout, unwritable directory
        log(f"certs: {exc}")
        return 1
    common.emit(paths)
    return 0


def stunnel_main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness stunnel")
    ap.add_argument("--accept-port", type=int, required=True, help="TLS port on 127.0.0.1")
    ap.add_argument("--connect-port", type=int, required=True, help="plaintext port on 127.0.0.1")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="server private key (PEM)")
    ap.add_argument("--client-ca", help="require client certificates signed by this CA (PEM)")
    ap.add_argument("--dir", required=True, help="directory for stunnel's config and pid file")
    ap.add_argument("--startup-timeout-s", type=float, default=STUNNEL_STARTUP_TIMEOUT_S)
    ap.add_argument("--max-lifetime-s", type=float, default=common.DEFAULT_MAX_LIFETIME_S)
    args = ap.parse_args(argv)

    common.claim_stdout()
    common.install_stop_signals()
    tunnel: Optional[Stunnel] = None

    def body() -> None:
        nonlocal tunnel
        for name, port in (("accept", args.accept_port), ("connect", args.connect_port)):
            if not 0 < port < 65536:
                raise ValueError(f"--{name}-port {port} is not a port")
        config = stunnel_config(args.dir, args.accept_port, args.connect_port, args.cert, args.key,
                                args.client_ca)
        tunnel = Stunnel(config, args.accept_port)
        tunnel.start()
        tunnel.wait_ready(args.startup_timeout_s)
        log(f"stunnel pid {tunnel.proc.pid}: TLS {LOOPBACK}:{args.accept_port} -> "
            f"{LOOPBACK}:{args.connect_port}")
        common.start_watchdog(tunnel.stop, args.max_lifetime_s)
        common.emit({"accept": f"{LOOPBACK}:{args.accept_port}", "pid": tunnel.proc.pid})
        common.serve({})
    return common.run_server(body, lambda: tunnel.stop() if tunnel is not None else None)
