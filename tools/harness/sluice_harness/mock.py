"""`mock`: librdkafka's mock Kafka cluster, in this process, driven over stdin.

Uses the librdkafka that confluent-kafka bundles (confluent_kafka.libs/librdkafka-*.so.1,
2.16.0), through ctypes. Prints {"bootstrap":"127.0.0.1:p1,127.0.0.1:p2,..."} and then
answers JSON-line commands (see common.serve). Broker ids are 1..N. Error codes are
librdkafka's rd_kafka_resp_err_t values (Kafka protocol codes, negative ones are
librdkafka-internal, e.g. -195 _TRANSPORT makes the broker close the connection);
names such as "NOT_LEADER_FOR_PARTITION" are accepted too.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import time
from typing import Any, Dict, List, Optional

from . import common
from .common import log, require

c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_int16 = ctypes.c_int16
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_size_t = ctypes.c_size_t

RD_KAFKA_PRODUCER = 0
MAX_ERRORS_PER_PUSH = 1000


def librdkafka_path() -> str:
    """The librdkafka bundled with confluent-kafka ($SLUICE_LIBRDKAFKA overrides)."""
    override = os.environ.get("SLUICE_LIBRDKAFKA")
    if override:
        return override
    pkg = common.package_dir("confluent_kafka", "confluent-kafka")
    libs = sorted(glob.glob(os.path.join(os.path.dirname(pkg), "confluent_kafka.libs",
                                         "librdkafka*.so*")))
    if not libs:
        raise RuntimeError(f"no bundled librdkafka next to {pkg}")
    return libs[0]


def load_lib(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    sigs = {
        "rd_kafka_version_str": (c_char_p, []),
        "rd_kafka_err2name": (c_char_p, [c_int]),
        "rd_kafka_conf_new": (c_void_p, []),
        "rd_kafka_conf_set": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, c_size_t]),
        "rd_kafka_new": (c_void_p, [c_int, c_void_p, c_char_p, c_size_t]),
        "rd_kafka_destroy": (None, [c_void_p]),
        "rd_kafka_mock_cluster_new": (c_void_p, [c_void_p, c_int]),
        "rd_kafka_mock_cluster_destroy": (None, [c_void_p]),
        "rd_kafka_mock_cluster_bootstraps": (c_char_p, [c_void_p]),
        "rd_kafka_mock_topic_create": (c_int, [c_void_p, c_char_p, c_int, c_int]),
        "rd_kafka_mock_topic_set_error": (None, [c_void_p, c_char_p, c_int]),
        "rd_kafka_mock_partition_set_leader": (c_int, [c_void_p, c_char_p, c_int32, c_int32]),
        "rd_kafka_mock_partition_set_follower": (c_int, [c_void_p, c_char_p, c_int32, c_int32]),
        "rd_kafka_mock_broker_set_down": (c_int, [c_void_p, c_int32]),
        "rd_kafka_mock_broker_set_up": (c_int, [c_void_p, c_int32]),
        "rd_kafka_mock_broker_set_rtt": (c_int, [c_void_p, c_int32, c_int]),
        "rd_kafka_mock_push_request_errors_array":
            (None, [c_void_p, c_int16, c_size_t, ctypes.POINTER(c_int)]),
        # Variadic: (mcluster, broker_id, ApiKey, cnt, err1, rtt1, err2, rtt2, ...).
        # The fixed part is typed; the (int, int) pairs are passed as c_int extras.
        "rd_kafka_mock_broker_push_request_error_rtts":
            (c_int, [c_void_p, c_int32, c_int16, c_size_t]),
        "rd_kafka_mock_broker_error_stack_cnt":
            (c_int, [c_void_p, c_int32, c_int16, ctypes.POINTER(c_size_t)]),
        "rd_kafka_mock_clear_request_errors": (None, [c_void_p, c_int16]),
        "rd_kafka_mock_set_apiversion": (c_int, [c_void_p, c_int16, c_int16, c_int16]),
        "rd_kafka_mock_start_request_tracking": (None, [c_void_p]),
        "rd_kafka_mock_stop_request_tracking": (None, [c_void_p]),
        "rd_kafka_mock_clear_requests": (None, [c_void_p]),
        "rd_kafka_mock_get_requests": (ctypes.POINTER(c_void_p), [c_void_p, ctypes.POINTER(c_size_t)]),
        "rd_kafka_mock_request_id": (c_int32, [c_void_p]),
        "rd_kafka_mock_request_api_key": (c_int16, [c_void_p]),
        "rd_kafka_mock_request_timestamp": (c_int64, [c_void_p]),
        "rd_kafka_mock_request_destroy_array": (None, [ctypes.POINTER(c_void_p), c_size_t]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def error_code(value: Any) -> int:
    """An rd_kafka_resp_err_t from an int or a KafkaError attribute name."""
    if isinstance(value, bool):
        raise ValueError(f"bad error code {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        from confluent_kafka import KafkaError

        code = getattr(KafkaError, value, None)
        if isinstance(code, int):
            return code
    raise ValueError(f"bad error code {value!r}")


class MockCluster:
    def __init__(self, brokers: int) -> None:
        if brokers < 1:
            raise ValueError("--brokers must be >= 1")
        self.brokers = brokers
        self.lib = load_lib(librdkafka_path())
        conf = self.lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        # The handle exists only to own the cluster: it has no bootstrap servers,
        # which librdkafka notes at level 5; keep that noise out of the logs.
        if self.lib.rd_kafka_conf_set(conf, b"log_level", b"4", errstr, len(errstr)) != 0:
            raise RuntimeError(errstr.value.decode())
        self.rk = self.lib.rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self.rk:
            raise RuntimeError(f"rd_kafka_new: {errstr.value.decode()}")
        self.mc = self.lib.rd_kafka_mock_cluster_new(self.rk, brokers)
        if not self.mc:
            self.lib.rd_kafka_destroy(self.rk)
            self.rk = None
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self.bootstrap = self.lib.rd_kafka_mock_cluster_bootstraps(self.mc).decode()
        self.version = self.lib.rd_kafka_version_str().decode()

    def destroy(self) -> None:
        if self.mc:
            self.lib.rd_kafka_mock_cluster_destroy(self.mc)
            self.mc = None
        if self.rk:
            self.lib.rd_kafka_destroy(self.rk)
            self.rk = None

    # --- helpers -------------------------------------------------------------

    def _result(self, err: int, what: str) -> Dict[str, Any]:
        if err == 0:
            return {"ok": True}
        name = self.lib.rd_kafka_err2name(err)
        return {"ok": False, "error": f"{what}: {name.decode() if name else err} ({err})"}

    def _broker(self, req: Dict[str, Any], allow_all: bool = False) -> int:
        """A broker id 1..N; -1 (all brokers) where librdkafka accepts it."""
        broker = require(req, "broker_id", int)
        if not (1 <= broker <= self.brokers or (allow_all and broker == -1)):
            raise ValueError(f"broker_id {broker} not in 1..{self.brokers}"
                             + (" or -1" if allow_all else ""))
        return broker

    # --- ops -----------------------------------------------------------------

    def create_topic(self, req: Dict[str, Any]) -> Dict[str, Any]:
        topic = require(req, "topic", str)
        partitions = require(req, "partitions", int)
        replication = req.get("replication", min(3, self.brokers))
        if not isinstance(replication, int) or isinstance(replication, bool):
            raise ValueError("'replication' must be an integer")
        err = self.lib.rd_kafka_mock_topic_create(self.mc, topic.encode(), partitions, replication)
        res = self._result(err, "topic_create")
        if res["ok"]:
            res.update(topic=topic, partitions=partitions, replication=replication)
        return res

    def set_leader(self, req: Dict[str, Any]) -> Dict[str, Any]:
        topic = require(req, "topic", str)
        partition = require(req, "partition", int)
        broker = require(req, "broker_id", int)
        return self._result(self.lib.rd_kafka_mock_partition_set_leader(
            self.mc, topic.encode(), partition, broker), "partition_set_leader")

    def set_follower(self, req: Dict[str, Any]) -> Dict[str, Any]:
        topic = require(req, "topic", str)
        partition = require(req, "partition", int)
        broker = require(req, "broker_id", int)
        return self._result(self.lib.rd_kafka_mock_partition_set_follower(
            self.mc, topic.encode(), partition, broker), "partition_set_follower")

    def broker_down(self, req: Dict[str, Any]) -> Dict[str, Any]:
        return self._result(self.lib.rd_kafka_mock_broker_set_down(self.mc, self._broker(req, allow_all=True)),
                            "broker_set_down")

    def broker_up(self, req: Dict[str, Any]) -> Dict[str, Any]:
        return self._result(self.lib.rd_kafka_mock_broker_set_up(self.mc, self._broker(req, allow_all=True)),
                            "broker_set_up")

    def set_rtt(self, req: Dict[str, Any]) -> Dict[str, Any]:
        rtt = require(req, "rtt_ms", int)
        return self._result(self.lib.rd_kafka_mock_broker_set_rtt(self.mc, self._broker(req, allow_all=True), rtt),
                            "broker_set_rtt")

    def push_request_errors(self, req: Dict[str, Any]) -> Dict[str, Any]:
        api_key = require(req, "api_key", int)
        errors = [error_code(e) for e in require(req, "errors", list)]
        if not errors or len(errors) > MAX_ERRORS_PER_PUSH:
            raise ValueError(f"'errors' must hold 1..{MAX_ERRORS_PER_PUSH} codes")
        arr = (c_int * len(errors))(*errors)
        self.lib.rd_kafka_mock_push_request_errors_array(self.mc, api_key, len(errors), arr)
        return {"ok": True}

    def broker_push_request_error_rtts(self, req: Dict[str, Any]) -> Dict[str, Any]:
        broker = self._broker(req)
        api_key = require(req, "api_key", int)
        pairs = require(req, "errors", list)
        if not pairs or len(pairs) > MAX_ERRORS_PER_PUSH:
            raise ValueError(f"'errors' must hold 1..{MAX_ERRORS_PER_PUSH} [err, rtt_ms] pairs")
        flat: List[c_int] = []
        for pair in pairs:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("each entry of 'errors' must be [err, rtt_ms]")
            flat += [c_int(error_code(pair[0])), c_int(int(pair[1]))]
        err = self.lib.rd_kafka_mock_broker_push_request_error_rtts(
            self.mc, broker, api_key, len(pairs), *flat)
        return self._result(err, "broker_push_request_error_rtts")

    def broker_error_stack_cnt(self, req: Dict[str, Any]) -> Dict[str, Any]:
        broker = self._broker(req)
        api_key = require(req, "api_key", int)
        cnt = c_size_t(0)
        err = self.lib.rd_kafka_mock_broker_error_stack_cnt(self.mc, broker, api_key, ctypes.byref(cnt))
        res = self._result(err, "broker_error_stack_cnt")
        if res["ok"]:
            res["count"] = cnt.value
        return res

    def topic_set_error(self, req: Dict[str, Any]) -> Dict[str, Any]:
        topic = require(req, "topic", str)
        self.lib.rd_kafka_mock_topic_set_error(self.mc, topic.encode(), error_code(req.get("error", 0)))
        return {"ok": True}

    def set_apiversion(self, req: Dict[str, Any]) -> Dict[str, Any]:
        api_key = require(req, "api_key", int)
        lo = require(req, "min", int)
        hi = require(req, "max", int)
        return self._result(self.lib.rd_kafka_mock_set_apiversion(self.mc, api_key, lo, hi),
                            "set_apiversion")

    def clear_request_errors(self, req: Dict[str, Any]) -> Dict[str, Any]:
        self.lib.rd_kafka_mock_clear_request_errors(self.mc, require(req, "api_key", int))
        return {"ok": True}

    def start_request_tracking(self, _req: Dict[str, Any]) -> Dict[str, Any]:
        self.lib.rd_kafka_mock_start_request_tracking(self.mc)
        return {"ok": True}

    def stop_request_tracking(self, _req: Dict[str, Any]) -> Dict[str, Any]:
        self.lib.rd_kafka_mock_stop_request_tracking(self.mc)
        return {"ok": True}

    def clear_requests(self, _req: Dict[str, Any]) -> Dict[str, Any]:
        self.lib.rd_kafka_mock_clear_requests(self.mc)
        return {"ok": True}

    def get_requests(self, _req: Dict[str, Any]) -> Dict[str, Any]:
        """Requests seen since start_request_tracking: broker id, ApiKey, time (us)."""
        cnt = c_size_t(0)
        arr = self.lib.rd_kafka_mock_get_requests(self.mc, ctypes.byref(cnt))
        out = []
        try:
            for i in range(cnt.value):
                r = arr[i]
                out.append({
                    "broker_id": self.lib.rd_kafka_mock_request_id(r),
                    "api_key": self.lib.rd_kafka_mock_request_api_key(r),
                    "timestamp_us": self.lib.rd_kafka_mock_request_timestamp(r),
                })
        finally:
            if arr:
                self.lib.rd_kafka_mock_request_destroy_array(arr, cnt.value)
        return {"ok": True, "requests": out}

    def handlers(self):
        names = ["create_topic", "set_leader", "set_follower", "broker_down", "broker_up",
                 "set_rtt", "push_request_errors", "broker_push_request_error_rtts",
                 "broker_error_stack_cnt", "topic_set_error", "set_apiversion",
                 "clear_request_errors", "start_request_tracking", "stop_request_tracking",
                 "clear_requests", "get_requests"]
        return {name: getattr(self, name) for name in names}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="sluice_harness mock")
    ap.add_argument("--brokers", type=int, default=3)
    ap.add_argument("--max-lifetime-s", type=float, default=common.DEFAULT_MAX_LIFETIME_S)
    args = ap.parse_args(argv)

    common.claim_stdout()
    common.install_stop_signals()
    cluster: Optional[MockCluster] = None

    def body() -> None:
        nonlocal cluster
        t0 = time.monotonic()
        cluster = MockCluster(args.brokers)
        log(f"librdkafka {cluster.version} mock cluster with {args.brokers} brokers on "
            f"{cluster.bootstrap} in {time.monotonic() - t0:.2f}s")
        # The watchdog leaves with os._exit; the OS closes the listeners then.
        common.start_watchdog(lambda: None, args.max_lifetime_s)
        common.emit({"bootstrap": cluster.bootstrap, "brokers": args.brokers,
                     "librdkafka": cluster.version})
        common.serve(cluster.handlers())

    return common.run_server(body, lambda: cluster.destroy() if cluster is not None else None)
