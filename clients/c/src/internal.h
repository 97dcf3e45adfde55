/* libsluice internals: the client's state, shared by the src/ files. Not installed. */
#ifndef SLUICE_INTERNAL_H
#define SLUICE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "sluice.h"
#include "sluice/v1/sluice.pb-c.h"

/* Refs of ProduceNoAck calls have this bit set: they get no slot (there is no final
   reply to free it), and a reply carrying such a ref is a rejection for on_error. */
#define NO_ACK_REF_BIT (UINT64_C(1) << 63)

/* Slots are numbered from 1 in the low 32 bits of a ref; the high bits are the slot's
   generation, so a late reply for a slot since reused matches nothing. */
#define MAX_SLOTS (1u << 20)

/* io_write_frame: the deadline passed with part of a frame written. */
#define IO_TIMEOUT_MID_FRAME (-100)

/* What a call slot is waiting for. */
enum call_kind { CALL_FREE = 0, CALL_PRODUCE, CALL_PING, CALL_METADATA };

/* A waiting API call (produce_sync, ping, metadata) on the caller's stack. */
struct waiter {
    bool done;
    int err;               /* SLUICE_OK, SLUICE_ERR_FAILED, SLUICE_ERR_DISCONNECTED */
    sluice_result *result; /* may be NULL */
    int32_t partition_count;
    char *version;
    size_t version_len;
};

struct call {
    uint64_t ref;        /* 0 when free */
    enum call_kind kind;
    sluice_reply_cb cb;  /* produce calls */
    void *opaque;
    struct waiter *waiter; /* waiting calls; NULL once the waiter gave up */
    uint32_t generation;
    uint32_t next_free;  /* free list: index + 1, 0 = end */
};

struct buffer {
    uint8_t *data;
    size_t len;  /* bytes held */
    size_t pos;  /* bytes already consumed (input buffer) */
    size_t cap;
};

struct sluice_client {
    int fd; /* -1 when disconnected */
    char *path;
    sluice_options opts;

    struct call *calls;
    uint32_t calls_cap;
    uint32_t free_head;        /* index + 1 of the first free slot, 0 = none */
    size_t unfinished_produce; /* produce calls without their final reply */
    uint64_t no_ack_counter;

    struct buffer out;
    struct buffer in;

    /* Scratch space for the protobuf-c structs of one produce request: grown to the
       largest call seen, so a call allocates nothing per record. */
    Sluice__V1__Record *records;
    Sluice__V1__Record **record_ptrs;
    size_t records_cap;
    Sluice__V1__Header *headers;
    Sluice__V1__Header **header_ptrs;
    size_t headers_cap;

    /* Replies are decoded into this arena (reset after each reply); larger ones fall
       back to malloc. */
    ProtobufCAllocator allocator;
    size_t arena_used;
    _Alignas(16) uint8_t arena[4096];

    int in_callback; /* depth of callbacks running */

    /* A connection-level failure (ref 0) the gateway sent before closing, named in the
       LOST messages of the calls that close ends; and the text of those messages. */
    char conn_failure[160];
    char lost_message[320];
};

/* calls.c */
int calls_take(sluice_client *c, enum call_kind kind, struct call **out);
struct call *calls_find(sluice_client *c, uint64_t ref);
void calls_release(sluice_client *c, struct call *call);
void calls_fail_all(sluice_client *c, const char *why);
void calls_free_table(sluice_client *c);

/* io.c */
int io_connect(const char *path, int timeout_ms, int *fd_out);
int io_read_available(sluice_client *c);
int io_write_frame(sluice_client *c, int64_t deadline_ms);
int io_wait_readable(sluice_client *c, int64_t deadline_ms);
int64_t io_now_ms(void);
int64_t io_deadline(int timeout_ms);
int buffer_reserve(struct buffer *b, size_t extra);

/* encode.c */
int encode_produce(sluice_client *c, uint64_t ref, bool no_ack, const char *topic,
                   int32_t partition, const sluice_record *records, size_t n);
int encode_ping(sluice_client *c, uint64_t ref);
int encode_metadata(sluice_client *c, uint64_t ref, const char *topic);

/* dispatch.c */
int dispatch_frames(sluice_client *c);
int wait_for(sluice_client *c, struct waiter *w, int timeout_ms);
void deliver(sluice_client *c, sluice_reply_cb cb, void *opaque, const sluice_reply *r);

/* client.c */
void client_lost(sluice_client *c, const char *why);
int client_send(sluice_client *c, struct call *call);

#endif
