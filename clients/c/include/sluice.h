/*
 * libsluice: a C client for sluiced's socket protocol, version 1 (docs/protocol.md).
 *
 * One sluice_client is one connection to the gateway. Produce calls are pipelined:
 * sluice_produce() returns once the request is written, and the replies (buffered, then
 * acked or failed) are delivered to the call's callback by sluice_poll() or by any other
 * call that waits for a reply (sluice_produce_sync, sluice_ping, sluice_metadata).
 *
 * Thread safety: a client is not thread-safe. Use one client per thread, or serialise
 * every call on a client with a lock of your own. Distinct clients share nothing and
 * may be used from different threads at once. sluice_strerror() and sluice_code_name()
 * are thread-safe.
 *
 * Callbacks run on the thread that called sluice_poll (or the waiting call). A callback
 * may call sluice_produce() and sluice_produce_no_ack() on the same client, but not the
 * calls that wait (they return SLUICE_ERR_REENTRANT), nor sluice_close().
 *
 * Memory: the library allocates when a client is created and grows its buffers to the
 * largest request and reply seen; a produce call allocates nothing per record, and
 * replies are decoded into a per-client arena.
 *
 * Errors: functions return SLUICE_OK (0) or a negative sluice_err; sluice_strerror()
 * names it. Failures reported by the gateway are protocol error codes (sluice_code),
 * delivered in a sluice_reply or sluice_result with a message.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

#define SLUICE_VERSION "0.1.0"

/* Library errors: what went wrong on this side of the socket. */
typedef enum sluice_err {
    SLUICE_OK = 0,
    SLUICE_ERR_ARG = -1,           /* an invalid argument (NULL, empty topic, no records...) */
    SLUICE_ERR_NOMEM = -2,         /* out of memory */
    SLUICE_ERR_CONNECT = -3,       /* could not connect to the socket (see errno) */
    SLUICE_ERR_TIMEOUT = -4,       /* the timeout passed before the reply (or the write) */
    SLUICE_ERR_DISCONNECTED = -5,  /* the connection is lost: sluice_reconnect() */
    SLUICE_ERR_PROTOCOL = -6,      /* the gateway sent something this library cannot read */
    SLUICE_ERR_FAILED = -7,        /* the gateway answered `failed`: see the sluice_result */
    SLUICE_ERR_REENTRANT = -8,     /* a waiting call made from inside a callback */
    SLUICE_ERR_TOO_MANY_CALLS = -9 /* more unfinished calls than the client tracks */
} sluice_err;

/* The protocol's ErrorCode values (Failed.code), docs/protocol.md section 5. */
typedef enum sluice_code {
    SLUICE_CODE_UNSPECIFIED = 0,
    SLUICE_CODE_INVALID_REQUEST = 1,
    SLUICE_CODE_FRAME_TOO_LARGE = 2,
    SLUICE_CODE_DUPLICATE_REF = 3,
    SLUICE_CODE_UNKNOWN_REF = 4,
    SLUICE_CODE_UNKNOWN_TOPIC = 5,
    SLUICE_CODE_UNKNOWN_PARTITION = 6,
    SLUICE_CODE_RECORD_TOO_LARGE = 7,
    SLUICE_CODE_NOT_AUTHORIZED = 8,
    SLUICE_CODE_RETRIES_EXHAUSTED = 9,
    SLUICE_CODE_KAFKA_ERROR = 10,
    SLUICE_CODE_TIMEOUT = 11,
    SLUICE_CODE_SHUTTING_DOWN = 12,
    SLUICE_CODE_DELIVERY_TIMEOUT = 13, /* no final answer within delivery_timeout_ms */
    SLUICE_CODE_SPOOL_UNAVAILABLE = 14 /* the gateway's spool cannot take the call now
                                          (disk full, max_bytes with when_full = fail,
                                          a write error): never buffered */
} sluice_code;

/* The protocol's Persistence values (Failed.persistence, docs/protocol.md section 3.5):
   may a failed call's records be in Kafka anyway? UNSPECIFIED (an older gateway) counts
   as POSSIBLY_PERSISTED before a retry. */
