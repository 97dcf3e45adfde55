"""sluice-client example: pipeline a few calls, wait for them, then one synchronous call.

    python examples/produce.py /run/sluice/sluiced.sock my-topic
"""
import sys

from sluice_client import CallFailed, Client, ConnectionLost, Record


def main(socket_path: str, topic: str) -> int:
    with Client(socket_path) as c:
        print("sluiced", c.ping())
        handles = [c.produce(topic, Record(b"hello %d" % i, key=b"greeting", headers=[("source", b"example")]))
                   for i in range(10)]
        for h in handles:
            try:
                offset = h.result(timeout=30)  # h.partition is known from here on
                print(f"ref {h.ref} acked: partition {h.partition} offset {offset}")
            except CallFailed as e:
                print(f"ref {h.ref} failed: {e.code.name}: {e.message}", file=sys.stderr)
            except ConnectionLost as e:
                print(f"ref {h.ref} in doubt: {e}", file=sys.stderr)
        ack = c.produce_sync(topic, b"bye", partition=0)
        print(f"sync call acked: partition {ack.partition} offset {ack.offset}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} SOCKET TOPIC")
    sys.exit(main(sys.argv[1], sys.argv[2]))
