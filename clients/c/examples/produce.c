/*
 * libsluice example: ping the gateway, pipeline a few produce calls with a callback,
 * wait for their outcomes, then produce one call synchronously.
 *
 *   build/sluice-example /run/sluice/sluiced.sock my-topic
 */
#include <stdio.h>
#include <string.h>

#include "sluice.h"

static void on_reply(void *opaque, const sluice_reply *r) {
    int *acked = opaque;
    switch (r->kind) {
    case SLUICE_REPLY_BUFFERED:
        break; /* in the partition buffer: the final reply follows */
    case SLUICE_REPLY_ACKED:
        (*acked)++;
        printf("ref %llu acked: partition %d offset %lld\n", (unsigned long long)r->ref,
               r->partition, (long long)r->base_offset);
        break;
    case SLUICE_REPLY_FAILED:
        fprintf(stderr, "ref %llu failed: %s: %s\n", (unsigned long long)r->ref,
                sluice_code_name(r->code), r->message);
        break;
    case SLUICE_REPLY_LOST:
        fprintf(stderr, "ref %llu in doubt: %s\n", (unsigned long long)r->ref, r->message);
        break;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET TOPIC\n", argv[0]);
        return 2;
    }
    sluice_client *c;
    int err = sluice_connect(&c, argv[1], NULL);
    if (err) {
        fprintf(stderr, "connect %s: %s\n", argv[1], sluice_strerror(err));
        return 1;
    }
    char version[64];
    if ((err = sluice_ping(c, 5000, version, sizeof version)) == SLUICE_OK)
        printf("sluiced %s\n", version);

    int acked = 0;
    for (int i = 0; i < 10 && err == SLUICE_OK; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "hello %d", i);
        sluice_header h = {.key = "source", .value = "example", .value_len = 7};
        sluice_record rec = {.key = "greeting", .key_len = 8, .value = value,
                             .value_len = (size_t)len, .headers = &h, .n_headers = 1};
        err = sluice_produce(c, argv[2], SLUICE_PARTITION_HASH, &rec, 1, on_reply, &acked, NULL);
    }
    if (err == SLUICE_OK) err = sluice_flush(c, 30000);

    sluice_record last = {.value = "bye", .value_len = 3};
    sluice_result res;
    if (err == SLUICE_OK) {
        err = sluice_produce_sync(c, argv[2], 0, &last, 1, 30000, &res);
        if (err == SLUICE_OK)
            printf("sync call acked: partition %d offset %lld\n", res.partition, (long long)res.base_offset);
        else if (err == SLUICE_ERR_FAILED)
            fprintf(stderr, "sync call failed: %s: %s\n", sluice_code_name(res.code), res.message);
    }
    if (err && err != SLUICE_ERR_FAILED) fprintf(stderr, "error: %s\n", sluice_strerror(err));
    sluice_close(c);
    return err == SLUICE_OK && acked == 10 ? 0 : 1;
}
