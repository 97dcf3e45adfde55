/*
 * The table of unfinished calls. The library chooses every ref, so a ref names its slot
 * directly (no hashing): low 32 bits = slot index + 1, high 31 bits = the slot's
 * generation. The table grows by doubling and is reused, so calls allocate nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int grow(sluice_client *c) {
    uint32_t old = c->calls_cap;
    uint32_t cap = old ? old * 2 : 64;
    if (cap > MAX_SLOTS) return SLUICE_ERR_TOO_MANY_CALLS;
    struct call *calls = realloc(c->calls, cap * sizeof *calls);
    if (!calls) return SLUICE_ERR_NOMEM;
    memset(calls + old, 0, (cap - old) * sizeof *calls);
    /* Chain the new slots in front of the (empty) free list. */
    for (uint32_t i = old; i < cap; i++) calls[i].next_free = (i + 1 < cap) ? i + 2 : c->free_head;
    c->free_head = old + 1;
    c->calls = calls;
    c->calls_cap = cap;
    return SLUICE_OK;
}

int calls_take(sluice_client *c, enum call_kind kind, struct call **out) {
    if (!c->free_head) {
        int err = grow(c);
        if (err) return err;
    }
    uint32_t index = c->free_head - 1;
    struct call *call = &c->calls[index];
    c->free_head = call->next_free;
    /* Generations stay below 2^31 so that no slot's ref has NO_ACK_REF_BIT. */
    call->generation = (call->generation + 1) & 0x7fffffffu;
    call->ref = ((uint64_t)call->generation << 32) | (uint64_t)(index + 1);
    call->kind = kind;
    call->cb = NULL;
    call->opaque = NULL;
    call->waiter = NULL;
    call->next_free = 0;
    if (kind == CALL_PRODUCE) c->unfinished_produce++;
    *out = call;
    return SLUICE_OK;
}

struct call *calls_find(sluice_client *c, uint64_t ref) {
    uint64_t slot = ref & 0xffffffffu;
    if (slot == 0 || slot > c->calls_cap) return NULL;
    struct call *call = &c->calls[slot - 1];
    return (call->kind != CALL_FREE && call->ref == ref) ? call : NULL;
}

void calls_release(sluice_client *c, struct call *call) {
    if (call->kind == CALL_PRODUCE) c->unfinished_produce--;
    call->kind = CALL_FREE;
    call->ref = 0;
    call->cb = NULL;
    call->waiter = NULL;
    call->next_free = c->free_head;
    c->free_head = (uint32_t)(call - c->calls) + 1;
}

/* The connection is gone: every unfinished call ends now, in doubt. */
void calls_fail_all(sluice_client *c, const char *why) {
    for (uint32_t i = 0; i < c->calls_cap; i++) {
        struct call *call = &c->calls[i];
        if (call->kind == CALL_FREE) continue;
        enum call_kind kind = call->kind;
        uint64_t ref = call->ref;
        sluice_reply_cb cb = call->cb;
        void *opaque = call->opaque;
        struct waiter *w = call->waiter;
        calls_release(c, call);
        if (w) {
            w->done = true;
            w->err = SLUICE_ERR_DISCONNECTED;
            if (w->result) {
                memset(w->result, 0, sizeof *w->result);
                w->result->partition = -1;
                w->result->base_offset = -1;
                strncpy(w->result->message, why, sizeof w->result->message - 1);
            }
        } else if (kind == CALL_PRODUCE && cb) {
            sluice_reply r = {.ref = ref, .kind = SLUICE_REPLY_LOST, .partition = -1,
                              .base_offset = -1, .message = why};
            deliver(c, cb, opaque, &r);
        }
    }
}

void calls_free_table(sluice_client *c) {
    free(c->calls);
    c->calls = NULL;
    c->calls_cap = 0;
    c->free_head = 0;
    c->unfinished_produce = 0;
}
