/*
 * sluice-ctest: scenarios of libsluice against a real sluiced, one per subcommand,
 * driven by tests/test_libsluice.py. Each prints JSON lines on stdout that the pytest
 * side checks (against the harness's consumer where records are involved). Exit status
 * 0 unless the scenario itself could not run (the assertions are on the Python side).
 *
 *   sluice-ctest produce SOCK TOPIC          keys, headers, timestamps, several calls
 *   sluice-ctest fail SOCK TOPIC [PART]      a produce (async and sync) that fails
 *   sluice-ctest info SOCK TOPIC             ping and metadata
 *   sluice-ctest noack SOCK TOPIC N          N ProduceNoAck calls, then a ping
 *   sluice-ctest backpressure SOCK TOPIC N   N calls to partition 0, then a timed ping
 *   sluice-ctest restart SOCK TOPIC N        N calls, waits for a line on stdin (the test
 *                                            restarts sluiced), then reconnects
 *   sluice-ctest bench SOCK TOPIC CALLS WINDOW   pipelined loop: calls/s, CPU us/call
 *   sluice-ctest refused SOCK                a ping on a connection the gateway refuses
 *   sluice-ctest writeblock SOCK TOPIC       256 KiB calls until a write times out (500 ms)
 *   sluice-ctest synctimeout SOCK TOPIC      a produce_sync that times out, then goes on
 *   sluice-ctest allocs SOCK TOPIC           counts the library's mallocs in steady state
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sluice.h"

/* The Makefile links this program with -Wl,--wrap for these, so every allocation made
   by libsluice (linked statically) is counted; protobuf-c allocates only through the
   allocator libsluice gives it. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
static long allocations;
void *__wrap_malloc(size_t n) { allocations++; return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { allocations++; return __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { allocations++; return __real_realloc(p, n); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static sluice_client *connect_or_die(const char *path, const sluice_options *opts) {
    sluice_client *c;
    int err = sluice_connect(&c, path, opts);
    if (err) {
        fprintf(stderr, "connect %s: %s\n", path, sluice_strerror(err));
        exit(2);
    }
    return c;
}

static void die_on(int err, const char *what) {
    if (err < 0) {
        fprintf(stderr, "%s: %s\n", what, sluice_strerror(err));
        exit(2);
    }
}

/* What one call saw: the kinds of its replies in order, and the final outcome. */
struct seen {
    uint64_t ref;
    char kinds[8];
    int n_kinds;
    int32_t partition;
    int64_t offset;
    int code;
    int32_t kafka_error;
    int persistence;
    char message[256];
    double final_at;
};

static void on_reply(void *opaque, const sluice_reply *r) {
    struct seen *s = opaque;
    if (s->n_kinds < (int)sizeof s->kinds - 1) s->kinds[s->n_kinds++] = "?BAFL"[r->kind];
    s->partition = r->partition;
    if (r->kind == SLUICE_REPLY_BUFFERED) return;
    s->offset = r->base_offset;
    s->code = r->code;
    s->kafka_error = r->kafka_error;
    s->persistence = r->persistence;
    snprintf(s->message, sizeof s->message, "%s", r->message);
    s->final_at = now_s();
}

static void print_seen(const char *label, const struct seen *s) {
    printf("{\"call\":\"%s\",\"ref\":%llu,\"replies\":\"%s\",\"partition\":%d,\"offset\":%lld,"
           "\"code\":%d,\"code_name\":\"%s\",\"kafka_error\":%d,\"persistence\":%d,\"message\":",
           label, (unsigned long long)s->ref, s->kinds, s->partition, (long long)s->offset,
           s->code, sluice_code_name(s->code), s->kafka_error, s->persistence);
    json_string(s->message);
    printf("}\n");
}

static void print_result(const char *label, int err, const sluice_result *r) {
    printf("{\"call\":\"%s\",\"err\":\"%s\",\"partition\":%d,\"offset\":%lld,\"code\":%d,"
           "\"code_name\":\"%s\",\"kafka_error\":%d,\"message\":",
           label, err == SLUICE_OK ? "ok" : sluice_strerror(err), r->partition,
           (long long)r->base_offset, r->code, sluice_code_name(r->code), r->kafka_error);
    json_string(r->message);
    printf("}\n");
}

