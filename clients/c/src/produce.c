/* Produce calls: acknowledged (async and sync) and fire-and-forget. */
#include <string.h>

#include "internal.h"

static int check_args(sluice_client *c, const char *topic, const sluice_record *records, size_t n) {
    if (!c || !topic || !*topic || !records || n == 0) return SLUICE_ERR_ARG;
    if (c->fd < 0) return SLUICE_ERR_DISCONNECTED;
    return SLUICE_OK;
}

/* Takes a slot and writes the call; *out is the slot, still unfinished. */
static int start_produce(sluice_client *c, const char *topic, int32_t partition,
                         const sluice_record *records, size_t n, struct call **out) {
    struct call *call;
    int err = calls_take(c, CALL_PRODUCE, &call);
    if (err) return err;
    err = encode_produce(c, call->ref, false, topic, partition, records, n);
    if (err) {
        c->out.len = 0;
        calls_release(c, call);
        return err;
    }
    err = client_send(c, call);
    if (err) return err;
    *out = call;
    return SLUICE_OK;
}

int sluice_produce(sluice_client *c, const char *topic, int32_t partition,
                   const sluice_record *records, size_t n,
                   sluice_reply_cb cb, void *opaque, uint64_t *ref_out) {
    int err = check_args(c, topic, records, n);
    if (err) return err;
    struct call *call;
    err = start_produce(c, topic, partition, records, n, &call);
    if (err) return err;
    /* Set after the write: replies are not dispatched during it, so none is missed. */
    call->cb = cb;
    call->opaque = opaque;
    if (ref_out) *ref_out = call->ref;
    return SLUICE_OK;
}

int sluice_produce_no_ack(sluice_client *c, const char *topic, int32_t partition,
                          const sluice_record *records, size_t n) {
    int err = check_args(c, topic, records, n);
    if (err) return err;
    uint64_t ref = NO_ACK_REF_BIT | ++c->no_ack_counter;
    err = encode_produce(c, ref, true, topic, partition, records, n);
    if (err) {
        c->out.len = 0;
        return err;
    }
    return client_send(c, NULL);
}

int sluice_produce_sync(sluice_client *c, const char *topic, int32_t partition,
                        const sluice_record *records, size_t n,
                        int timeout_ms, sluice_result *result) {
    int err = check_args(c, topic, records, n);
    if (err) return err;
    if (c->in_callback) return SLUICE_ERR_REENTRANT;
    struct waiter w = {.result = result};
    struct call *call;
    err = start_produce(c, topic, partition, records, n, &call);
    if (err) return err;
    uint64_t ref = call->ref;
    call->waiter = &w;
    err = wait_for(c, &w, timeout_ms);
    if (!w.done) {
        /* Gave up: the call carries on, its replies will find no waiter. */
        struct call *still = calls_find(c, ref);
        if (still) still->waiter = NULL;
    }
    return err;
}