typedef enum sluice_persistence {
    SLUICE_PERSISTENCE_UNSPECIFIED = 0,
    SLUICE_NOT_PERSISTED = 1,     /* never sent, or the broker answered an error: retry safely */
    SLUICE_POSSIBLY_PERSISTED = 2 /* sent and no answer came: a retry may duplicate */
} sluice_persistence;

/* A human-readable text for a sluice_err (static storage). */
SLUICE_API const char *sluice_strerror(int err);
/* The protocol name of a sluice_code ("UNKNOWN_TOPIC"), or "UNKNOWN_CODE". */
SLUICE_API const char *sluice_code_name(int code);

/* Partitioning of a produce call: a partition number >= 0, or one of these. */
#define SLUICE_PARTITION_HASH (-1)   /* murmur2 of the first record's key, as Kafka's Java client */
#define SLUICE_PARTITION_RANDOM (-2) /* a random partition */

/* A record header. `key` is a NUL-terminated UTF-8 string. */
typedef struct sluice_header {
    const char *key;
    const void *value;
    size_t value_len;
} sluice_header;

/*
 * A record. An empty key (key_len 0) is a null key; an empty value is an empty value.
 * timestamp_ms 0 lets the gateway stamp the time it received the call. The library
 * only reads these while the call that takes them runs.
 */
typedef struct sluice_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;
    const sluice_header *headers;
    size_t n_headers;
} sluice_record;

typedef enum sluice_reply_kind {
    SLUICE_REPLY_BUFFERED = 1, /* the call is in a partition buffer; a final reply follows */
    SLUICE_REPLY_ACKED = 2,    /* final: Kafka stored the call at base_offset */
    SLUICE_REPLY_FAILED = 3,   /* final: the gateway failed the call (code, message...) */
    SLUICE_REPLY_LOST = 4      /* final: the connection was lost before the outcome was
                                  known. The call is in doubt: it may still be produced.
                                  The library never resends it. */
} sluice_reply_kind;

/* A reply to a produce call. `message` is valid only during the callback. */
typedef struct sluice_reply {
    uint64_t ref;
    sluice_reply_kind kind;
    int32_t partition;   /* -1 when none was chosen yet */
    int64_t base_offset; /* ACKED: offset of the call's first record (-1 with required_acks 0) */
    int code;            /* FAILED: a sluice_code */
    int32_t kafka_error; /* FAILED: Kafka's error code when a broker error is the cause, else 0 */
    const char *message; /* FAILED / LOST: what happened; "" otherwise */
    int persistence;     /* FAILED: a sluice_persistence (last, so that the struct only
                            grew: the library allocates it, callbacks read it) */
} sluice_reply;

typedef void (*sluice_reply_cb)(void *opaque, const sluice_reply *reply);

/* The outcome of a call that waits (sluice_produce_sync, sluice_metadata). */
typedef struct sluice_result {
    int32_t partition;
    int64_t base_offset;
    int code;          /* SLUICE_CODE_UNSPECIFIED unless the gateway answered failed */
    int32_t kafka_error;
    char message[256]; /* the gateway's message, truncated; "" when none */
} sluice_result;

typedef struct sluice_options {
    int connect_timeout_ms; /* connecting (the socket's backlog full); 0 = 5000 */
    int write_timeout_ms;   /* how long a write may block on back-pressure; 0 = 30000,
                               -1 = without limit. Past it the call returns
                               SLUICE_ERR_TIMEOUT and the connection is closed (a
                               half-written frame cannot be taken back). */
    /* Called for a ProduceNoAck call the gateway rejected at once (its only reply), and
       for connection-level failures (ref 0: NOT_AUTHORIZED at connect, FRAME_TOO_LARGE).
       May be NULL. */
    sluice_reply_cb on_error;
    void *on_error_opaque;
} sluice_options;

typedef struct sluice_client sluice_client;

/*
 * Connects to the gateway's socket (e.g. "/run/sluice/sluiced.sock"). opts may be NULL.
 * On success *out is a new client; on failure *out is NULL and errno tells why.
 */
