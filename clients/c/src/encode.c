/*
 * Request encoding: protobuf-c structs built in the client's scratch arrays (pointing
 * at the caller's bytes, nothing copied), packed into c->out behind the 4-byte
 * big-endian length (docs/protocol.md section 2).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int reserve_scratch(sluice_client *c, size_t n_records, size_t n_headers) {
    if (n_records > c->records_cap) {
        size_t cap = c->records_cap ? c->records_cap : 16;
        while (cap < n_records) cap *= 2;
        Sluice__V1__Record *r = realloc(c->records, cap * sizeof *r);
        if (!r) return SLUICE_ERR_NOMEM;
        c->records = r;
        Sluice__V1__Record **p = realloc(c->record_ptrs, cap * sizeof *p);
        if (!p) return SLUICE_ERR_NOMEM;
        c->record_ptrs = p;
        c->records_cap = cap;
    }
    if (n_headers > c->headers_cap) {
        size_t cap = c->headers_cap ? c->headers_cap : 16;
        while (cap < n_headers) cap *= 2;
        Sluice__V1__Header *h = realloc(c->headers, cap * sizeof *h);
        if (!h) return SLUICE_ERR_NOMEM;
        c->headers = h;
        Sluice__V1__Header **p = realloc(c->header_ptrs, cap * sizeof *p);
        if (!p) return SLUICE_ERR_NOMEM;
        c->header_ptrs = p;
        c->headers_cap = cap;
    }
    return SLUICE_OK;
}

/* Packs one request as a frame at the end of c->out. */
static int pack(sluice_client *c, const Sluice__V1__Request *req) {
    size_t size = sluice__v1__request__get_packed_size(req);
    if (size > UINT32_MAX) return SLUICE_ERR_ARG;
    int err = buffer_reserve(&c->out, 4 + size);
    if (err) return err;
    uint8_t *p = c->out.data + c->out.len;
    p[0] = (uint8_t)(size >> 24);
    p[1] = (uint8_t)(size >> 16);
    p[2] = (uint8_t)(size >> 8);
    p[3] = (uint8_t)size;
    sluice__v1__request__pack(req, p + 4);
    c->out.len += 4 + size;
    return SLUICE_OK;
}

int encode_produce(sluice_client *c, uint64_t ref, bool no_ack, const char *topic,
                   int32_t partition, const sluice_record *records, size_t n) {
    size_t n_headers = 0;
    for (size_t i = 0; i < n; i++) {
        if (records[i].n_headers && !records[i].headers) return SLUICE_ERR_ARG;
        n_headers += records[i].n_headers;
    }
    int err = reserve_scratch(c, n, n_headers);
    if (err) return err;

    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        const sluice_record *in = &records[i];
        Sluice__V1__Record *r = &c->records[i];
        sluice__v1__record__init(r);
        /* protobuf-c's pack only reads through these pointers: the casts drop const. */
        r->key.data = (uint8_t *)in->key;
        r->key.len = in->key ? in->key_len : 0;
        r->value.data = (uint8_t *)in->value;
        r->value.len = in->value ? in->value_len : 0;
        r->timestamp_ms = in->timestamp_ms;
        r->n_headers = in->n_headers;
        r->headers = in->n_headers ? &c->header_ptrs[h] : NULL;
        for (size_t j = 0; j < in->n_headers; j++, h++) {
            Sluice__V1__Header *hd = &c->headers[h];
            sluice__v1__header__init(hd);
            hd->key = (char *)(in->headers[j].key ? in->headers[j].key : "");
            hd->value.data = (uint8_t *)in->headers[j].value;
            hd->value.len = in->headers[j].value ? in->headers[j].value_len : 0;
            c->header_ptrs[h] = hd;
        }
        c->record_ptrs[i] = r;
    }

    Sluice__V1__Produce produce = SLUICE__V1__PRODUCE__INIT;
    produce.topic = (char *)topic;
    produce.n_records = n;
    produce.records = c->record_ptrs;
    if (partition >= 0) {
        produce.partitioning_case = SLUICE__V1__PRODUCE__PARTITIONING_PARTITION;
        produce.partition = partition;
    } else {
        produce.partitioning_case = SLUICE__V1__PRODUCE__PARTITIONING_PARTITIONER;
        produce.partitioner = partition == SLUICE_PARTITION_RANDOM
                                  ? SLUICE__V1__PARTITIONER__PARTITIONER_RANDOM
                                  : SLUICE__V1__PARTITIONER__PARTITIONER_HASH;
    }

    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.ref = ref;
    if (no_ack) {
        req.kind_case = SLUICE__V1__REQUEST__KIND_PRODUCE_NO_ACK;
        req.produce_no_ack = &produce;
    } else {
        req.kind_case = SLUICE__V1__REQUEST__KIND_PRODUCE;
        req.produce = &produce;
    }
    return pack(c, &req);
}

int encode_ping(sluice_client *c, uint64_t ref) {
    Sluice__V1__Ping ping = SLUICE__V1__PING__INIT;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.ref = ref;
    req.kind_case = SLUICE__V1__REQUEST__KIND_PING;
    req.ping = &ping;
    return pack(c, &req);
}

int encode_metadata(sluice_client *c, uint64_t ref, const char *topic) {
    Sluice__V1__Metadata md = SLUICE__V1__METADATA__INIT;
    md.topic = (char *)topic;
    Sluice__V1__Request req = SLUICE__V1__REQUEST__INIT;
    req.ref = ref;
    req.kind_case = SLUICE__V1__REQUEST__KIND_METADATA;
    req.metadata = &md;
    return pack(c, &req);
}
