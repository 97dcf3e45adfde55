package sluice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"sluice/clients/go/internal/pb"
)

// Client is a connection to sluiced, safe for concurrent use. Calls from all
// goroutines are pipelined on one Unix-socket connection.
type Client struct {
	path string
	opts Options
	refs atomic.Uint64 // the last ref used; refs are unique for the Client's lifetime

	// mu guards the fields below; it is held while redialling, so concurrent calls
	// after a drop wait for one dial (bounded by Options.DialTimeout) instead of
	// each making their own.
	mu      sync.Mutex
	cur     *conn
	version string
	closed  bool
}

// Dial connects to the gateway's socket at path and checks, with a Ping, that the
// gateway accepts this peer: a peer refused by the gateway's allow-lists gets a
// *ConnError whose cause is an *Error with CodeNotAuthorized.
func Dial(path string, opts Options) (*Client, error) {
	c := &Client{path: path, opts: opts}
	ctx, cancel := context.WithTimeout(context.Background(), opts.dialTimeout())
	defer cancel()
	if _, err := c.connection(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Version is the gateway's version, as its last handshake Pong said.
func (c *Client) Version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Close closes the connection. Calls still waiting fail with a *ConnError wrapping
// ErrClosed (produce calls in doubt: the gateway still produces what it buffered);
// wait for your calls first to know their outcome.
func (c *Client) Close() error {
	c.mu.Lock()
	// Also after Shutdown: Close cuts a graceful shutdown short.
	c.closed = true
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.shutdown(&ConnError{Op: "close", Err: ErrClosed})
	}
	return nil
}

// Shutdown ends the Client gracefully: no new calls are taken, the connection's write
// side is closed, and the gateway, seeing that, sends the final replies of every call
// already written before it closes (protocol.md, docs/sluiced.md). Shutdown returns
// once they have come, or at ctx's end, when it closes at once like Close and returns
// ctx's error.
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cur
	c.mu.Unlock()
	if cn == nil {
		return nil
	}
	// Hold the write slot, so that the half-close cuts no frame short.
	select {
	case cn.wsem <- struct{}{}:
	case <-cn.dead:
		return nil
	case <-ctx.Done():
		cn.shutdown(&ConnError{Op: "close", Err: ErrClosed})
		return ctx.Err()
	}
	_ = cn.nc.CloseWrite()
	<-cn.wsem
	select {
	case <-cn.dead:
		return nil
	case <-ctx.Done():
		cn.shutdown(&ConnError{Op: "close", Err: ErrClosed})
		return ctx.Err()
	}
}

func (c *Client) nextRef() uint64 { return c.refs.Add(1) }

// connection returns the live connection, dialling a new one when there is none.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cur != nil {
		if c.cur.alive() {
			return c.cur, nil
		}
		if c.opts.NoReconnect {
			return nil, &ConnError{Op: "dial", Err: ErrDisconnected}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.dialTimeout())
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, &ConnError{Op: "dial", Err: err}
	}
	cn := newConn(nc.(*net.UnixConn), c.opts)
	version, err := c.ping(ctx, cn)
	if err != nil {
		// A refused peer gets a ref-0 Failed and the connection closed, maybe while
		// the Ping was being written: wait for the reader to see it, then report
		// the gateway's reason rather than a broken pipe.
		var ce *ConnError
		if errors.As(err, &ce) {
			select {
			case <-cn.dead:
			case <-ctx.Done():
			}
		}
		cn.shutdown(&ConnError{Op: "dial", Err: err})
		if cause := cn.gatewayCause(); cause != nil {
			return nil, &ConnError{Op: "dial", Err: cause}
		}
		if errors.As(err, &ce) {
			return nil, &ConnError{Op: "dial", Err: ce.Err}
		}
		return nil, &ConnError{Op: "dial", Err: err}
	}
	c.cur, c.version = cn, version
	return cn, nil
}

// send writes req with w (when not nil) registered for its replies. A request that
// could not be written at all is tried once more on a new connection: it never reached
// the gateway, so that is no resend.
func (c *Client) send(ctx context.Context, req *pb.Request, w waiter) error {
	frame, err := encodeRequest(req, c.opts.maxFrameBytes())
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cn, err := c.connection(ctx)
		if err != nil {
			return err
		}
		if err = c.sendOn(ctx, cn, req.Ref, frame, w); err == nil {
			return nil
		}
		var ce *ConnError
		if attempt > 0 || !errors.As(err, &ce) || ctx.Err() != nil || c.opts.NoReconnect {
			return err
		}
	}
}

func (c *Client) sendOn(ctx context.Context, cn *conn, ref uint64, frame []byte, w waiter) error {
	if w != nil {
		if err := cn.register(ref, w); err != nil {
			return err
		}
	}
	if err := cn.write(ctx, ref, frame); err != nil {
		if w != nil {
			cn.unregister(ref)
		}
		return err
	}
	return nil
}

