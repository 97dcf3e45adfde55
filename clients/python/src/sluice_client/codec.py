"""Framing (docs/protocol.md §2) and the protobuf messages, shared by both clients."""
from __future__ import annotations

import struct
from typing import List, Sequence

from ._proto import sluice_pb2 as pb
from .errors import ProtocolError
from .records import Partitioner, PartitionSpec, Record, as_bytes

_LENGTH = struct.Struct(">I")

#: Largest reply frame accepted. Replies are small (a Failed message is the biggest);
#: a larger length means the stream is out of step.
MAX_REPLY_BYTES = 1 << 20

#: Refs of ProduceNoAck calls have this bit set, so that a rejection (their only possible
#: reply) is told apart from replies to calls that wait for an answer.
NO_ACK_REF_BIT = 1 << 63


def frame(request: "pb.Request") -> bytes:
    body = request.SerializeToString()
    return _LENGTH.pack(len(body)) + body


def produce_request(ref: int, topic: str, records: Sequence[Record], partition: PartitionSpec,
                    no_ack: bool = False) -> bytes:
    if not topic:
        raise ValueError("topic must not be empty")
    req = pb.Request(ref=ref)
    produce = req.produce_no_ack if no_ack else req.produce
    produce.topic = topic
    if partition is None:
        produce.partitioner = pb.PARTITIONER_HASH
    elif isinstance(partition, Partitioner):
        produce.partitioner = pb.PARTITIONER_RANDOM if partition is Partitioner.RANDOM else pb.PARTITIONER_HASH
    elif isinstance(partition, int) and partition >= 0:
        produce.partition = partition  # a oneof member: 0 is sent, and means partition 0
    else:
        raise ValueError(f"partition must be >= 0, a Partitioner or None, not {partition!r}")
    for r in records:
        rec = produce.records.add(key=as_bytes(r.key), value=as_bytes(r.value),
                                  timestamp_ms=r.timestamp_ms)
        for name, value in r.headers:
            rec.headers.add(key=name, value=as_bytes(value))
    return frame(req)


def ping_request(ref: int) -> bytes:
    req = pb.Request(ref=ref)
    req.ping.SetInParent()
    return frame(req)


def metadata_request(ref: int, topic: str) -> bytes:
    if not topic:
        raise ValueError("topic must not be empty")
    req = pb.Request(ref=ref)
    req.metadata.topic = topic
    return frame(req)


class ReplyReader:
    """Cuts the reply stream into frames and decodes them."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> List["pb.Reply"]:
        self._buf += data
        replies = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 4:
            (size,) = _LENGTH.unpack_from(buf, pos)
            if size > MAX_REPLY_BYTES:
                raise ProtocolError(f"reply frame of {size} bytes (at most {MAX_REPLY_BYTES} expected)")
            if len(buf) - pos - 4 < size:
                break
            reply = pb.Reply()
            try:
                reply.ParseFromString(bytes(buf[pos + 4:pos + 4 + size]))
            except Exception as e:  # protobuf's DecodeError, or worse on garbage
                raise ProtocolError(f"undecodable reply frame: {e}") from e
            replies.append(reply)
            pos += 4 + size
        del buf[:pos]
        return replies
