"""The asyncio client: one stream, a reader task completing futures.

Writes wait on the stream's drain, so the gateway's back-pressure suspends the producing
coroutine rather than growing a buffer. When the connection drops, every call still
waiting fails with :class:`ConnectionLost` (in doubt: never resent), and the next call
connects again. An AsyncClient belongs to one event loop; it is not thread-safe.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Awaitable, Callable, Dict, Generator, Iterable, Optional, Tuple, Union

from . import codec
from .client import DEFAULT_SOCKET, ErrorHandler, _log_error
from .errors import CallFailed, ConnectError, ConnectionLost, ProtocolError, SluiceError, Timeout
from .outcomes import METADATA, PING, failure, produce_step, request_result
from .records import Ack, PartitionSpec, RecordLike, as_records

log = logging.getLogger("sluice_client")


class AsyncProduceHandle:
    """The pending outcome of one produce call. ``await handle`` is its base offset."""

    def __init__(self, ref: int, topic: str, future: "asyncio.Future[Ack]") -> None:
        self.ref = ref
        self.topic = topic
        #: The partition, once the gateway chose it (``buffered``) or the call ended.
        self.partition: Optional[int] = None
        self._future = future

    @property
    def buffered(self) -> bool:
        return self.partition is not None or self._future.done()

    def done(self) -> bool:
        return self._future.done()

    async def ack(self, timeout: Optional[float] = None) -> Ack:
        """Waits for the final reply: the :class:`Ack`, or raises its error."""
        try:
            # shield: a timeout here must not cancel the call's future (it goes on).
            return await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"no final reply for ref {self.ref} within {timeout} s") from None

    async def result(self, timeout: Optional[float] = None) -> int:
        """The call's base offset, or raises CallFailed / ConnectionLost / Timeout."""
        return (await self.ack(timeout)).offset

    def __await__(self) -> Generator[object, None, int]:
        return self.result().__await__()

    def _finish(self, ack: Optional[Ack], error: Optional[BaseException]) -> None:
        if self._future.done():
            return
        if error is not None:
            if isinstance(error, CallFailed) and error.partition >= 0:
                self.partition = error.partition
            self._future.set_exception(error)
        else:
            assert ack is not None
            self.partition = ack.partition
            self._future.set_result(ack)


_Call = Union[AsyncProduceHandle, Tuple[str, "asyncio.Future"]]


class _AsyncConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_error: ErrorHandler) -> None:
        self.reader = reader
        self.writer = writer
        self.on_error = on_error
        self.calls: Dict[int, _Call] = {}
        self.dead: Optional[ConnectionLost] = None
        self.last_failure: Optional[CallFailed] = None
        self.task = asyncio.get_running_loop().create_task(self._read_loop())

    async def send(self, data: bytes, write_timeout: Optional[float]) -> None:
        if self.dead:
            raise self.dead
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), write_timeout)
        except asyncio.TimeoutError:
            self.fail("a write to sluiced timed out (back-pressure); the connection was closed")
            raise Timeout("a write to sluiced blocked longer than write_timeout; the connection was closed") from None
        except (OSError, RuntimeError) as e:  # RuntimeError: a closed transport
            self.fail(f"the connection to sluiced was lost: {e}")
            raise ConnectionLost(f"the connection to sluiced was lost while writing: {e}") from e

    async def _read_loop(self) -> None:
        decoder = codec.ReplyReader()
        why = "sluiced closed the connection"
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for reply in decoder.feed(data):
                    self._dispatch(reply)
        except ProtocolError as e:
            why = f"sluiced sent a reply this client cannot read ({e})"
        except OSError as e:
            why = f"the connection to sluiced was lost: {e}"
        except asyncio.CancelledError:
            why = "the client was closed"
        if self.last_failure is not None:
            why += f" after {self.last_failure}"
        self.fail(why)

    def _dispatch(self, reply) -> None:
        ref = reply.ref
        if ref == 0 or ref & codec.NO_ACK_REF_BIT:
            if reply.WhichOneof("kind") == "failed":
                error = failure(reply.failed)
                if ref == 0:
                    self.last_failure = error
                try:
                    self.on_error(error)
                except Exception:
                    log.exception("sluice_client on_error handler raised")
            return
        call = self.calls.get(ref)
        if call is None:
            return
        if isinstance(call, AsyncProduceHandle):
            step = produce_step(reply)
            if step is None:
                return
            if not step.final:
                call.partition = step.partition
                return
            del self.calls[ref]
            call._finish(step.ack, step.error)
        else:
            kind, future = call
            del self.calls[ref]
            result = request_result(kind, reply)
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def fail(self, why: str) -> None:
        if self.dead is None:
            self.dead = ConnectionLost(why)
        calls, self.calls = self.calls, {}
        self.writer.close()
        for ref, call in calls.items():
            error = ConnectionLost(f"ref {ref}: {why}; the call's outcome is unknown (not resent)")
            if isinstance(call, AsyncProduceHandle):
                call._finish(None, error)
            elif not call[1].done():
                call[1].set_exception(error)

    async def close(self) -> None:
        self.fail("the client was closed")
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


