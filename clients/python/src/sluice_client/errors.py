"""Exceptions of sluice_client, and the protocol's error codes (docs/protocol.md §5).

Every failure the gateway reports is a :class:`CallFailed` (one subclass per code, so
``except UnknownTopic`` works) carrying ``code``, ``message``, ``kafka_error``,
``partition`` and ``persistence`` (whether the records may be in Kafka anyway). Failures on this side of the socket have their own classes: the one that
matters most is :class:`ConnectionLost`, raised for calls whose outcome is unknown
because the connection dropped before their final reply (they are never resent).
"""
from __future__ import annotations

from enum import IntEnum
from typing import Dict, Optional, Type


class ErrorCode(IntEnum):
    """``Failed.code`` values, as in ``sluice.proto``."""

    ERROR_UNSPECIFIED = 0
    INVALID_REQUEST = 1
    FRAME_TOO_LARGE = 2
    DUPLICATE_REF = 3
    UNKNOWN_REF = 4
    UNKNOWN_TOPIC = 5
    UNKNOWN_PARTITION = 6
    RECORD_TOO_LARGE = 7
    NOT_AUTHORIZED = 8
    RETRIES_EXHAUSTED = 9
    KAFKA_ERROR = 10
    TIMEOUT = 11
    SHUTTING_DOWN = 12
    DELIVERY_TIMEOUT = 13
    SPOOL_UNAVAILABLE = 14


class Persistence(IntEnum):
    """``Failed.persistence`` values, as in ``sluice.proto``: may a failed call's records
    be in Kafka anyway? Retry only ``NOT_PERSISTED`` calls if duplicates matter;
    ``PERSISTENCE_UNSPECIFIED`` (an older gateway, or not a produce call) counts as
    possibly persisted."""

    PERSISTENCE_UNSPECIFIED = 0
    NOT_PERSISTED = 1
    POSSIBLY_PERSISTED = 2


class SluiceError(Exception):
    """Base class of every exception this package raises."""


class ConnectError(SluiceError):
    """The gateway's socket could not be connected to."""


class ConnectionLost(SluiceError):
    """The connection to the gateway was lost (daemon restarted, socket closed...).

    Raised for each call that was sent but had no final reply yet: its outcome is
    *in doubt* (the gateway may still produce it). The client never resends it; the next
    call on the client opens a new connection.
    """

    in_doubt = True


class Timeout(SluiceError, TimeoutError):
    """A wait on this side ran out (a result, a reply, a blocked write)."""


class ProtocolError(SluiceError):
    """The gateway sent something this client cannot read; the connection is dropped."""


class CallFailed(SluiceError):
    """The gateway answered ``failed``. ``code`` is an :class:`ErrorCode`."""

    code: ErrorCode = ErrorCode.ERROR_UNSPECIFIED

    def __init__(self, code: int, message: str = "", kafka_error: int = 0, partition: int = -1,
                 persistence: int = 0):
        try:
            self.code = ErrorCode(code)
        except ValueError:
            # A code newer than this client: protocol.md says treat it as unspecified,
            # but keep the number in the text.
            self.code = ErrorCode.ERROR_UNSPECIFIED
        self.raw_code = code
        self.message = message
        self.kafka_error = kafka_error
        self.partition = partition
        try:
            self.persistence = Persistence(persistence)
        except ValueError:
            self.persistence = Persistence.PERSISTENCE_UNSPECIFIED
        name = self.code.name if self.code or code == 0 else f"code {code}"
        text = f"{name}: {message}" if message else name
        if kafka_error:
            text += f" (kafka error {kafka_error})"
        if self.persistence == Persistence.POSSIBLY_PERSISTED:
            text += " (possibly persisted)"
        super().__init__(text)

    @property
    def not_persisted(self) -> bool:
        """True when the gateway says the records are not in Kafka: a retry cannot
        duplicate them."""
        return self.persistence == Persistence.NOT_PERSISTED


class InvalidRequest(CallFailed): code = ErrorCode.INVALID_REQUEST
class FrameTooLarge(CallFailed): code = ErrorCode.FRAME_TOO_LARGE
class DuplicateRef(CallFailed): code = ErrorCode.DUPLICATE_REF
class UnknownRef(CallFailed): code = ErrorCode.UNKNOWN_REF
class UnknownTopic(CallFailed): code = ErrorCode.UNKNOWN_TOPIC
class UnknownPartition(CallFailed): code = ErrorCode.UNKNOWN_PARTITION
class RecordTooLarge(CallFailed): code = ErrorCode.RECORD_TOO_LARGE
class NotAuthorized(CallFailed): code = ErrorCode.NOT_AUTHORIZED
class RetriesExhausted(CallFailed): code = ErrorCode.RETRIES_EXHAUSTED
class KafkaError(CallFailed): code = ErrorCode.KAFKA_ERROR
class GatewayTimeout(CallFailed): code = ErrorCode.TIMEOUT
class ShuttingDown(CallFailed): code = ErrorCode.SHUTTING_DOWN
class DeliveryTimeout(CallFailed): code = ErrorCode.DELIVERY_TIMEOUT
class SpoolUnavailable(CallFailed):
    """The gateway's durable spool cannot take the call now (disk full, the spool at
    ``max_bytes`` with ``when_full = "fail"``, a write error): never buffered, so not
    persisted; retry later."""

    code = ErrorCode.SPOOL_UNAVAILABLE


_BY_CODE: Dict[int, Type[CallFailed]] = {
    cls.code: cls
    for cls in (InvalidRequest, FrameTooLarge, DuplicateRef, UnknownRef, UnknownTopic,
                UnknownPartition, RecordTooLarge, NotAuthorized, RetriesExhausted,
                KafkaError, GatewayTimeout, ShuttingDown, DeliveryTimeout, SpoolUnavailable)
}


def call_failed(code: int, message: str = "", kafka_error: int = 0,
                partition: Optional[int] = -1, persistence: int = 0) -> CallFailed:
    """The :class:`CallFailed` subclass for ``code`` (the base class for unknown codes)."""
    cls = _BY_CODE.get(code, CallFailed)
    return cls(code, message, kafka_error, -1 if partition is None else partition, persistence)
