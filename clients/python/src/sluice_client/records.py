"""What a produce call carries: records, and how to pick the partition."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

Bytesish = Union[bytes, bytearray, memoryview, str]


class Partitioner(IntEnum):
    """Let the gateway choose the partition (``Produce.partitioner``)."""

    HASH = 0    #: murmur2 of the first record's key, as Kafka's Java client (random if no key)
    RANDOM = 1  #: a uniformly random partition


#: ``partition=`` of a produce call: a partition number, a :class:`Partitioner`, or
#: ``None`` for :attr:`Partitioner.HASH`.
PartitionSpec = Union[int, Partitioner, None]


@dataclass(frozen=True)
class Record:
    """One Kafka record.

    ``key`` None or empty is a null key (the protocol cannot express an empty non-null
    key); ``value`` empty is an empty value. ``timestamp_ms`` 0 lets the gateway stamp
    the time it received the call. Header values may be empty, never null. ``str`` is
    encoded as UTF-8.
    """

    value: Bytesish = b""
    key: Optional[Bytesish] = None
    headers: Sequence[Tuple[str, Bytesish]] = field(default_factory=tuple)
    timestamp_ms: int = 0


#: What ``records=`` accepts: Record objects, or bare values.
RecordLike = Union[Record, Bytesish]


class Ack(NamedTuple):
    """Where Kafka stored a call: record *i* of the call is at ``offset + i``.
    ``offset`` is -1 when the gateway runs with ``required_acks = 0``."""

    partition: int
    offset: int


def as_bytes(v: Optional[Bytesish]) -> bytes:
    if v is None:
        return b""
    if isinstance(v, str):
        return v.encode("utf-8")
    return bytes(v)


def as_records(records: Union[RecordLike, Iterable[RecordLike]]) -> List[Record]:
    """Normalises ``records=``: one record or value is a call of one record."""
    if isinstance(records, (Record, bytes, bytearray, memoryview, str)):
        records = [records]
    out = [r if isinstance(r, Record) else Record(value=r) for r in records]
    if not out:
        raise ValueError("a produce call needs at least one record")
    return out
