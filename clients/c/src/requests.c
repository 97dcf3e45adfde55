/* Ping and Metadata: one request, one reply, waited for. */
#include "internal.h"

static int request(sluice_client *c, enum call_kind kind, const char *topic,
                   struct waiter *w, int timeout_ms) {
    if (c->in_callback) return SLUICE_ERR_REENTRANT;
    if (c->fd < 0) return SLUICE_ERR_DISCONNECTED;
    struct call *call;
    int err = calls_take(c, kind, &call);
    if (err) return err;
    err = kind == CALL_PING ? encode_ping(c, call->ref) : encode_metadata(c, call->ref, topic);
    if (err) {
        c->out.len = 0;
        calls_release(c, call);
        return err;
    }
    err = client_send(c, call);
    if (err) return err;
    uint64_t ref = call->ref;
    call->waiter = w;
    err = wait_for(c, w, timeout_ms);
    if (!w->done) {
        /* Nobody waits any more: free the slot; a late reply matches nothing. */
        struct call *still = calls_find(c, ref);
        if (still) calls_release(c, still);
    }
    return err;
}

int sluice_ping(sluice_client *c, int timeout_ms, char *version, size_t version_len) {
    if (!c) return SLUICE_ERR_ARG;
    struct waiter w = {.version = version, .version_len = version_len};
    if (version && version_len) version[0] = '\0';
    return request(c, CALL_PING, NULL, &w, timeout_ms);
}

int sluice_metadata(sluice_client *c, const char *topic, int timeout_ms,
                    int32_t *partition_count, sluice_result *result) {
    if (!c || !topic || !*topic) return SLUICE_ERR_ARG;
    struct waiter w = {.result = result};
    int err = request(c, CALL_METADATA, topic, &w, timeout_ms);
    if (err == SLUICE_OK && partition_count) *partition_count = w.partition_count;
    return err;
}
