/*
 * null_gateway: a stand-in for sluiced that does no work, to measure the ceiling of the
 * `sluice bench` client itself (scripts/bench's "client ceiling" run).
 *
 * Listens on a Unix socket, speaks just enough of protocol v1: Ping -> Pong{}, Metadata
 * -> MetadataResult{partition_count = PARTITIONS}, Produce -> Buffered{0} then
 * Acked{partition 0, base_offset 0} at once; anything else -> nothing. One thread,
 * poll(2), replies of one read written with one write. Stops when stdin closes.
 *
 * usage: null_gateway SOCKET_PATH PARTITIONS
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 1024

struct buf {
    unsigned char *data;
    size_t start, end, cap;
};

static void reserve(struct buf *b, size_t more) {
    if (b->start > 0 && b->end + more > b->cap) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    if (b->end + more > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->end + more) cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) abort();
        b->cap = cap;
    }
}

static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static int get_varint(const unsigned char *p, size_t len, size_t *i, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; *i < len && shift < 64; shift += 7) {
        unsigned char b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Appends one reply frame: ref, then field `kind` holding `body` (len bytes). */
static void reply(struct buf *out, uint64_t ref, int kind, const unsigned char *body, size_t len) {
    unsigned char msg[64];
    size_t n = 0;
    if (ref) {
        msg[n++] = 0x08;
        n += put_varint(msg + n, ref);
    }
    msg[n++] = (unsigned char)(kind << 3 | 2);
    msg[n++] = (unsigned char)len;
    if (len) memcpy(msg + n, body, len);
    n += len;
    reserve(out, n + 4);
    unsigned char *p = out->data + out->end;
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16), p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
    memcpy(p + 4, msg, n);
    out->end += n + 4;
}

static void handle(const unsigned char *p, size_t len, struct buf *out, int partitions) {
    uint64_t ref = 0, tag, v;
    int kind = 0;
    size_t i = 0;
    while (i < len) {
        if (!get_varint(p, len, &i, &tag)) return;
        switch (tag & 7) {
        case 0:
            if (!get_varint(p, len, &i, &v)) return;
            if ((tag >> 3) == 1) ref = v;
            break;
        case 2:
            if (!get_varint(p, len, &i, &v) || v > len - i) return;
            i += v;
            kind = (int)(tag >> 3);
            break;
        case 1: i += 8; break;
        case 5: i += 4; break;
        default: return;
        }
    }
    static const unsigned char acked[] = {0x10, 0x00};
    unsigned char count[8] = {0x10};
    switch (kind) {
    case 2: /* produce */
        reply(out, ref, 2, NULL, 0);
        reply(out, ref, 3, acked, sizeof acked);
        break;
    case 5: /* ping */
        reply(out, ref, 6, NULL, 0);
        break;
    case 6: /* metadata */
        reply(out, ref, 7, count, 1 + put_varint(count + 1, (uint64_t)partitions));
        break;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: null_gateway SOCKET_PATH PARTITIONS\n");
        return 2;
    }
    int partitions = atoi(argv[2]);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", argv[1]);
    unlink(argv[1]);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 128) != 0) {
        perror("null_gateway: bind/listen");
        return 1;
    }
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    struct pollfd fds[MAX_CLIENTS + 2];
    static struct buf in[MAX_CLIENTS + 2], out[MAX_CLIENTS + 2];
    int n = 2;
    fds[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        for (int k = 2; k < n; k++) fds[k].events = POLLIN | (out[k].end > out[k].start ? POLLOUT : 0);
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (fds[0].revents) {
            char c;
            if (read(0, &c, 1) <= 0) break;
        }
        if (fds[1].revents & POLLIN) {
            int c;
            while (n < MAX_CLIENTS + 2 && (c = accept(lfd, NULL, NULL)) >= 0) {
                fcntl(c, F_SETFL, O_NONBLOCK);
                fds[n] = (struct pollfd){.fd = c, .events = POLLIN};
                in[n].start = in[n].end = out[n].start = out[n].end = 0;
                n++;
            }
        }
        for (int k = 2; k < n; k++) {
            int closed = 0;
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                reserve(&in[k], 65536);
                ssize_t r = read(fds[k].fd, in[k].data + in[k].end, in[k].cap - in[k].end);
                if (r > 0) {
                    in[k].end += (size_t)r;
                    while (in[k].end - in[k].start >= 4) {
                        unsigned char *p = in[k].data + in[k].start;
                        size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
                        if (in[k].end - in[k].start < 4 + len) break;
                        handle(p + 4, len, &out[k], partitions);
                        in[k].start += 4 + len;
                    }
                } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                    closed = 1;
                }
            }
            while (!closed && out[k].end > out[k].start) {
                ssize_t w = send(fds[k].fd, out[k].data + out[k].start, out[k].end - out[k].start, MSG_NOSIGNAL);
                if (w > 0) {
                    out[k].start += (size_t)w;
                } else {
                    if (w < 0 && errno != EAGAIN && errno != EINTR) closed = 1;
                    break;
                }
            }
            if (out[k].start == out[k].end) out[k].start = out[k].end = 0;
            if (closed) {
                close(fds[k].fd);
                free(in[k].data);
                free(out[k].data);
                fds[k] = fds[n - 1];
                in[k] = in[n - 1];
                out[k] = out[n - 1];
                memset(&in[n - 1], 0, sizeof in[0]);
                memset(&out[n - 1], 0, sizeof out[0]);
                n--;
                k--;
            }
        }
    }
    unlink(argv[1]);
    return 0;
}
