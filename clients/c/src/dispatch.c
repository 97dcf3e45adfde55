/*
 * Reply decoding and delivery: frames are cut from c->in, decoded with protobuf-c into
 * the client's arena, matched to their call by ref and handed to its callback or
 * waiter. Also the loops that wait for replies: sluice_poll, sluice_flush, wait_for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Largest reply frame accepted: replies are small (a Failed message is the biggest). */
#define MAX_REPLY_BYTES (1u << 20)

void deliver(sluice_client *c, sluice_reply_cb cb, void *opaque, const sluice_reply *r) {
    if (!cb) return;
    c->in_callback++;
    cb(opaque, r);
    c->in_callback--;
}

static void copy_message(sluice_result *res, const char *msg) {
    snprintf(res->message, sizeof res->message, "%s", msg ? msg : "");
}

static void fill_failed(sluice_result *res, const Sluice__V1__Failed *f) {
    memset(res, 0, sizeof *res);
    res->partition = f->partition;
    res->base_offset = -1;
    res->code = f->code;
    res->kafka_error = f->kafka_error;
    copy_message(res, f->message);
}

/* A reply that names no call of ours: ref 0 (connection level) or a no-ack rejection. */
static void deliver_orphan(sluice_client *c, const Sluice__V1__Reply *reply) {
    if (reply->kind_case != SLUICE__V1__REPLY__KIND_FAILED || !reply->failed) return;
    if (reply->ref != 0 && !(reply->ref & NO_ACK_REF_BIT)) return; /* late: its waiter gave up */
    const Sluice__V1__Failed *f = reply->failed;
    if (reply->ref == 0)
        snprintf(c->conn_failure, sizeof c->conn_failure, "%s: %s", sluice_code_name(f->code),
                 f->message ? f->message : "");
    sluice_reply r = {.ref = reply->ref, .kind = SLUICE_REPLY_FAILED, .partition = f->partition,
                      .base_offset = -1, .code = f->code, .kafka_error = f->kafka_error,
                      .message = f->message ? f->message : "", .persistence = (int)f->persistence};
    deliver(c, c->opts.on_error, c->opts.on_error_opaque, &r);
}

static void handle_produce(sluice_client *c, struct call *call, const Sluice__V1__Reply *reply) {
    sluice_reply r = {.ref = reply->ref, .partition = -1, .base_offset = -1, .message = ""};
    bool final = true;
    switch (reply->kind_case) {
    case SLUICE__V1__REPLY__KIND_BUFFERED:
        r.kind = SLUICE_REPLY_BUFFERED;
        r.partition = reply->buffered->partition;
        final = false;
        break;
    case SLUICE__V1__REPLY__KIND_ACKED:
        r.kind = SLUICE_REPLY_ACKED;
        r.partition = reply->acked->partition;
        r.base_offset = reply->acked->base_offset;
        break;
    case SLUICE__V1__REPLY__KIND_FAILED:
        r.kind = SLUICE_REPLY_FAILED;
        r.partition = reply->failed->partition;
        r.code = reply->failed->code;
        r.kafka_error = reply->failed->kafka_error;
        r.message = reply->failed->message ? reply->failed->message : "";
        r.persistence = (int)reply->failed->persistence;
        break;
    default:
        return; /* sync_result etc.: we send no SyncWait; ignore */
    }
    struct waiter *w = call->waiter;
    sluice_reply_cb cb = call->cb;
    void *opaque = call->opaque;
    /* Free the slot before the callback: it may start new calls. */
    if (final) calls_release(c, call);
    if (w) {
        if (!final) return;
        w->done = true;
        w->err = r.kind == SLUICE_REPLY_ACKED ? SLUICE_OK : SLUICE_ERR_FAILED;
        if (w->result) {
            memset(w->result, 0, sizeof *w->result);
            w->result->partition = r.partition;
            w->result->base_offset = r.base_offset;
            if (r.kind == SLUICE_REPLY_FAILED) fill_failed(w->result, reply->failed);
        }
        return;
    }
    deliver(c, cb, opaque, &r);
}

