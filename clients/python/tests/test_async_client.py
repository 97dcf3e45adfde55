"""The asyncio AsyncClient against a real sluiced and Tansu (each test runs its own loop)."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from sluice_client import (
    AsyncClient, ConnectionLost, ErrorCode, NotAuthorized, Record, Timeout, UnknownTopic,
)
from sluice_testing import consume


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_produce_read_back(sluiced, tansu, topic):
    async def main():
        async with AsyncClient(sluiced.socket) as c:
            assert await c.ping()
            assert await c.metadata(topic) == 3
            h = await c.produce(topic, [Record(b"a0", key=b"k", headers=[("h", b"1")], timestamp_ms=1700000000500),
                                        Record(b"a1", key=b"k", timestamp_ms=1700000000501)], partition=1)
            many = [await c.produce(topic, Record(b"m%d" % i), partition=2) for i in range(10)]
            offset = await h.result(timeout=20)
            assert h.partition == 1
            offsets = [await m for m in many]
            ack = await c.produce_sync(topic, Record(b"s", key=b"k"), timeout=20)
            await c.produce_no_ack(topic, Record(b"na"), partition=0)
            await c.ping()
            return offset, offsets, ack

    offset, offsets, ack = run(main())
    assert offsets == list(range(offsets[0], offsets[0] + 10))
    got = {(r.partition, r.offset): r for r in consume(tansu.bootstrap, topic, expect=14)}
    assert len(got) == 14
    a0, a1 = got[(1, offset)], got[(1, offset + 1)]
    assert (a0.key, a0.value, a0.headers, a0.timestamp) == (b"k", b"a0", [("h", b"1")], 1700000000500)
    assert (a1.value, a1.timestamp) == (b"a1", 1700000000501)
    assert got[(ack.partition, ack.offset)].value == b"s"
    assert [r.value for r in got.values() if r.partition == 0] == [b"na"]


def test_failures_are_typed(sluiced_factory, tansu, topic):
    allowed = tansu.create_topic(f"allowed-aio-{os.getpid()}", partitions=1)
    daemon = sluiced_factory(config=(
        "[[security.topic_rules]]\n"
        'topics = ["allowed-*"]\n'
        f"uids = [{os.getuid()}]\n"))

    async def main():
        async with AsyncClient(daemon.socket) as c:
            with pytest.raises(NotAuthorized) as e:
                await c.produce_sync(topic, Record(b"x"))
            assert e.value.code == ErrorCode.NOT_AUTHORIZED
            with pytest.raises(UnknownTopic):
                await c.metadata("no-such-topic-aio")
            assert (await c.produce_sync(allowed, Record(b"ok"))).offset == 0

    run(main())


def test_back_pressure_suspends_the_writer(sluiced_factory, tansu, topic):
    daemon = sluiced_factory(settings=["producer.partition_buffer_limit=2", "producer.max_linger_ms=300"])

    async def main():
        async with AsyncClient(daemon.socket) as c:
            started = time.monotonic()
            handles = [await c.produce(topic, Record(b"bp%d" % i), partition=0) for i in range(8)]
            await c.ping(timeout=20)
            held_for = time.monotonic() - started
            done_at_pong = sum(h.done() for h in handles)
            return held_for, done_at_pong, [await h for h in handles]

    held_for, done_at_pong, offsets = run(main())
    assert done_at_pong >= 2 and held_for >= 0.6, (held_for, done_at_pong)  # ~3 rounds of 300 ms lingering
    assert offsets == list(range(offsets[0], offsets[0] + 8))


def test_result_timeout_leaves_the_call_going(sluiced_factory, topic):
    daemon = sluiced_factory(settings=["producer.max_linger_ms=1000"])

    async def main():
        async with AsyncClient(daemon.socket) as c:
            h = await c.produce(topic, Record(b"slow"), partition=0)
            with pytest.raises(Timeout):
                await h.result(timeout=0.1)
            assert await h.result(timeout=20) >= 0, "the call went on"

    run(main())


def test_daemon_killed_in_flight_calls_fail_in_doubt_then_reconnect(sluiced_factory, topic):
    daemon = sluiced_factory(settings=["producer.max_linger_ms=2000"])

    async def main():
        c = AsyncClient(daemon.socket)
        handles = [await c.produce(topic, Record(b"lost%d" % i), partition=0) for i in range(3)]
        await c.ping()
        assert all(h.buffered and not h.done() for h in handles)
        daemon.stop(signal.SIGKILL)
        for h in handles:
            with pytest.raises(ConnectionLost) as e:
                await h.result(timeout=10)
            assert "outcome is unknown" in str(e.value)
        assert not c.connected
        await asyncio.get_running_loop().run_in_executor(None, daemon.start)
        ack = await c.produce_sync(topic, Record(b"after"), partition=0, timeout=20)
        assert ack.partition == 0 and c.connected
        await c.close()

    run(main())
