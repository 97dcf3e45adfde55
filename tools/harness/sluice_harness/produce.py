"""`produce`: produce records with confluent-kafka (sanity checks and self-tests).

Either --count N generated records (key "<key-prefix><i>", value "<value-prefix><i>"),
or --stdin: one JSON object per line,
  {"key":<base64|null>,"value":<base64|null>,"headers":[[name,<base64|null>]],
   "timestamp":ms,"partition":p}   (every field optional; missing key/value = null)
Prints one JSON line per record in input order: {"index":i,"partition":p,"offset":o}.
Exits 1 if any record was not delivered.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from typing import Any, Dict, List, Optional

from . import common


def unb64(v: Optional[str]) -> Optional[bytes]:
    return None if v is None else base64.b64decode(v)


def produce(bootstrap: str, topic: str, records: List[Dict[str, Any]], compression: str = "none",
            idempotent: bool = False, timeout_s: float = 30.0,
            partitioner: Optional[str] = None) -> List[Dict[str, Any]]:
    from confluent_kafka import Producer

    conf: Dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "compression.type": compression,
        "enable.idempotence": idempotent,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": int(timeout_s * 1000),
        "log_level": 4,
    }
    if partitioner:
        # librdkafka's partitioners, e.g. murmur2_random (Java-compatible murmur2 for keys).
        conf["partitioner"] = partitioner
    producer = Producer(conf)
    results: List[Optional[Dict[str, Any]]] = [None] * len(records)

    def on_delivery(index: int):
        def cb(err, msg):
            # Note: a Message with an empty value is falsy (len 0); test for None.
            if err is not None:
                results[index] = {"index": index, "error": str(err)}
            else:
                results[index] = {"index": index, "partition": msg.partition(), "offset": msg.offset()}
        return cb

    deadline = time.monotonic() + timeout_s
    for i, r in enumerate(records):
        kwargs: Dict[str, Any] = {"value": unb64(r.get("value")), "key": unb64(r.get("key")),
                                  "on_delivery": on_delivery(i)}
        if r.get("headers") is not None:
            kwargs["headers"] = [(h[0], unb64(h[1])) for h in r["headers"]]
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = int(r["timestamp"])
        if r.get("partition") is not None:
            kwargs["partition"] = int(r["partition"])
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise RuntimeError("producer queue full until timeout")
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(max(0.1, deadline - time.monotonic()))
    if left:
        raise RuntimeError(f"{left} records not delivered in {timeout_s}s")
    return [r if r is not None else {"index": i, "error": "no delivery report"}
            for i, r in enumerate(results)]


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness produce")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--partition", type=int, help="partition for generated records")
    ap.add_argument("--key-prefix", default="key-")
    ap.add_argument("--value-prefix", default="value-")
    ap.add_argument("--null-keys", action="store_true")
    ap.add_argument("--stdin", action="store_true", help="read JSON-line records from stdin")
    ap.add_argument("--compression", default="none",
                    choices=["none", "gzip", "snappy", "lz4", "zstd"])
    ap.add_argument("--idempotent", action="store_true")
    ap.add_argument("--partitioner", help="librdkafka partitioner, e.g. murmur2_random")
    ap.add_argument("--timeout-s", type=float, default=30.0)
    args = ap.parse_args(argv)

    common.claim_stdout()
    if args.stdin:
        records = [json.loads(line) for line in sys.stdin if line.strip()]
    else:
        records = []
        for i in range(args.count):
            records.append({
                "key": None if args.null_keys else base64.b64encode(f"{args.key_prefix}{i}".encode()).decode(),
                "value": base64.b64encode(f"{args.value_prefix}{i}".encode()).decode(),
                "partition": args.partition,
            })
    try:
        results = produce(args.bootstrap, args.topic, records, args.compression,
                          args.idempotent, args.timeout_s, args.partitioner)
    except Exception as exc:
        print(f"produce: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for r in results:
        common.emit(r)
        failed += "error" in r
    if failed:
        print(f"produce: {failed} of {len(results)} records failed", file=sys.stderr)
        return 1
    return 0
