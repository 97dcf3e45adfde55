from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DELIVERY_TIMEOUT: ErrorCode
DESCRIPTOR: _descriptor.FileDescriptor
DUPLICATE_REF: ErrorCode
ERROR_UNSPECIFIED: ErrorCode
FRAME_TOO_LARGE: ErrorCode
INVALID_REQUEST: ErrorCode
KAFKA_ERROR: ErrorCode
NOT_AUTHORIZED: ErrorCode
NOT_PERSISTED: Persistence
PARTITIONER_HASH: Partitioner
PARTITIONER_RANDOM: Partitioner
PERSISTENCE_UNSPECIFIED: Persistence
POSSIBLY_PERSISTED: Persistence
RECORD_TOO_LARGE: ErrorCode
RETRIES_EXHAUSTED: ErrorCode
SHUTTING_DOWN: ErrorCode
SPOOL_UNAVAILABLE: ErrorCode
TIMEOUT: ErrorCode
UNKNOWN_PARTITION: ErrorCode
UNKNOWN_REF: ErrorCode
UNKNOWN_TOPIC: ErrorCode

class Acked(_message.Message):
    __slots__ = ["base_offset", "partition"]
    BASE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    base_offset: int
    partition: int
    def __init__(self, partition: _Optional[int] = ..., base_offset: _Optional[int] = ...) -> None: ...

class Buffered(_message.Message):
    __slots__ = ["partition"]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    partition: int
    def __init__(self, partition: _Optional[int] = ...) -> None: ...

class Failed(_message.Message):
    __slots__ = ["code", "kafka_error", "message", "partition", "persistence"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    KAFKA_ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    PERSISTENCE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    kafka_error: int
    message: str
    partition: int
    persistence: Persistence
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., kafka_error: _Optional[int] = ..., partition: _Optional[int] = ..., persistence: _Optional[_Union[Persistence, str]] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ["key", "value"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ["topic"]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    topic: str
    def __init__(self, topic: _Optional[str] = ...) -> None: ...

class MetadataResult(_message.Message):
    __slots__ = ["partition_count", "topic"]
    PARTITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    partition_count: int
    topic: str
    def __init__(self, topic: _Optional[str] = ..., partition_count: _Optional[int] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class Pong(_message.Message):
    __slots__ = ["version"]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class Produce(_message.Message):
    __slots__ = ["partition", "partitioner", "records", "topic"]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    partition: int
    partitioner: Partitioner
    records: _containers.RepeatedCompositeFieldContainer[Record]
    topic: str
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., partitioner: _Optional[_Union[Partitioner, str]] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ["headers", "key", "timestamp_ms", "value"]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    key: bytes
    timestamp_ms: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ["acked", "buffered", "failed", "metadata", "pong", "ref", "sync_result"]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    BUFFERED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    SYNC_RESULT_FIELD_NUMBER: _ClassVar[int]
    acked: Acked
    buffered: Buffered
    failed: Failed
    metadata: MetadataResult
    pong: Pong
    ref: int
    sync_result: SyncResult
    def __init__(self, ref: _Optional[int] = ..., buffered: _Optional[_Union[Buffered, _Mapping]] = ..., acked: _Optional[_Union[Acked, _Mapping]] = ..., failed: _Optional[_Union[Failed, _Mapping]] = ..., sync_result: _Optional[_Union[SyncResult, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., metadata: _Optional[_Union[MetadataResult, _Mapping]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ["metadata", "ping", "produce", "produce_no_ack", "ref", "sync_wait"]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    PRODUCE_FIELD_NUMBER: _ClassVar[int]
    PRODUCE_NO_ACK_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    SYNC_WAIT_FIELD_NUMBER: _ClassVar[int]
    metadata: Metadata
    ping: Ping
    produce: Produce
    produce_no_ack: Produce
    ref: int
    sync_wait: SyncWait
    def __init__(self, ref: _Optional[int] = ..., produce: _Optional[_Union[Produce, _Mapping]] = ..., produce_no_ack: _Optional[_Union[Produce, _Mapping]] = ..., sync_wait: _Optional[_Union[SyncWait, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ...) -> None: ...

class SyncResult(_message.Message):
    __slots__ = ["acked", "failed"]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    acked: Acked
    failed: Failed
    def __init__(self, acked: _Optional[_Union[Acked, _Mapping]] = ..., failed: _Optional[_Union[Failed, _Mapping]] = ...) -> None: ...

class SyncWait(_message.Message):
    __slots__ = ["timeout_ms"]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    timeout_ms: int
    def __init__(self, timeout_ms: _Optional[int] = ...) -> None: ...

class Partitioner(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Persistence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
