/*
 * rdkafka_bench: the anchor of scripts/bench. librdkafka producing straight to the broker
 * the same records `sluice bench` sends through sluiced, with the same report (one JSON
 * object on stdout, the same keys).
 *
 * Built by scripts/bench against the librdkafka bundled with confluent-kafka in .venv
 * (Debian's librdkafka-dev headers are API-compatible; Debian's own 2.0.2 library cannot
 * talk to Tansu).
 *
 * A "call" here is --records-per-call consecutive rd_kafka_produce() calls to one
 * partition (or with one key); its ack latency runs from its due time (rate mode) or from
 * just before its first produce() to the delivery report of its last record. librdkafka's
 * own queue is the window. As fast as possible, the producing thread serves the delivery
 * reports itself, the usual way (rd_kafka_poll every 64 calls, and while produce() says
 * QUEUE_FULL). In rate mode a thread of its own serves them, so a report is timestamped
 * when librdkafka delivers it, not when the producing thread next wakes up for a call
 * (which added up to one call interval, 500 us at 2000 calls/s, to every latency).
 *
 * Settings: acks=all, enable.idempotence and linger.ms from the flags (scripts/bench sets
 * them to sluiced's defaults: idempotence on, linger 0); everything else librdkafka's
 * defaults unless --set KEY=VALUE.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t deadline) {
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u), .tv_nsec = (long)(deadline % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* Log-linear latency histogram in microseconds: exact below 1024, then 1024 sub-buckets
 * per power of two (relative error under 0.1%, like HdrHistogram with 3 digits). */
#define SUB 1024
#define MAGNITUDES 44
static uint64_t hist[SUB * (MAGNITUDES + 1)];
static uint64_t hist_count, hist_max;
static double hist_sum;

static void hist_record(uint64_t v) {
    size_t i;
    if (v < SUB) {
        i = (size_t)v;
    } else {
        int m = 63 - __builtin_clzll(v); /* >= 10 */
        uint64_t sub = v >> (m - 10);    /* 1024..2047 */
        if (m - 10 >= MAGNITUDES) m = MAGNITUDES + 9, sub = 2 * SUB - 1;
        i = (size_t)(SUB + (m - 10) * SUB + (sub - SUB));
    }
    hist[i]++;
    hist_count++;
    hist_sum += (double)v;
    if (v > hist_max) hist_max = v;
}

static uint64_t hist_value(size_t i) {
    if (i < SUB) return i;
    size_t m = (i - SUB) / SUB + 10, sub = (i - SUB) % SUB + SUB;
    /* the bucket's highest value, as HdrHistogram's valueAtPercentile reports */
    return (((uint64_t)sub + 1) << (m - 10)) - 1;
}

static uint64_t hist_percentile(double p) {
    if (hist_count == 0) return 0;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)hist_count + 0.5);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++) {
        seen += hist[i];
        if (seen >= rank) return hist_value(i);
    }
    return hist_max;
}

/* Calls in flight: a ring indexed by call number; a slot is reused only once its call
 * is complete (the sender waits, polling, otherwise). */
#define RING (1u << 18)
struct call {
    uint64_t due;
    int remaining;
    int failed;
};
static struct call ring[RING];
static uint64_t acked_calls, failed_calls, acked_records, failed_records, last_final;
static char first_failure[512];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    struct call *c = &ring[(uintptr_t)m->_private % RING];
    if (m->err) {
        failed_records++;
        c->failed = 1;
        if (!first_failure[0]) snprintf(first_failure, sizeof first_failure, "%s", rd_kafka_err2str(m->err));
    } else {
        acked_records++;
    }
    if (__atomic_sub_fetch(&c->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
        uint64_t t = now_ns();
        last_final = t;
        if (c->failed) {
            failed_calls++;
        } else {
            acked_calls++;
            hist_record(t > c->due ? (t - c->due) / 1000 : 0);
        }
    }
}

static int stop_polling;

/* Lets delivery reports come in: poll them here, or leave it to the poller thread. */
static void wait_for_reports(rd_kafka_t *rk, int polling) {
    if (polling) usleep(100);
    else rd_kafka_poll(rk, 1);
}

static void *serve_reports(void *arg) {
    rd_kafka_t *rk = arg;
    while (!__atomic_load_n(&stop_polling, __ATOMIC_ACQUIRE)) rd_kafka_poll(rk, 50);
    return NULL;
}

