"""sluice-client: Python clients of sluiced's socket protocol v1 (docs/protocol.md).

``Client`` blocks (and may be shared by threads); ``AsyncClient`` is for asyncio.
"""
from .aio import AsyncClient, AsyncProduceHandle
from .client import DEFAULT_SOCKET, Client, ProduceHandle
from .errors import (
    CallFailed, ConnectError, ConnectionLost, DeliveryTimeout, DuplicateRef, ErrorCode,
    FrameTooLarge, GatewayTimeout, InvalidRequest, KafkaError, NotAuthorized, ProtocolError, RecordTooLarge,
    Persistence, RetriesExhausted, ShuttingDown, SluiceError, SpoolUnavailable, Timeout, UnknownPartition, UnknownRef,
    UnknownTopic,
)
from .records import Ack, Partitioner, Record

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "AsyncProduceHandle", "Client", "ProduceHandle", "DEFAULT_SOCKET",
    "Ack", "Partitioner", "Record",
    "SluiceError", "ConnectError", "ConnectionLost", "Timeout", "ProtocolError", "CallFailed",
    "ErrorCode", "Persistence", "DeliveryTimeout", "InvalidRequest", "FrameTooLarge", "DuplicateRef", "UnknownRef", "UnknownTopic",
    "UnknownPartition", "RecordTooLarge", "NotAuthorized", "RetriesExhausted", "KafkaError",
    "GatewayTimeout", "ShuttingDown", "SpoolUnavailable",
]
