/* The client's life: connect, reconnect, close, and losing the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_WRITE_TIMEOUT_MS 30000

/* protobuf-c allocator over the client's arena: decoding a reply costs no malloc unless
   it is bigger than the arena. free() of an arena pointer is a no-op; the arena is reset
   once the reply has been delivered. */
static void *arena_alloc(void *opaque, size_t size) {
    sluice_client *c = opaque;
    size_t rounded = (size + 15) & ~(size_t)15;
    if (rounded <= sizeof c->arena - c->arena_used) {
        void *p = c->arena + c->arena_used;
        c->arena_used += rounded;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *opaque, void *p) {
    sluice_client *c = opaque;
    uint8_t *b = p;
    if (b >= c->arena && b < c->arena + sizeof c->arena) return;
    free(p);
}

int sluice_connect(sluice_client **out, const char *socket_path, const sluice_options *opts) {
    if (!out) return SLUICE_ERR_ARG;
    *out = NULL;
    if (!socket_path || !*socket_path) return SLUICE_ERR_ARG;
    sluice_client *c = calloc(1, sizeof *c);
    if (!c) return SLUICE_ERR_NOMEM;
    c->fd = -1;
    if (opts) c->opts = *opts;
    if (c->opts.connect_timeout_ms <= 0) c->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (c->opts.write_timeout_ms == 0) c->opts.write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
    c->allocator.alloc = arena_alloc;
    c->allocator.free = arena_free;
    c->allocator.allocator_data = c;
    c->path = strdup(socket_path);
    if (!c->path) {
        free(c);
        return SLUICE_ERR_NOMEM;
    }
    int err = io_connect(c->path, c->opts.connect_timeout_ms, &c->fd);
    if (err) {
        int saved = errno;
        sluice_close(c);
        errno = saved;
        return err;
    }
    *out = c;
    return SLUICE_OK;
}

/* Closes the socket and ends every unfinished call as LOST (in doubt, never resent). */
void client_lost(sluice_client *c, const char *why) {
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->in.len = c->in.pos = 0;
    c->out.len = 0;
    if (c->conn_failure[0]) {
        snprintf(c->lost_message, sizeof c->lost_message, "%s (the gateway said %s)", why, c->conn_failure);
        why = c->lost_message;
    }
    calls_fail_all(c, why);
    c->conn_failure[0] = '\0';
}

/*
 * A write found the connection dead: deliver the replies still unread first (the
 * gateway may have said why it closed, e.g. NOT_AUTHORIZED with ref 0), unless a reply
 * is being dispatched already (its decoded message must stay untouched).
 */
static void lost_on_write(sluice_client *c) {
    if (!c->in_callback) {
        io_read_available(c);
        dispatch_frames(c);
    }
    client_lost(c, "the connection to sluiced was lost; the call's outcome is unknown");
}

int sluice_reconnect(sluice_client *c) {
    if (!c) return SLUICE_ERR_ARG;
    if (c->in_callback) return SLUICE_ERR_REENTRANT;
    client_lost(c, "the client reconnected before the call's outcome was known");
    return io_connect(c->path, c->opts.connect_timeout_ms, &c->fd);
}

void sluice_close(sluice_client *c) {
    if (!c) return;
    client_lost(c, "the client was closed before the call's outcome was known");
    calls_free_table(c);
    free(c->in.data);
    free(c->out.data);
    free(c->records);
    free(c->record_ptrs);
    free(c->headers);
    free(c->header_ptrs);
    free(c->path);
    free(c);
}

int sluice_connected(const sluice_client *c) { return c && c->fd >= 0; }

int sluice_fd(const sluice_client *c) { return c ? c->fd : -1; }

size_t sluice_unfinished(const sluice_client *c) { return c ? c->unfinished_produce : 0; }

/*
 * Writes the frame in c->out for `call` (NULL for no-ack). On failure the call's slot is
 * released without a callback: the caller gets the error instead. A frame cut in the
 * middle (write timeout) or a dead socket loses the connection.
 */
int client_send(sluice_client *c, struct call *call) {
    int err = io_write_frame(c, io_deadline(c->opts.write_timeout_ms));
    if (err == SLUICE_OK) return SLUICE_OK;
    if (call) calls_release(c, call);
    if (err == IO_TIMEOUT_MID_FRAME) {
        client_lost(c, "a write to sluiced timed out mid-frame; the connection was closed");
        return SLUICE_ERR_TIMEOUT;
    }
    if (err == SLUICE_ERR_DISCONNECTED) lost_on_write(c);
    return err;
}