static void usage(void) {
    fprintf(stderr,
            "usage: rdkafka_bench --bootstrap HOST:PORT --topic T [--partitions N | --hash-keys K]\n"
            "  [--records-per-call R] [--record-bytes B] [--calls C | --duration-s D] [--rate CALLS_PER_S]\n"
            "  [--linger-ms L] [--idempotence 0|1] [--set KEY=VALUE]... [--no-warmup]\n");
    exit(2);
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_bench: %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    const char *bootstrap = NULL, *topic = NULL, *linger = "0", *idempotence = "true";
    int partitions = 0, hash_keys = 0, records_per_call = 1, record_bytes = 100, warmup = 1;
    long long calls = 0;
    double duration_s = 10, rate = 0;
    const char *extra[64];
    int n_extra = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--bootstrap")) bootstrap = v;
        else if (OPT("--topic")) topic = v;
        else if (OPT("--partitions")) partitions = atoi(v);
        else if (OPT("--hash-keys")) hash_keys = atoi(v);
        else if (OPT("--records-per-call")) records_per_call = atoi(v);
        else if (OPT("--record-bytes")) record_bytes = atoi(v);
        else if (OPT("--calls")) calls = atoll(v);
        else if (OPT("--duration-s")) duration_s = atof(v);
        else if (OPT("--rate")) rate = atof(v);
        else if (OPT("--linger-ms")) linger = v;
        else if (OPT("--idempotence")) idempotence = strcmp(v, "0") == 0 ? "false" : "true";
        else if (OPT("--set")) {
            if (n_extra == 64) usage();
            extra[n_extra++] = v;
        } else if (strcmp(a, "--no-warmup") == 0) warmup = 0;
        else usage();
#undef OPT
    }
    if (!bootstrap || !topic || records_per_call < 1 || record_bytes < 0 || (partitions < 1 && hash_keys < 1) ||
        duration_s <= 0 || rate < 0 || (uint64_t)records_per_call >= RING / 4)
        usage();

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", "all");
    set(conf, "linger.ms", linger);
    set(conf, "enable.idempotence", idempotence);
    set(conf, "partitioner", "murmur2_random"); /* Java's (and sluiced's) hash */
    for (int i = 0; i < n_extra; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", extra[i]);
        char *eq = strchr(kv, '=');
        if (!eq) usage();
        *eq = 0;
        set(conf, kv, eq + 1);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rdkafka_bench: %s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

    /* The same value bytes as sluice bench (SplitMix64, seed 0x5EED). */
    unsigned char *value = malloc((size_t)record_bytes + 1);
    uint64_t state = 0x5EED;
    for (int i = 0; i < record_bytes; i++) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        value[i] = (unsigned char)(z ^ (z >> 31));
    }
    int targets = hash_keys > 0 ? hash_keys : partitions;
    char keys[4096][16];
    if (targets > 4096) usage();
    for (int j = 0; j < hash_keys; j++) snprintf(keys[j], sizeof keys[j], "key-%d", j);

    uint64_t call_no = 0; /* also numbers the warm-up calls */
    int polling = 0;      /* a thread of its own serves delivery reports */