SLUICE_API int sluice_connect(sluice_client **out, const char *socket_path, const sluice_options *opts);

/* Closes the connection and frees the client. Unfinished produce calls get a
   SLUICE_REPLY_LOST callback first. NULL is accepted. */
SLUICE_API void sluice_close(sluice_client *c);

/*
 * Opens a new connection to the same socket after the old one was lost (or to replace
 * it). Unfinished calls of the old connection are failed with SLUICE_REPLY_LOST first:
 * they are in doubt and are not resent.
 */
SLUICE_API int sluice_reconnect(sluice_client *c);

/* Whether the client has a live connection (1) or lost it (0). */
SLUICE_API int sluice_connected(const sluice_client *c);

/* The socket's file descriptor, for an event loop (POLLIN means sluice_poll has work);
   -1 when disconnected. Do not read or write it yourself. */
SLUICE_API int sluice_fd(const sluice_client *c);

/* Produce calls sent whose final reply has not been delivered yet. */
SLUICE_API size_t sluice_unfinished(const sluice_client *c);

/*
 * Sends a produce call of n records (at least one) to `topic`, to `partition` (>= 0) or
 * SLUICE_PARTITION_HASH / SLUICE_PARTITION_RANDOM. Returns once the request is written
 * (it may block on the gateway's back-pressure, up to write_timeout_ms). `cb` (may be
 * NULL) gets the call's replies: BUFFERED, then exactly one of ACKED, FAILED or LOST.
 * *ref_out (may be NULL) receives the ref the library chose for the call.
 */
SLUICE_API int sluice_produce(sluice_client *c, const char *topic, int32_t partition,
                              const sluice_record *records, size_t n,
                              sluice_reply_cb cb, void *opaque, uint64_t *ref_out);

/*
 * Fire and forget (ProduceNoAck): no reply unless the gateway rejects the call at once,
 * which goes to options.on_error. Later failures are not reported.
 */
SLUICE_API int sluice_produce_no_ack(sluice_client *c, const char *topic, int32_t partition,
                                     const sluice_record *records, size_t n);

/*
 * Reads the replies that arrive within timeout_ms (0: only what is there, -1: wait for
 * at least one) and delivers them to their callbacks. Returns the number of replies
 * delivered (>= 0) or a sluice_err. When the connection is lost, the unfinished calls get
 * their LOST callback and SLUICE_ERR_DISCONNECTED is returned.
 */
SLUICE_API int sluice_poll(sluice_client *c, int timeout_ms);

/*
 * Delivers replies until every produce call sent has its final reply, or timeout_ms
 * passes (-1: without limit). Returns SLUICE_OK, SLUICE_ERR_TIMEOUT or another error.
 */
SLUICE_API int sluice_flush(sluice_client *c, int timeout_ms);

/*
 * Produce and wait for the final reply, up to timeout_ms (-1: without limit). Returns
 * SLUICE_OK when acked (result->partition, result->base_offset), SLUICE_ERR_FAILED when
 * the gateway failed it (result->code, ->message, ->kafka_error, ->partition), or an
 * error. On SLUICE_ERR_TIMEOUT the call goes on; its later replies are dropped. Replies
 * of other calls that arrive meanwhile go to their callbacks. result may be NULL.
 */
SLUICE_API int sluice_produce_sync(sluice_client *c, const char *topic, int32_t partition,
                                   const sluice_record *records, size_t n,
                                   int timeout_ms, sluice_result *result);

/* Ping: waits for the pong; copies the gateway's version into version (may be NULL). */
SLUICE_API int sluice_ping(sluice_client *c, int timeout_ms, char *version, size_t version_len);

/*
 * The topic's partition count. SLUICE_ERR_FAILED with result->code
 * SLUICE_CODE_UNKNOWN_TOPIC when there is no such topic. result may be NULL.
 */
SLUICE_API int sluice_metadata(sluice_client *c, const char *topic, int timeout_ms,
                               int32_t *partition_count, sluice_result *result);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_H */
