"""python -m sluice_harness {tansu|mock|consume|produce|certs|stunnel|scram-server} [options]"""

from __future__ import annotations

import sys

USAGE = """usage: python -m sluice_harness <command> [options]

commands:
  tansu     run a Tansu broker on 127.0.0.1, serve JSON-line commands on stdin
  mock      run librdkafka's mock cluster, serve JSON-line commands on stdin
  consume   read a topic back, one JSON line per record
  produce   produce records with confluent-kafka (sanity checks)
  faultproxy  relay to a broker that can lose responses (fault injection)
  certs     write a test CA, server and client certificates (openssl) into a directory
  stunnel   run stunnel: TLS on one loopback port, forwarded to a plaintext one
  scram-server  an independent SCRAM server (scramp) over JSON lines

'<command> --help' tells more; tools/harness/README.md describes the protocol.
"""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stderr.write(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "tansu":
        from . import tansu as mod
    elif cmd == "mock":
        from . import mock as mod
    elif cmd == "consume":
        from . import consume as mod
    elif cmd == "produce":
        from . import produce as mod
    elif cmd == "faultproxy":
        from . import faultproxy as mod
    elif cmd == "certs":
        from . import tls

        return tls.certs_main(rest)
    elif cmd == "stunnel":
        from . import tls

        return tls.stunnel_main(rest)
    elif cmd == "scram-server":
        from . import scram_server as mod
    else:
        sys.stderr.write(f"unknown command {cmd!r}\n\n{USAGE}")
        return 2
    return mod.main(rest)


if __name__ == "__main__":
    sys.exit(main())
