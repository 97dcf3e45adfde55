"""`consume`: read a topic back with confluent-kafka's Consumer, print JSON lines.

One line per record, sorted by (partition, offset):
  {"partition":p,"offset":o,"key":<base64|null>,"value":<base64|null>,
   "headers":[[name,<base64|null>],...],"timestamp":ms,"timestamp_type":t}
timestamp_type: 0 not available, 1 CreateTime, 2 LogAppendTime.

Reading stops when --expect records were seen, when no record came for --idle-ms,
or at --timeout-s. Watermarks and partition EOF are not used: Tansu's ListOffsets
"latest" is the last batch's base offset + 1, not the log end, so only "nothing
more arrives" is a reliable end on both brokers.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
import uuid
from typing import Any, Dict, List, Optional

from . import common
from .common import log


def b64(data: Optional[bytes]) -> Optional[str]:
    # None (a null key/value/header) stays null; b'' becomes "" - they differ.
    return None if data is None else base64.b64encode(data).decode("ascii")


def consumer_config(bootstrap: str, isolation: str, ssl_ca: Optional[str] = None) -> Dict[str, Any]:
    config: Dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        # A fresh group each run; nothing is committed (offsets are assigned
        # explicitly), which also keeps Tansu's group coordinator out of the way.
        "group.id": f"sluice-harness-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Verify every batch's CRC-32C, i.e. check what our producer wrote.
        "check.crcs": True,
        "isolation.level": isolation,
        # Short fetch waits so the idle timeout, not the broker, ends the read.
        "fetch.wait.max.ms": 100,
        "socket.connection.setup.timeout.ms": 5000,
        # Neither broker needs protocol tweaks (api.version.request stays on,
        # no broker.version.fallback) with the bundled librdkafka 2.16.
        "log_level": 4,
    }
    if ssl_ca:
        # TLS with the given CA; librdkafka also checks the broker's name/IP against
        # the certificate (ssl.endpoint.identification.algorithm=https, its default).
        config["security.protocol"] = "ssl"
        config["ssl.ca.location"] = ssl_ca
    return config


def topic_partitions(consumer, topic: str, deadline: float) -> List[int]:
    last = "no metadata"
    while time.monotonic() < deadline:
        try:
            md = consumer.list_topics(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        except Exception as exc:
            last = str(exc)
            time.sleep(0.1)
            continue
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        last = f"topic {topic!r} not in metadata" if t is None else f"topic error {t.error}"
        time.sleep(0.1)
    raise RuntimeError(f"no partitions for {topic!r}: {last}")


def read(bootstrap: str, topic: str, partitions: Optional[List[int]], expect: Optional[int],
         idle_ms: int, timeout_s: float, isolation: str = "read_committed",
         ssl_ca: Optional[str] = None) -> List[Dict[str, Any]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    deadline = time.monotonic() + timeout_s
    consumer = Consumer(consumer_config(bootstrap, isolation, ssl_ca))
    records: Dict[tuple, Dict[str, Any]] = {}
    try:
        parts = partitions if partitions is not None else topic_partitions(consumer, topic, deadline)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        last_record = time.monotonic()
        while True:
            now = time.monotonic()
            if expect is not None and len(records) >= expect:
                break
            if now >= deadline:
                log(f"consume: timeout after {timeout_s}s with {len(records)} records")
                break
            if (now - last_record) * 1000 >= idle_ms:
                break
            wait = min(0.2, deadline - now, idle_ms / 1000.0)
            for m in consumer.consume(num_messages=1000, timeout=max(0.01, wait)):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.retriable() and not err.fatal():
                        log(f"consume: retriable error: {err}")
                        continue
                    raise RuntimeError(f"consumer error: {err}")
                ts_type, ts = m.timestamp()
                records[(m.partition(), m.offset())] = {
                    "partition": m.partition(),
                    "offset": m.offset(),
                    "key": b64(m.key()),
                    "value": b64(m.value()),
                    "headers": [[name, b64(val)] for name, val in (m.headers() or [])],
                    "timestamp": ts,
                    "timestamp_type": ts_type,
                }
                last_record = time.monotonic()
    finally:
        consumer.close()
    return [records[k] for k in sorted(records)]


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness consume")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", help="comma-separated partition ids (default: all)")
    ap.add_argument("--expect", type=int, help="stop after this many records")
    ap.add_argument("--idle-ms", type=int, default=3000, help="stop after this long without a record")
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--isolation", choices=["read_committed", "read_uncommitted"],
                    default="read_committed")
    ap.add_argument("--ssl-ca", help="connect with TLS, trusting this CA file (PEM)")
    args = ap.parse_args(argv)

    out = common.claim_stdout()
    partitions = None
    if args.partitions:
        try:
            partitions = [int(p) for p in args.partitions.split(",") if p.strip()]
        except ValueError:
            print(f"consume: bad --partitions {args.partitions!r}", file=sys.stderr)
            return 2
    try:
        records = read(args.bootstrap, args.topic, partitions, args.expect, args.idle_ms,
                       args.timeout_s, args.isolation, args.ssl_ca)
    except Exception as exc:
        print(f"consume: {exc}", file=sys.stderr)
        return 1
    for r in records:
        common.emit(r)
    out.flush()
    if args.expect is not None and len(records) != args.expect:
        log(f"consume: expected {args.expect} records, read {len(records)}")
    return 0