/* Three pipelined calls (explicit partitions, keys, headers, timestamps), then a sync one. */
static int cmd_produce(sluice_client *c, const char *topic) {
    sluice_header h1[] = {{"h1", "v1", 2}, {"empty", "", 0}};
    sluice_header h2[] = {{"trace", "\x00\x01\x02", 3}};
    sluice_record a[] = {
        {.key = "k1", .key_len = 2, .value = "a0", .value_len = 2, .timestamp_ms = 1700000000123,
         .headers = h1, .n_headers = 2},
        {.key = "k2", .key_len = 2, .value = "a1", .value_len = 2, .timestamp_ms = 1700000000124},
        {.key = "k3", .key_len = 2, .value = "a2", .value_len = 2, .timestamp_ms = 1700000000125,
         .headers = h2, .n_headers = 1},
    };
    sluice_record b[] = {{.value = "", .value_len = 0, .timestamp_ms = 1700000001000}}; /* null key, empty value */
    sluice_record d[] = {{.key = "same-key", .key_len = 8, .value = "d0", .value_len = 2}}; /* timestamp: now */
    struct seen sa = {0}, sb = {0}, sd = {0};
    die_on(sluice_produce(c, topic, 1, a, 3, on_reply, &sa, &sa.ref), "produce a");
    die_on(sluice_produce(c, topic, 2, b, 1, on_reply, &sb, &sb.ref), "produce b");
    die_on(sluice_produce(c, topic, SLUICE_PARTITION_HASH, d, 1, on_reply, &sd, &sd.ref), "produce d");
    printf("{\"unfinished\":%zu}\n", sluice_unfinished(c));
    die_on(sluice_flush(c, 20000), "flush");
    print_seen("a", &sa);
    print_seen("b", &sb);
    print_seen("d", &sd);
    sluice_record e[] = {{.key = "same-key", .key_len = 8, .value = "e0", .value_len = 2,
                          .timestamp_ms = 1700000002000}};
    sluice_result r;
    int err = sluice_produce_sync(c, topic, SLUICE_PARTITION_HASH, e, 1, 20000, &r);
    print_result("e", err, &r);
    return 0;
}

static int cmd_fail(sluice_client *c, const char *topic, int32_t partition) {
    sluice_record rec = {.value = "x", .value_len = 1};
    struct seen s = {0};
    die_on(sluice_produce(c, topic, partition, &rec, 1, on_reply, &s, &s.ref), "produce");
    die_on(sluice_flush(c, 20000), "flush");
    print_seen("async", &s);
    sluice_result r;
    int err = sluice_produce_sync(c, topic, partition, &rec, 1, 20000, &r);
    print_result("sync", err, &r);
    char version[64];
    err = sluice_ping(c, 5000, version, sizeof version);
    printf("{\"call\":\"ping_after\",\"err\":\"%s\"}\n", err ? sluice_strerror(err) : "ok");
    return 0;
}

static int cmd_info(sluice_client *c, const char *topic) {
    char version[64];
    int err = sluice_ping(c, 5000, version, sizeof version);
    printf("{\"call\":\"ping\",\"err\":\"%s\",\"version\":", err ? sluice_strerror(err) : "ok");
    json_string(version);
    printf("}\n");
    int32_t count = -1;
    sluice_result r = {0};
    err = sluice_metadata(c, topic, 20000, &count, &r);
    printf("{\"call\":\"metadata\",\"err\":\"%s\",\"partition_count\":%d,\"code_name\":\"%s\"}\n",
           err ? sluice_strerror(err) : "ok", count, sluice_code_name(r.code));
    return 0;
}

static void on_error(void *opaque, const sluice_reply *r) {
    (void)opaque;
    printf("{\"on_error\":\"%s\",\"ref\":%llu,\"message\":", sluice_code_name(r->code),
           (unsigned long long)r->ref);
    json_string(r->message);
    printf("}\n");
}

static int cmd_noack(const char *path, const char *topic, int n) {
    sluice_options opts = {.on_error = on_error};
    sluice_client *c = connect_or_die(path, &opts);
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "n%d", i);
        sluice_record rec = {.value = value, .value_len = (size_t)len};
        die_on(sluice_produce_no_ack(c, topic, 0, &rec, 1), "produce_no_ack");
    }
    /* The ping is answered after the calls before it were handled, rejections included;
       one poll then delivers anything still buffered. */
    die_on(sluice_ping(c, 10000, NULL, 0), "ping");
    sluice_poll(c, 0);
    printf("{\"sent\":%d}\n", n);
    sluice_close(c);
    return 0;
}

/* The gateway refuses this peer: one failed{NOT_AUTHORIZED} with ref 0, then the close. */
static int cmd_refused(const char *path) {
    sluice_options opts = {.on_error = on_error};
    sluice_client *c = connect_or_die(path, &opts);
    int err = sluice_ping(c, 10000, NULL, 0);
    printf("{\"ping\":\"%s\",\"connected\":%d}\n", sluice_strerror(err), sluice_connected(c));
    sluice_close(c);
    return 0;
}

