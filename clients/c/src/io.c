/*
 * Socket I/O. The socket is non-blocking and every wait is a poll(2) with a deadline,
 * so no call blocks longer than its timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t io_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1 = no deadline. */
int64_t io_deadline(int timeout_ms) { return timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms; }

static int remaining(int64_t deadline_ms) {
    if (deadline_ms < 0) return -1;
    int64_t left = deadline_ms - io_now_ms();
    return left < 0 ? 0 : (left > 1 << 30 ? 1 << 30 : (int)left);
}

int buffer_reserve(struct buffer *b, size_t extra) {
    if (b->len + extra <= b->cap) return SLUICE_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data) return SLUICE_ERR_NOMEM;
    b->data = data;
    b->cap = cap;
    return SLUICE_OK;
}

int io_connect(const char *path, int timeout_ms, int *fd_out) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return SLUICE_ERR_CONNECT;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return SLUICE_ERR_CONNECT;
    int64_t deadline = io_deadline(timeout_ms);
    /* A non-blocking connect to a Unix socket either completes or fails with EAGAIN
       when the listener's backlog is full: retry until the deadline. */
    while (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN || remaining(deadline) == 0) {
            int saved = errno == EAGAIN ? ETIMEDOUT : errno;
            close(fd);
            errno = saved;
            return SLUICE_ERR_CONNECT;
        }
        struct timespec pause = {0, 10 * 1000000};
        nanosleep(&pause, NULL);
    }
    *fd_out = fd;
    return SLUICE_OK;
}

/*
 * Reads what the socket has into c->in without waiting. Returns the bytes read (>= 0),
 * or SLUICE_ERR_DISCONNECTED on EOF or a read error (what was read stays in c->in).
 */
int io_read_available(sluice_client *c) {
    if (c->fd < 0) return SLUICE_ERR_DISCONNECTED;
    /* Drop consumed bytes, unless a reply is being dispatched (callbacks may write, and
       a write reads replies in here while the dispatcher walks the buffer). */
    if (!c->in_callback && c->in.pos) {
        memmove(c->in.data, c->in.data + c->in.pos, c->in.len - c->in.pos);
        c->in.len -= c->in.pos;
        c->in.pos = 0;
    }
    int total = 0;
    for (;;) {
        if (buffer_reserve(&c->in, 16384) != SLUICE_OK) return SLUICE_ERR_NOMEM;
        size_t space = c->in.cap - c->in.len;
        ssize_t n = recv(c->fd, c->in.data + c->in.len, space, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            total += (int)n;
            if ((size_t)n < space) return total; /* a short read: nothing more for now */
            continue;
        }
        if (n == 0) return SLUICE_ERR_DISCONNECTED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return total;
        return SLUICE_ERR_DISCONNECTED;
    }
}

/* Waits until the socket is readable or the deadline passes: 1, 0 (timeout) or error. */
int io_wait_readable(sluice_client *c, int64_t deadline_ms) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, remaining(deadline_ms));
        if (r >= 0) return r;
        if (errno != EINTR) return SLUICE_ERR_DISCONNECTED;
    }
}

/*
 * Writes c->out (one or more whole frames). While the gateway holds the connection
 * (back-pressure), replies are read into c->in meanwhile (not dispatched), so that the
 * gateway, which stops reading a client that does not read its replies, never waits on
 * us while we wait on it. On SLUICE_ERR_TIMEOUT with part of a frame written the
 * connection cannot carry on: the caller drops it.
 */
int io_write_frame(sluice_client *c, int64_t deadline_ms) {
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return SLUICE_ERR_DISCONNECTED;
        /* Checked here too: replies arriving all the time must not keep us past it. */
        int r = remaining(deadline_ms) == 0 ? 0 : 1;
        struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLOUT};
        if (r) r = poll(&p, 1, remaining(deadline_ms));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return SLUICE_ERR_DISCONNECTED;
        if (r == 0) {
            c->out.len = 0;
            return off ? IO_TIMEOUT_MID_FRAME : SLUICE_ERR_TIMEOUT;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            int got = io_read_available(c);
            /* EOF while writing: the write itself reports the failure next. */
            if (got == SLUICE_ERR_NOMEM) return got;
        }
    }
    c->out.len = 0;
    return SLUICE_OK;
}