#define PRODUCE_CALL(target, due_time)                                                                           \
    do {                                                                                                         \
        struct call *c = &ring[call_no % RING];                                                                  \
        while (__atomic_load_n(&c->remaining, __ATOMIC_ACQUIRE) > 0) wait_for_reports(rk, polling);             \
        c->due = (due_time);                                                                                     \
        c->remaining = records_per_call;                                                                         \
        c->failed = 0;                                                                                           \
        for (int r = 0; r < records_per_call; r++) {                                                             \
            int32_t part = hash_keys > 0 ? RD_KAFKA_PARTITION_UA : (int32_t)(target);                             \
            const char *key = hash_keys > 0 ? keys[(target)] : NULL;                                             \
            size_t key_len = key ? strlen(key) : 0;                                                              \
            while (rd_kafka_produce(rkt, part, RD_KAFKA_MSG_F_COPY, value, (size_t)record_bytes, key, key_len,   \
                                    (void *)(uintptr_t)call_no) == -1) {                                         \
                rd_kafka_resp_err_t e = rd_kafka_last_error();                                                   \
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {                                                        \
                    fprintf(stderr, "rdkafka_bench: produce: %s\n", rd_kafka_err2str(e));                        \
                    return 1;                                                                                    \
                }                                                                                                \
                wait_for_reports(rk, polling);                                                                   \
            }                                                                                                    \
        }                                                                                                        \
        call_no++;                                                                                               \
    } while (0)

    if (warmup) {
        for (int t = 0; t < targets; t++) PRODUCE_CALL(t, now_ns());
        rd_kafka_flush(rk, 30000);
        if (failed_calls || acked_calls != (uint64_t)targets) {
            fprintf(stderr, "rdkafka_bench: warm-up failed (%" PRIu64 " of %d acked): %s\n", acked_calls, targets,
                    first_failure);
            return 1;
        }
        memset(hist, 0, sizeof hist);
        hist_count = hist_max = 0;
        hist_sum = 0;
        acked_calls = failed_calls = acked_records = failed_records = 0;
    }

    uint64_t interval = rate > 0 ? (uint64_t)(1e9 / rate + 0.5) : 0;
    pthread_t poller;
    if (interval > 0) {
        if (pthread_create(&poller, NULL, serve_reports, rk) != 0) {
            fprintf(stderr, "rdkafka_bench: cannot start the poller thread\n");
            return 1;
        }
        polling = 1;
    }
    double cpu_before = cpu_seconds();
    uint64_t start = now_ns(), stop_at = start + (uint64_t)(duration_s * 1e9), due = start, sent = 0, last_send = start;
    int target = 0;
    for (;;) {
        if (calls > 0 && sent >= (uint64_t)calls) break;
        uint64_t now = now_ns();
        if (interval > 0) {
            if (calls == 0 && due >= stop_at) break;
            if (now < due) sleep_until(due);
        } else if (calls == 0 && now >= stop_at) {
            break;
        }
        uint64_t this_due = interval > 0 ? due : now;
        PRODUCE_CALL(target, this_due);
        last_send = this_due;
        due += interval;
        sent++;
        if (++target == targets) target = 0;
        if (!polling && (sent & 63) == 0) rd_kafka_poll(rk, 0);
    }
    /* Wait (60 s at most) until every message is delivered and its report served. */
    int flushed;
    if (polling) {
        uint64_t give_up = now_ns() + 60000000000ull;
        while (rd_kafka_outq_len(rk) > 0 && now_ns() < give_up) usleep(1000);
        flushed = rd_kafka_outq_len(rk) == 0;
        __atomic_store_n(&stop_polling, 1, __ATOMIC_RELEASE);
        pthread_join(poller, NULL);
    } else {
        flushed = rd_kafka_flush(rk, 60000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    double cpu = cpu_seconds() - cpu_before;
    uint64_t end = last_final > start ? last_final : start + 1;
    double elapsed = (double)(end - start) / 1e9;
    uint64_t unfinished = sent - acked_calls - failed_calls;

    printf("{\"acked\":%" PRIu64 ",\"calls_per_s\":%.1f,\"calls_sent\":%" PRIu64 ",\"client\":\"librdkafka %s\","
           "\"client_cpu_s\":%.3f,\"elapsed_s\":%.4f,\"failed\":%" PRIu64 ",\"first_failure\":\"%s\","
           "\"hash_keys\":%d,\"idempotence\":%s,\"latency_us\":{\"count\":%" PRIu64 ",\"max\":%" PRIu64
           ",\"mean\":%.1f,\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 "},"
           "\"linger_ms\":%s,\"partitions\":%d,\"record_bytes\":%d,\"records_acked\":%" PRIu64 ","
           "\"records_per_call\":%d,\"records_per_s\":%.1f,\"send_s\":%.4f,\"target_rate\":%.1f,"
           "\"unfinished\":%" PRIu64 ",\"vm_hwm_kb\":%ld}\n",
           acked_calls, (double)acked_calls / elapsed, sent, rd_kafka_version_str(), cpu, elapsed, failed_calls,
           first_failure, hash_keys, idempotence, hist_count, hist_max, hist_count ? hist_sum / (double)hist_count : 0.0,
           hist_percentile(50), hist_percentile(90), hist_percentile(99), hist_percentile(99.9), linger, partitions,
           record_bytes, acked_calls * (uint64_t)records_per_call, records_per_call,
           (double)acked_calls * records_per_call / elapsed, (double)(last_send - start) / 1e9, rate, unfinished,
           vm_hwm_kb());
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(value);
    return flushed && unfinished == 0 ? 0 : 1;
}