/* The gateway holds the connection (back-pressure): writes block, then time out. */
static int cmd_writeblock(const char *path, const char *topic) {
    sluice_options opts = {.write_timeout_ms = 500};
    sluice_client *c = connect_or_die(path, &opts);
    static char value[256 * 1024];
    memset(value, 'w', sizeof value);
    sluice_record rec = {.value = value, .value_len = sizeof value};
    struct seen s[64] = {{0}};
    int err = 0, sent = 0;
    double call_s = 0;
    for (; sent < 64; sent++) {
        double t0 = now_s();
        err = sluice_produce(c, topic, 0, &rec, 1, on_reply, &s[sent], &s[sent].ref);
        call_s = now_s() - t0;
        if (err) break;
    }
    int lost = 0;
    for (int i = 0; i < sent; i++) lost += s[i].n_kinds && s[i].kinds[s[i].n_kinds - 1] == 'L';
    printf("{\"err\":\"%s\",\"sent\":%d,\"blocked_ms\":%.0f,\"connected\":%d,\"lost\":%d,\"unfinished\":%zu}\n",
           sluice_strerror(err), sent, call_s * 1e3, sluice_connected(c), lost, sluice_unfinished(c));
    sluice_close(c);
    return 0;
}

/* sluiced lingers 1 s: a 100 ms produce_sync times out, the call goes on and ends. */
static int cmd_synctimeout(sluice_client *c, const char *topic) {
    sluice_record rec = {.value = "slow", .value_len = 4};
    sluice_result r;
    int err = sluice_produce_sync(c, topic, 0, &rec, 1, 100, &r);
    size_t unfinished = sluice_unfinished(c);
    int flushed = sluice_flush(c, 10000);
    printf("{\"sync\":\"%s\",\"unfinished_after_timeout\":%zu,\"flush\":\"%s\",\"unfinished\":%zu}\n",
           sluice_strerror(err), unfinished, sluice_strerror(flushed), sluice_unfinished(c));
    err = sluice_produce_sync(c, topic, 0, &rec, 1, 10000, &r);
    print_result("again", err, &r);
    return 0;
}

/* Calls of 3 records with 2 headers each: after a warm-up (buffers grown), none of the
   next calls, nor their replies, should allocate. */
static int cmd_allocs(sluice_client *c, const char *topic) {
    sluice_header h[] = {{"a", "1", 1}, {"b", "2", 1}};
    sluice_record recs[3];
    for (int i = 0; i < 3; i++)
        recs[i] = (sluice_record){.key = "key", .key_len = 3, .value = "value", .value_len = 5,
                                  .headers = h, .n_headers = 2};
    long counts[2];
    for (int phase = 0; phase < 2; phase++) {
        long before = allocations;
        for (int i = 0; i < 500; i++)
            die_on(sluice_produce(c, topic, i % 3, recs, 3, NULL, NULL, NULL), "produce");
        die_on(sluice_flush(c, 20000), "flush");
        counts[phase] = allocations - before;
    }
    printf("{\"warmup_allocations\":%ld,\"steady_allocations\":%ld,\"calls\":500}\n", counts[0], counts[1]);
    return 0;
}

static int cmd_backpressure(sluice_client *c, const char *topic, int n) {
    struct seen *s = calloc((size_t)n, sizeof *s);
    double start = now_s();
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "bp%d", i);
        sluice_record rec = {.value = value, .value_len = (size_t)len};
        die_on(sluice_produce(c, topic, 0, &rec, 1, on_reply, &s[i], &s[i].ref), "produce");
    }
    double sent = now_s();
    /* The gateway reads the ping only once every call before it is buffered. */
    die_on(sluice_ping(c, 20000, NULL, 0), "ping");
    double pong = now_s();
    int final_before_pong = 0;
    for (int i = 0; i < n; i++) final_before_pong += s[i].final_at > 0;
    die_on(sluice_flush(c, 20000), "flush");
    printf("{\"send_ms\":%.1f,\"pong_ms\":%.1f,\"final_before_pong\":%d}\n",
           (sent - start) * 1e3, (pong - start) * 1e3, final_before_pong);
    for (int i = 0; i < n; i++) print_seen("bp", &s[i]);
    free(s);
    return 0;
}