class AsyncClient:
    """An asyncio client of sluiced's socket protocol v1.

    >>> async with AsyncClient("/run/sluice/sluiced.sock") as c:
    ...     handle = await c.produce("events", [Record(b"hello", key=b"k")])
    ...     offset = await handle.result(timeout=10)

    ``await produce(...)`` returns once the call is written (it waits while the gateway
    applies back-pressure, up to ``write_timeout``).
    """

    def __init__(self, path: str = DEFAULT_SOCKET, *, connect_timeout: float = 5.0,
                 write_timeout: Optional[float] = 30.0, on_error: Optional[ErrorHandler] = None) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.on_error = on_error or _log_error
        self._refs = itertools.count(1)
        self._no_ack_refs = itertools.count(1)
        self._conn: Optional[_AsyncConnection] = None
        self._connecting = asyncio.Lock()
        self._closed = False

    async def connect(self) -> None:
        """Connects now (else the first call does). A live connection is kept."""
        await self._connection()

    async def _connection(self) -> _AsyncConnection:
        if self._closed:
            raise SluiceError("the client is closed")
        conn = self._conn
        if conn is not None and conn.dead is None:
            return conn
        async with self._connecting:
            if self._conn is not None and self._conn.dead is None:
                return self._conn
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.path), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                raise ConnectError(f"cannot connect to sluiced at {self.path}: {e or 'timed out'}") from e
            self._conn = _AsyncConnection(reader, writer, self.on_error)
            return self._conn

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.dead is None

    async def close(self) -> None:
        """Closes the connection; unfinished calls fail with ConnectionLost."""
        self._closed = True
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def produce(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                      partition: PartitionSpec = None) -> AsyncProduceHandle:
        """Sends one produce call; returns its handle once written."""
        recs = as_records(records)
        ref = next(self._refs)
        data = codec.produce_request(ref, topic, recs, partition)
        conn = await self._connection()
        handle = AsyncProduceHandle(ref, topic, asyncio.get_running_loop().create_future())
        conn.calls[ref] = handle
        try:
            await conn.send(data, self.write_timeout)
        except SluiceError:
            conn.calls.pop(ref, None)
            raise
        return handle

    async def produce_sync(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                           partition: PartitionSpec = None, timeout: Optional[float] = 30.0) -> Ack:
        """Produces and waits for the final reply: the :class:`Ack` (partition, offset)."""
        handle = await self.produce(topic, records, partition)
        return await handle.ack(timeout)

    async def produce_no_ack(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                             partition: PartitionSpec = None) -> None:
        """Fire and forget; an immediate rejection goes to ``on_error``."""
        data = codec.produce_request(codec.NO_ACK_REF_BIT | next(self._no_ack_refs), topic,
                                     as_records(records), partition, no_ack=True)
        conn = await self._connection()
        await conn.send(data, self.write_timeout)

    async def _request(self, kind: str, data_for_ref: Callable[[int], bytes], timeout: Optional[float]):
        ref = next(self._refs)
        data = data_for_ref(ref)
        conn = await self._connection()
        future = asyncio.get_running_loop().create_future()
        conn.calls[ref] = (kind, future)
        try:
            await conn.send(data, self.write_timeout)
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"no reply to {kind} within {timeout} s") from None
        finally:
            conn.calls.pop(ref, None)

    async def ping(self, timeout: Optional[float] = 5.0) -> str:
        """Checks the gateway is alive; returns its version."""
        return await self._request(PING, codec.ping_request, timeout)

    async def metadata(self, topic: str, timeout: Optional[float] = 30.0) -> int:
        """The topic's partition count (:class:`UnknownTopic` if there is no such topic)."""
        return await self._request(METADATA, lambda ref: codec.metadata_request(ref, topic), timeout)
