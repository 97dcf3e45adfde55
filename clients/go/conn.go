package sluice

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"sluice/clients/go/internal/pb"
)

// maxReplyBytes bounds a reply frame. Replies are small (the largest is a Failed with
// its message); a larger length means a broken stream, not a reply to wait for.
const maxReplyBytes = 1 << 20

// waiter is a call waiting for replies with its ref.
type waiter interface {
	// deliver hands over one reply and says whether it was the call's last.
	deliver(r *pb.Reply) (final bool)
	// fail ends the call because its connection is gone.
	fail(err *ConnError)
}

// conn is one connection to the gateway: a socket, the calls waiting for replies on
// it, and the goroutine reading those replies. It is never reused once dead; the Client
// makes a new one.
type conn struct {
	nc      *net.UnixConn
	onNoAck func(ref uint64, err *Error)

	// wsem admits one writer at a time, so frames never interleave; a channel rather
	// than a mutex so that a writer held up by back-pressure can give up on its ctx.
	wsem chan struct{}
	// broken is set when a write failed: no new calls go to this connection, while
	// its reader still takes the replies already sent.
	broken       atomic.Bool
	drainTimeout time.Duration

	mu      sync.Mutex
	waiters map[uint64]waiter
	cause   error         // set by a ref-0 Failed: why the gateway is closing on us
	err     *ConnError    // set once, when the connection died
	dead    chan struct{} // closed when err is set
}

func newConn(nc *net.UnixConn, opts Options) *conn {
	c := &conn{
		nc:           nc,
		onNoAck:      opts.OnNoAckFailure,
		wsem:         make(chan struct{}, 1),
		drainTimeout: opts.dialTimeout(),
		waiters:      make(map[uint64]waiter),
		dead:         make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *conn) alive() bool {
	if c.broken.Load() {
		return false
	}
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

// register makes ref's replies go to w. It must come before the request is written:
// the reply can arrive before Write returns.
func (c *conn) register(ref uint64, w waiter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.waiters[ref] = w
	return nil
}

func (c *conn) unregister(ref uint64) {
	c.mu.Lock()
	delete(c.waiters, ref)
	c.mu.Unlock()
}

// write sends one whole frame. When it returns an error the frame was not delivered:
// nothing of it was written, or only a part that the gateway drops (and then the
// connection is closed, since the stream can no longer be framed).
func (c *conn) write(ctx context.Context, ref uint64, frame []byte) error {
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.dead:
		return c.deadErr(ref)
	}
	defer func() { <-c.wsem }()

	// A blocked write (the gateway stops reading while a partition buffer is full)
	// ends at ctx's deadline or cancellation: the watcher moves the deadline to now.
	deadline, _ := ctx.Deadline()
	_ = c.nc.SetWriteDeadline(deadline)
	var watcher sync.WaitGroup
	stop := make(chan struct{})
	if done := ctx.Done(); done != nil {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			select {
			case <-done:
				_ = c.nc.SetWriteDeadline(time.Unix(1, 0))
			case <-stop:
			}
		}()
	}
	n, err := c.nc.Write(frame)
	close(stop)
	watcher.Wait() // before the next writer sets its own deadline
	if err == nil {
		return nil
	}
	if isTimeout(err) {
		// Only our deadlines time a write out: ctx's deadline, or the watcher at
		// cancellation. The socket's timer can fire a moment before ctx's own.
		ctxErr := ctx.Err()
		if ctxErr == nil {
			ctxErr = context.DeadlineExceeded
		}
		if n == 0 {
			return ctxErr // the connection is intact: the next frame starts cleanly
		}
		c.shutdown(&ConnError{Op: "write", Err: errors.New("a request was cut short by its context; the stream cannot continue")})
		return &ConnError{Op: "write", Ref: ref, Err: ctxErr}
	}
	// The gateway is gone or going (EPIPE, ECONNRESET). It may have said why just
	// before (a ref-0 Failed), and replies to earlier calls may still be unread: stop
	// writing, and let the reader take what is there up to EOF before it fails the
	// rest. The timer bounds that if the peer never closes.
	c.broken.Store(true)
	_ = c.nc.CloseWrite()
	time.AfterFunc(c.drainTimeout, func() {
		c.shutdown(&ConnError{Op: "write", Err: err})
	})
	return &ConnError{Op: "write", Ref: ref, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// deadErr is the error of a call that was not sent because the connection is dead.
func (c *conn) deadErr(ref uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &ConnError{Op: c.err.Op, Ref: ref, Err: c.err.Err}
}

// gatewayCause is the connection-level *Error the gateway sent (ref 0), or nil.
func (c *conn) gatewayCause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		reply, err := readReply(r, maxReplyBytes)
		if err != nil {
			c.mu.Lock()
			if c.cause != nil {
				err = c.cause // the gateway said why it closes: report that, not EOF
			}
			c.mu.Unlock()
			c.shutdown(&ConnError{Op: "read", Err: err})
			return
		}
		c.dispatch(reply)
	}
}

func (c *conn) dispatch(reply *pb.Reply) {
	ref := reply.GetRef()
	if ref == 0 {
		// Connection-level: the gateway closes the connection after it.
		if f := reply.GetFailed(); f != nil {
			c.mu.Lock()
			c.cause = errorFromProto(0, f)
			c.mu.Unlock()
		}
		return
	}
	c.mu.Lock()
	w := c.waiters[ref]
	c.mu.Unlock()
	if w == nil {
		// Only a ProduceNoAck call gets a reply the client does not wait for: its
		// rejection.
		if f := reply.GetFailed(); f != nil && c.onNoAck != nil {
			c.onNoAck(ref, errorFromProto(ref, f))
		}
		return
	}
	if w.deliver(reply) {
		c.unregister(ref)
	}
}

// shutdown closes the connection once and fails every waiting call with err. A
// produce call among them was written, so it is in doubt.
func (c *conn) shutdown(err *ConnError) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	waiters := c.waiters
	c.waiters = nil
	close(c.dead)
	c.mu.Unlock()

	_ = c.nc.Close()
	for ref, w := range waiters {
		_, isProduce := w.(*Call)
		w.fail(&ConnError{Op: err.Op, Ref: ref, InDoubt: isProduce, Err: err.Err})
	}
}
