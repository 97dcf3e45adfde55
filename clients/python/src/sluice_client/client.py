"""The blocking client: a socket, a reader thread completing futures, writes under a lock.

A :class:`Client` may be shared by threads: writes are serialised by a lock and replies
are matched to their call by ref on a reader thread of its own. When the connection
drops, every call still waiting fails with :class:`ConnectionLost` (in doubt: never
resent), and the next call connects again.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import socket
import threading
from typing import Callable, Dict, Iterable, Optional, Union

from . import codec
from .errors import CallFailed, ConnectError, ConnectionLost, ProtocolError, SluiceError, Timeout
from .outcomes import METADATA, PING, produce_step, request_result, failure
from .records import Ack, PartitionSpec, RecordLike, as_records

log = logging.getLogger("sluice_client")

DEFAULT_SOCKET = "/run/sluice/sluiced.sock"

#: Called with the CallFailed of a rejected ProduceNoAck call, or of a connection-level
#: failure (ref 0), from the reader thread.
ErrorHandler = Callable[[CallFailed], None]


def _log_error(error: CallFailed) -> None:
    log.warning("sluiced: %s", error)


class ProduceHandle:
    """The pending outcome of one produce call (like a ``concurrent.futures.Future``)."""

    def __init__(self, ref: int, topic: str) -> None:
        self.ref = ref
        self.topic = topic
        #: The partition, once the gateway chose it (``buffered``) or the call ended.
        self.partition: Optional[int] = None
        self._future: "concurrent.futures.Future[Ack]" = concurrent.futures.Future()

    @property
    def buffered(self) -> bool:
        """Whether the gateway has buffered the call (or it already ended)."""
        return self.partition is not None or self._future.done()

    def done(self) -> bool:
        return self._future.done()

    def ack(self, timeout: Optional[float] = None) -> Ack:
        """Waits for the final reply: the :class:`Ack`, or raises its error."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise Timeout(f"no final reply for ref {self.ref} within {timeout} s") from None

    def result(self, timeout: Optional[float] = None) -> int:
        """Waits for the final reply; returns the call's base offset (record *i* is at
        offset + i), or raises :class:`CallFailed` / :class:`ConnectionLost` /
        :class:`Timeout`."""
        return self.ack(timeout).offset

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        try:
            return self._future.exception(timeout)
        except concurrent.futures.TimeoutError:
            raise Timeout(f"no final reply for ref {self.ref} within {timeout} s") from None

    def add_done_callback(self, fn: Callable[["ProduceHandle"], None]) -> None:
        self._future.add_done_callback(lambda _f: fn(self))

    # Called by the connection's reader.
    def _buffered(self, partition: int) -> None:
        self.partition = partition

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


class _Connection:
    """One socket and its reader thread. Its calls die with it."""

    def __init__(self, path: str, connect_timeout: float, write_timeout: Optional[float],
                 on_error: ErrorHandler) -> None:
        self.path = path
        self.on_error = on_error
        self.calls: Dict[int, Union[ProduceHandle, "tuple[str, concurrent.futures.Future]"]] = {}
        self.lock = threading.Lock()  # guards calls and dead
        self.dead: Optional[ConnectionLost] = None
        self.last_failure: Optional[CallFailed] = None  # ref 0: the reason a close follows
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise ConnectError(f"cannot connect to sluiced at {path}: {e}") from e
        # One timeout serves both directions: writes blocked by back-pressure give up
        # after it; the reader treats it as "nothing yet" and reads on.
        sock.settimeout(write_timeout)
        self.sock = sock
        self.reader = threading.Thread(target=self._read_loop, name=f"sluice-reader {path}", daemon=True)
        self.reader.start()

    # -- calls

    def register(self, ref: int, call: Union[ProduceHandle, "tuple[str, concurrent.futures.Future]"]) -> None:
        with self.lock:
            if self.dead:
                raise self.dead
            self.calls[ref] = call

    def forget(self, ref: int) -> None:
        with self.lock:
            self.calls.pop(ref, None)

    def send(self, data: bytes) -> None:
        """Writes one frame (the caller holds the client's write lock)."""
        try:
            self.sock.sendall(data)
        except socket.timeout:
            # Part of the frame may be out: the stream cannot carry on.
            self.fail("a write to sluiced timed out (back-pressure); the connection was closed")
            raise Timeout("a write to sluiced blocked longer than write_timeout; the connection was closed") from None
        except OSError as e:
            # The gateway may have said why it closed (ref 0, e.g. NOT_AUTHORIZED): let
            # the reader deliver what is still unread first, so the error can name it.
            if threading.current_thread() is not self.reader:
                self.reader.join(1.0)
            self.fail(f"the connection to sluiced was lost: {e}")
            raise ConnectionLost(f"{self.dead} (while writing: {e})") from e

    # -- reading

    def _read_loop(self) -> None:
        reader = codec.ReplyReader()
        why = "sluiced closed the connection"
        try:
            while True:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    break
                for reply in reader.feed(data):
                    self._dispatch(reply)
        except ProtocolError as e:
            why = f"sluiced sent a reply this client cannot read ({e})"
        except OSError as e:
            why = f"the connection to sluiced was lost: {e}"
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
                self._report(error)
            return
        with self.lock:
            call = self.calls.get(ref)
        if call is None:
            return  # a reply for a call whose waiter gave up
        if isinstance(call, ProduceHandle):
            step = produce_step(reply)
            if step is None:
                return
            if not step.final:
                call._buffered(step.partition)
                return
            self.forget(ref)
            call._finish(step.ack, step.error)
        else:
            kind, future = call
            self.forget(ref)
            result = request_result(kind, reply)
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _report(self, error: CallFailed) -> None:
        try:
            self.on_error(error)
        except Exception:  # a broken handler must not kill the reader
            log.exception("sluice_client on_error handler raised")

    # -- the end

    def fail(self, why: str) -> None:
        """Marks the connection dead and fails its unfinished calls as in doubt."""
        with self.lock:
            if self.dead is None:
                self.dead = ConnectionLost(why)
            calls, self.calls = self.calls, {}
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for ref, call in calls.items():
            error = ConnectionLost(f"ref {ref}: {why}; the call's outcome is unknown (not resent)")
            if isinstance(call, ProduceHandle):
                call._finish(None, error)
            elif not call[1].done():
                call[1].set_exception(error)

    def close(self) -> None:
        self.fail("the client was closed")
        if threading.current_thread() is not self.reader:
            self.reader.join(5)
        self.sock.close()