static void handle_request_reply(sluice_client *c, struct call *call, const Sluice__V1__Reply *reply) {
    struct waiter *w = call->waiter;
    enum call_kind kind = call->kind;
    calls_release(c, call);
    if (!w) return;
    w->done = true;
    if (reply->kind_case == SLUICE__V1__REPLY__KIND_FAILED) {
        w->err = SLUICE_ERR_FAILED;
        if (w->result) fill_failed(w->result, reply->failed);
    } else if (kind == CALL_PING && reply->kind_case == SLUICE__V1__REPLY__KIND_PONG) {
        w->err = SLUICE_OK;
        if (w->version && w->version_len)
            snprintf(w->version, w->version_len, "%s", reply->pong->version ? reply->pong->version : "");
    } else if (kind == CALL_METADATA && reply->kind_case == SLUICE__V1__REPLY__KIND_METADATA) {
        w->err = SLUICE_OK;
        w->partition_count = reply->metadata->partition_count;
    } else {
        w->err = SLUICE_ERR_PROTOCOL;
    }
}

static void dispatch_one(sluice_client *c, const Sluice__V1__Reply *reply) {
    struct call *call = reply->ref ? calls_find(c, reply->ref) : NULL;
    if (!call) {
        deliver_orphan(c, reply);
    } else if (call->kind == CALL_PRODUCE) {
        handle_produce(c, call, reply);
    } else {
        handle_request_reply(c, call, reply);
    }
}

/*
 * Decodes and delivers every whole frame in c->in. Returns the number delivered, or
 * SLUICE_ERR_PROTOCOL for a frame that does not decode (the caller drops the
 * connection: we cannot know which call it answered).
 */
int dispatch_frames(sluice_client *c) {
    int delivered = 0;
    while (c->fd >= 0 && c->in.len - c->in.pos >= 4) {
        const uint8_t *p = c->in.data + c->in.pos;
        uint32_t size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (size > MAX_REPLY_BYTES) return SLUICE_ERR_PROTOCOL;
        if (c->in.len - c->in.pos < 4 + (size_t)size) break;
        Sluice__V1__Reply *reply = sluice__v1__reply__unpack(&c->allocator, size, p + 4);
        /* Consume the frame first: a callback may read more into c->in. */
        c->in.pos += 4 + (size_t)size;
        if (!reply) return SLUICE_ERR_PROTOCOL;
        dispatch_one(c, reply);
        sluice__v1__reply__free_unpacked(reply, &c->allocator);
        c->arena_used = 0;
        delivered++;
    }
    return delivered;
}

/* Reads and delivers what is there without waiting; on a broken connection, fails the
   unfinished calls and returns the error. */
static int pump(sluice_client *c, int *delivered) {
    int got = io_read_available(c);
    if (got == SLUICE_ERR_NOMEM) return got;
    int d = dispatch_frames(c);
    if (d < 0) {
        client_lost(c, "sluiced sent a reply this client cannot decode; the connection was closed");
        return SLUICE_ERR_PROTOCOL;
    }
    *delivered += d;
    if (got < 0) {
        client_lost(c, "the connection to sluiced was lost; the call's outcome is unknown");
        return SLUICE_ERR_DISCONNECTED;
    }
    return SLUICE_OK;
}

int sluice_poll(sluice_client *c, int timeout_ms) {
    if (!c) return SLUICE_ERR_ARG;
    if (c->in_callback) return SLUICE_ERR_REENTRANT;
    if (c->fd < 0) return SLUICE_ERR_DISCONNECTED;
    int64_t deadline = io_deadline(timeout_ms);
    int delivered = 0;
    for (;;) {
        int err = pump(c, &delivered);
        if (err) return delivered ? delivered : err;
        if (delivered) return delivered;
        int r = io_wait_readable(c, deadline);
        if (r < 0) return r;
        if (r == 0) return 0;
    }
}

int sluice_flush(sluice_client *c, int timeout_ms) {
    if (!c) return SLUICE_ERR_ARG;
    if (c->in_callback) return SLUICE_ERR_REENTRANT;
    int64_t deadline = io_deadline(timeout_ms);
    int delivered = 0;
    while (c->unfinished_produce) {
        if (c->fd < 0) return SLUICE_ERR_DISCONNECTED;
        int err = pump(c, &delivered);
        if (err) return err;
        if (!c->unfinished_produce) break;
        int r = io_wait_readable(c, deadline);
        if (r < 0) return r;
        if (r == 0) return SLUICE_ERR_TIMEOUT;
    }
    return SLUICE_OK;
}

/* Delivers replies until the waiter's reply came or the timeout passed. */
int wait_for(sluice_client *c, struct waiter *w, int timeout_ms) {
    int64_t deadline = io_deadline(timeout_ms);
    int delivered = 0;
    for (;;) {
        int err = pump(c, &delivered);
        if (w->done) return w->err;
        if (err) return err;
        int r = io_wait_readable(c, deadline);
        if (r < 0) return r;
        if (r == 0) return SLUICE_ERR_TIMEOUT;
    }
}