static int cmd_restart(sluice_client *c, const char *topic, int n) {
    struct seen *s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < n; i++) {
        sluice_record rec = {.value = "r", .value_len = 1};
        die_on(sluice_produce(c, topic, 0, &rec, 1, on_reply, &s[i], &s[i].ref), "produce");
    }
    /* Answered once the calls before it are buffered: their BUFFERED replies are in. */
    die_on(sluice_ping(c, 10000, NULL, 0), "ping");
    printf("{\"sent\":%d}\n", n);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 2; /* the test restarted sluiced */
    /* Poll until the client notices the connection is gone. */
    int err = 0;
    double deadline = now_s() + 20;
    while (now_s() < deadline && (err = sluice_poll(c, 1000)) >= 0) {}
    printf("{\"poll\":\"%s\",\"connected\":%d,\"unfinished\":%zu}\n", sluice_strerror(err),
           sluice_connected(c), sluice_unfinished(c));
    for (int i = 0; i < n; i++) print_seen("inflight", &s[i]);
    /* The new daemon may still be starting: retry the reconnect for a while. */
    int attempts = 0;
    do {
        attempts++;
        err = sluice_reconnect(c);
        if (err) {
            struct timespec pause = {0, 100 * 1000000};
            nanosleep(&pause, NULL);
        }
    } while (err && now_s() < deadline);
    printf("{\"reconnect\":\"%s\",\"attempts\":%d}\n", err ? sluice_strerror(err) : "ok", attempts);
    sluice_record rec = {.value = "after", .value_len = 5};
    sluice_result r;
    err = sluice_produce_sync(c, topic, 0, &rec, 1, 20000, &r);
    print_result("after", err, &r);
    free(s);
    return 0;
}

static int acked_count;
static int failed_count;
static void on_bench_reply(void *opaque, const sluice_reply *r) {
    (void)opaque;
    if (r->kind == SLUICE_REPLY_ACKED) acked_count++;
    else if (r->kind != SLUICE_REPLY_BUFFERED) failed_count++;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

/* A pipelined loop: keeps up to `window` calls of one 100-byte record unfinished. */
static int cmd_bench(sluice_client *c, const char *topic, int calls, int window) {
    int32_t partitions = 1;
    die_on(sluice_metadata(c, topic, 10000, &partitions, NULL), "metadata");
    char value[100];
    memset(value, 'x', sizeof value);
    sluice_record rec = {.value = value, .value_len = sizeof value};
    /* Warm-up: one call per partition, so partition producers exist. */
    for (int32_t p = 0; p < partitions; p++) die_on(sluice_produce_sync(c, topic, p, &rec, 1, 20000, NULL), "warm-up");
    double start = now_s(), cpu0 = cpu_s();
    for (int i = 0; i < calls; i++) {
        while (sluice_unfinished(c) >= (size_t)window) die_on(sluice_poll(c, 10000), "poll");
        die_on(sluice_produce(c, topic, i % partitions, &rec, 1, on_bench_reply, NULL, NULL), "produce");
        if (sluice_unfinished(c) >= (size_t)window) die_on(sluice_poll(c, 0), "poll");
    }
    die_on(sluice_flush(c, 60000), "flush");
    double elapsed = now_s() - start, cpu = cpu_s() - cpu0;
    printf("{\"calls\":%d,\"window\":%d,\"partitions\":%d,\"acked\":%d,\"failed\":%d,\"elapsed_s\":%.3f,"
           "\"calls_per_s\":%.0f,\"client_cpu_us_per_call\":%.2f}\n",
           calls, window, partitions, acked_count, failed_count, elapsed, calls / elapsed, cpu * 1e6 / calls);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: %s produce|fail|info|noack|backpressure|restart|bench SOCK [TOPIC ...]\n", argv[0]);
        return 2;
    }
    const char *cmd = argv[1], *path = argv[2], *topic = argc > 3 ? argv[3] : "";
    if (!strcmp(cmd, "noack") && argc > 4) return cmd_noack(path, topic, atoi(argv[4]));
    if (!strcmp(cmd, "refused")) return cmd_refused(path);
    if (!strcmp(cmd, "writeblock")) return cmd_writeblock(path, topic);
    sluice_client *c = connect_or_die(path, NULL);
    int status = 2;
    if (!strcmp(cmd, "produce")) status = cmd_produce(c, topic);
    else if (!strcmp(cmd, "fail")) status = cmd_fail(c, topic, argc > 4 ? atoi(argv[4]) : 0);
    else if (!strcmp(cmd, "info")) status = cmd_info(c, topic);
    else if (!strcmp(cmd, "synctimeout")) status = cmd_synctimeout(c, topic);
    else if (!strcmp(cmd, "allocs")) status = cmd_allocs(c, topic);
    else if (!strcmp(cmd, "backpressure") && argc > 4) status = cmd_backpressure(c, topic, atoi(argv[4]));
    else if (!strcmp(cmd, "restart") && argc > 4) status = cmd_restart(c, topic, atoi(argv[4]));
    else if (!strcmp(cmd, "bench") && argc > 5) status = cmd_bench(c, topic, atoi(argv[4]), atoi(argv[5]));
    else fprintf(stderr, "unknown command or missing arguments: %s\n", cmd);
    sluice_close(c);
    return status;
}