// roundTrip sends a request that has exactly one reply and waits for it.
func (c *Client) roundTrip(ctx context.Context, req *pb.Request) (*pb.Reply, error) {
	req.Ref = c.nextRef()
	r := newRPC()
	if err := c.send(ctx, req, r); err != nil {
		return nil, err
	}
	return r.wait(ctx)
}

func (r *rpc) wait(ctx context.Context) (*pb.Reply, error) {
	select {
	case <-r.done:
		return r.reply, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ping is the handshake on a fresh connection, before it is the Client's.
func (c *Client) ping(ctx context.Context, cn *conn) (string, error) {
	ref := c.nextRef()
	frame, err := encodeRequest(&pb.Request{Ref: ref, Kind: &pb.Request_Ping{Ping: &pb.Ping{}}}, c.opts.maxFrameBytes())
	if err != nil {
		return "", err
	}
	r := newRPC()
	if err := c.sendOn(ctx, cn, ref, frame, r); err != nil {
		return "", err
	}
	reply, err := r.wait(ctx)
	if err != nil {
		return "", err
	}
	return pongVersion(reply)
}

// Ping asks the gateway for a Pong and returns its version.
func (c *Client) Ping(ctx context.Context) (string, error) {
	reply, err := c.roundTrip(ctx, &pb.Request{Kind: &pb.Request_Ping{Ping: &pb.Ping{}}})
	if err != nil {
		return "", err
	}
	return pongVersion(reply)
}

func pongVersion(reply *pb.Reply) (string, error) {
	switch k := reply.Kind.(type) {
	case *pb.Reply_Pong:
		return k.Pong.GetVersion(), nil
	case *pb.Reply_Failed:
		return "", errorFromProto(reply.GetRef(), k.Failed)
	default:
		return "", unexpected(reply, "Ping")
	}
}

// Metadata returns the topic's partition count; an unknown topic is an *Error with
// CodeUnknownTopic.
func (c *Client) Metadata(ctx context.Context, topic string) (int, error) {
	if err := checkString("topic", topic); err != nil {
		return 0, err
	}
	reply, err := c.roundTrip(ctx, &pb.Request{Kind: &pb.Request_Metadata{Metadata: &pb.Metadata{Topic: topic}}})
	if err != nil {
		return 0, err
	}
	switch k := reply.Kind.(type) {
	case *pb.Reply_Metadata:
		return int(k.Metadata.GetPartitionCount()), nil
	case *pb.Reply_Failed:
		return 0, errorFromProto(reply.GetRef(), k.Failed)
	default:
		return 0, unexpected(reply, "Metadata")
	}
}

func unexpected(reply *pb.Reply, request string) error {
	return &Error{Code: CodeUnspecified, Ref: reply.GetRef(), Partition: -1,
		Message: fmt.Sprintf("unexpected reply %T to a %s request", reply.Kind, request)}
}

// Produce sends a produce call and returns once its request is written: the gateway
// answers it later (Call.Buffered, then Call.Wait). While the partition's buffer is
// full the gateway stops reading this connection, so Produce blocks; ctx bounds that
// wait. The records go to one partition as one batch.
func (c *Client) Produce(ctx context.Context, topic string, records []Record, opts ...ProduceOption) (*Call, error) {
	m, err := produceMessage(topic, records, opts)
	if err != nil {
		return nil, err
	}
	ref := c.nextRef()
	call := newCall(ref, topic)
	if err := c.send(ctx, &pb.Request{Ref: ref, Kind: &pb.Request_Produce{Produce: m}}, call); err != nil {
		return nil, err
	}
	return call, nil
}

// ProduceSync produces and waits for the call's outcome (Produce, then Call.Wait).
func (c *Client) ProduceSync(ctx context.Context, topic string, records []Record, opts ...ProduceOption) (Ack, error) {
	call, err := c.Produce(ctx, topic, records, opts...)
	if err != nil {
		return Ack{}, err
	}
	return call.Wait(ctx)
}

// ProduceNoAck sends a fire-and-forget call and returns its ref once it is written.
// The gateway answers only if it rejects the call at once; that rejection goes to
// Options.OnNoAckFailure. Later failures are not reported by the gateway.
func (c *Client) ProduceNoAck(ctx context.Context, topic string, records []Record, opts ...ProduceOption) (uint64, error) {
	m, err := produceMessage(topic, records, opts)
	if err != nil {
		return 0, err
	}
	ref := c.nextRef()
	if err := c.send(ctx, &pb.Request{Ref: ref, Kind: &pb.Request_ProduceNoAck{ProduceNoAck: m}}, nil); err != nil {
		return 0, err
	}
	return ref, nil
}
