"""What a reply means for the call it answers, for both clients."""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

from ._proto import sluice_pb2 as pb
from .errors import CallFailed, ProtocolError, SluiceError, call_failed
from .records import Ack

PING = "ping"
METADATA = "metadata"


class ProduceStep(NamedTuple):
    """A reply to a produce call: ``buffered`` (not final), or its final ack or failure."""

    final: bool
    partition: int
    ack: Optional[Ack] = None
    error: Optional[CallFailed] = None


def failure(f: "pb.Failed") -> CallFailed:
    return call_failed(f.code, f.message, f.kafka_error, f.partition, f.persistence)


def produce_step(reply: "pb.Reply") -> Optional[ProduceStep]:
    kind = reply.WhichOneof("kind")
    if kind == "buffered":
        return ProduceStep(False, reply.buffered.partition)
    if kind == "acked":
        return ProduceStep(True, reply.acked.partition, Ack(reply.acked.partition, reply.acked.base_offset))
    if kind == "failed":
        return ProduceStep(True, reply.failed.partition, error=failure(reply.failed))
    return None  # sync_result: this client sends no SyncWait


def request_result(kind: str, reply: "pb.Reply") -> Union[str, int, SluiceError]:
    """The value of a ping (version) or metadata (partition count) reply, or its error."""
    which = reply.WhichOneof("kind")
    if which == "failed":
        return failure(reply.failed)
    if kind == PING and which == "pong":
        return reply.pong.version
    if kind == METADATA and which == "metadata":
        return reply.metadata.partition_count
    return ProtocolError(f"unexpected {which!r} reply to a {kind} request")
