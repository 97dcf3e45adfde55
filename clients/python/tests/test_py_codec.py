"""Frames against the exact bytes of docs/protocol.md section 7 (no daemon needed)."""
import pytest

from sluice_client import Partitioner, Record
from sluice_client.codec import ReplyReader, ping_request, produce_request
from sluice_client.errors import ProtocolError


def test_ping_frame():
    assert ping_request(1) == bytes.fromhex("00000004 0801 2a00")


def test_produce_frame_partition_zero_is_sent():
    frame = produce_request(2, "events", [Record(b"hello", key=b"k")], 0)
    assert frame == bytes.fromhex("0000001a 0802 1216 0a06 6576656e7473 1000 220a 0a01 6b 1205 68656c6c6f")


def test_partitioners():
    hashed = produce_request(3, "t", [Record(b"v")], None)
    assert bytes.fromhex("1800") in hashed, "None: PARTITIONER_HASH set explicitly (a oneof member)"
    rnd = produce_request(3, "t", [Record(b"v")], Partitioner.RANDOM)
    assert bytes.fromhex("1801") in rnd
    with pytest.raises(ValueError):
        produce_request(3, "t", [Record(b"v")], -1)
    with pytest.raises(ValueError):
        produce_request(3, "", [Record(b"v")], 0)


def test_reply_reader_across_split_reads():
    pong = bytes.fromhex("0000000b 0801 3207 0a05 302e312e30")
    acked = bytes.fromhex("00000006 0802 1a02 102a")
    r = ReplyReader()
    stream = pong + acked
    got = []
    for i in range(len(stream)):
        got += r.feed(stream[i:i + 1])
    assert [g.WhichOneof("kind") for g in got] == ["pong", "acked"]
    assert got[0].pong.version == "0.1.0" and got[1].ref == 2 and got[1].acked.base_offset == 42


def test_reply_reader_refuses_huge_frames():
    with pytest.raises(ProtocolError):
        ReplyReader().feed(bytes.fromhex("7fffffff"))



def test_failed_reply_carries_persistence():
    """Failed.persistence (field 5) reaches CallFailed; an older gateway sends none."""
    from sluice_client import DeliveryTimeout, ErrorCode, Persistence
    from sluice_client._proto import sluice_pb2
    from sluice_client.outcomes import failure

    for number, status in [(0, Persistence.PERSISTENCE_UNSPECIFIED), (1, Persistence.NOT_PERSISTED),
                           (2, Persistence.POSSIBLY_PERSISTED), (9, Persistence.PERSISTENCE_UNSPECIFIED)]:
        f = sluice_pb2.Failed(code=13, message="t/0", partition=0, persistence=number)
        e = failure(sluice_pb2.Failed.FromString(f.SerializeToString()))
        assert isinstance(e, DeliveryTimeout) and e.code == ErrorCode.DELIVERY_TIMEOUT
        assert e.persistence == status
        assert e.not_persisted == (status == Persistence.NOT_PERSISTED)
    assert "possibly persisted" in str(failure(sluice_pb2.Failed(code=13, persistence=2)))


def test_spool_unavailable_has_its_exception():
    """SPOOL_UNAVAILABLE (14): a spool that cannot take the call; never buffered."""
    from sluice_client import CallFailed, ErrorCode, Persistence, SpoolUnavailable
    from sluice_client._proto import sluice_pb2
    from sluice_client.outcomes import failure

    assert sluice_pb2.SPOOL_UNAVAILABLE == ErrorCode.SPOOL_UNAVAILABLE == 14
    f = sluice_pb2.Failed(code=14, message="spool: diskFull: write: No space left", partition=-1, persistence=1)
    e = failure(sluice_pb2.Failed.FromString(f.SerializeToString()))
    assert isinstance(e, SpoolUnavailable) and isinstance(e, CallFailed)
    assert e.code == ErrorCode.SPOOL_UNAVAILABLE and e.persistence == Persistence.NOT_PERSISTED and e.not_persisted
    assert str(e).startswith("SPOOL_UNAVAILABLE: spool: diskFull")