class Client:
    """A blocking client of sluiced's socket protocol v1.

    >>> with Client("/run/sluice/sluiced.sock") as c:
    ...     offset = c.produce("events", [Record(b"hello", key=b"k")]).result(timeout=10)

    ``connect_timeout`` bounds connecting; ``write_timeout`` (None: no limit) bounds a
    write blocked by the gateway's back-pressure. Thread-safe. Reconnects on the next
    call after the connection dropped; calls that were in flight then fail with
    :class:`ConnectionLost`.
    """

    def __init__(self, path: str = DEFAULT_SOCKET, *, connect_timeout: float = 5.0,
                 write_timeout: Optional[float] = 30.0, on_error: Optional[ErrorHandler] = None,
                 connect: bool = True) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.on_error = on_error or _log_error
        self._refs = itertools.count(1)
        self._no_ack_refs = itertools.count(1)
        self._write_lock = threading.Lock()
        self._conn: Optional[_Connection] = None
        self._closed = False
        if connect:
            self.connect()

    # -- connection

    def connect(self) -> None:
        """Connects now (else the first call does). A live connection is kept."""
        with self._write_lock:
            self._connection()

    def _connection(self) -> _Connection:
        # Called with the write lock held.
        if self._closed:
            raise SluiceError("the client is closed")
        if self._conn is None or self._conn.dead is not None:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._conn = _Connection(self.path, self.connect_timeout, self.write_timeout, self.on_error)
        return self._conn

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.dead is None

    def close(self) -> None:
        """Closes the connection; unfinished calls fail with ConnectionLost."""
        with self._write_lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- produce

    def produce(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                partition: PartitionSpec = None) -> ProduceHandle:
        """Sends one produce call (one batch to one partition) and returns at once.

        ``partition``: a partition number, ``Partitioner.RANDOM``, or None for the key
        hash (murmur2 of the first record's key). The handle's ``result(timeout)`` is the
        call's base offset.
        """
        recs = as_records(records)
        ref = next(self._refs)
        data = codec.produce_request(ref, topic, recs, partition)
        handle = ProduceHandle(ref, topic)
        with self._write_lock:
            conn = self._connection()
            conn.register(ref, handle)  # before the write: the reply may come at once
            try:
                conn.send(data)
            except SluiceError:
                conn.forget(ref)
                raise
        return handle

    def produce_sync(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                     partition: PartitionSpec = None, timeout: Optional[float] = 30.0) -> Ack:
        """Produces and waits for the final reply: the :class:`Ack` (partition, offset)."""
        return self.produce(topic, records, partition).ack(timeout)

    def produce_no_ack(self, topic: str, records: Union[RecordLike, Iterable[RecordLike]],
                       partition: PartitionSpec = None) -> None:
        """Fire and forget: no reply unless the gateway rejects the call at once, which
        goes to ``on_error`` (default: a log warning). Later failures are not reported."""
        data = codec.produce_request(codec.NO_ACK_REF_BIT | next(self._no_ack_refs), topic,
                                     as_records(records), partition, no_ack=True)
        with self._write_lock:
            self._connection().send(data)

    # -- requests

    def _request(self, kind: str, data_for_ref: Callable[[int], bytes], timeout: Optional[float]):
        ref = next(self._refs)
        data = data_for_ref(ref)
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._write_lock:
            conn = self._connection()
            conn.register(ref, (kind, future))
            try:
                conn.send(data)
            except SluiceError:
                conn.forget(ref)
                raise
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            conn.forget(ref)
            raise Timeout(f"no reply to {kind} within {timeout} s") from None

    def ping(self, timeout: Optional[float] = 5.0) -> str:
        """Checks the gateway is alive; returns its version."""
        return self._request(PING, codec.ping_request, timeout)

    def metadata(self, topic: str, timeout: Optional[float] = 30.0) -> int:
        """The topic's partition count (:class:`UnknownTopic` if there is no such topic)."""
        return self._request(METADATA, lambda ref: codec.metadata_request(ref, topic), timeout)
