package sluice

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"sluice/clients/go/internal/pb"
)

// Ack is a produce call's acknowledgement.
type Ack struct {
	Partition int32
	// BaseOffset is the Kafka offset of the call's first record (record i has
	// BaseOffset+i); -1 when the gateway runs with required_acks = 0.
	BaseOffset int64
}

// Call is a produce call in progress: buffered by the gateway, then acked or failed.
// Its methods may be used from any goroutine.
type Call struct {
	Ref   uint64
	Topic string

	buffered chan struct{} // closed at the buffered reply, or at the end
	done     chan struct{} // closed at the final outcome

	mu        sync.Mutex
	partition int32
	ack       Ack
	err       error
}

func newCall(ref uint64, topic string) *Call {
	return &Call{
		Ref: ref, Topic: topic, partition: -1,
		buffered: make(chan struct{}), done: make(chan struct{}),
	}
}

// Buffered is closed once the call sits in its partition's buffer (the gateway took
// it), or once the call ended without that (then Wait tells why).
func (c *Call) Buffered() <-chan struct{} { return c.buffered }

// Done is closed once the call has its final outcome.
func (c *Call) Done() <-chan struct{} { return c.done }

// Partition is the partition the gateway chose, and whether it chose one yet.
func (c *Call) Partition() (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.partition, c.partition >= 0
}

// Wait returns the call's outcome: its Ack, or the *Error the gateway sent, or a
// *ConnError (in doubt) if the connection went first. If ctx ends first Wait returns
// ctx's error; the call goes on and can be waited for again.
func (c *Call) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-c.done:
		return c.Result()
	case <-ctx.Done():
		return Ack{}, ctx.Err()
	}
}

// ErrNotDone is what Result returns for a call still in progress.
var ErrNotDone = errors.New("sluice: call not finished")

// Result is the outcome of a finished call (see Wait), ErrNotDone before.
func (c *Call) Result() (Ack, error) {
	select {
	case <-c.done:
	default:
		return Ack{}, ErrNotDone
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ack, c.err
}

func (c *Call) deliver(r *pb.Reply) bool {
	switch k := r.Kind.(type) {
	case *pb.Reply_Buffered:
		c.mu.Lock()
		c.partition = k.Buffered.GetPartition()
		c.mu.Unlock()
		c.markBuffered()
		return false
	case *pb.Reply_Acked:
		c.finish(Ack{Partition: k.Acked.GetPartition(), BaseOffset: k.Acked.GetBaseOffset()}, nil)
		return true
	case *pb.Reply_Failed:
		c.finish(Ack{}, errorFromProto(r.GetRef(), k.Failed))
		return true
	default:
		// Not an answer to a produce (this client sends no SyncWait): a gateway bug,
		// reported on the call rather than dropped.
		c.finish(Ack{}, &Error{Code: CodeUnspecified, Ref: r.GetRef(), Partition: -1,
			Message: fmt.Sprintf("unexpected reply %T to a produce call", r.Kind)})
		return true
	}
}

func (c *Call) fail(err *ConnError) { c.finish(Ack{}, err) }

func (c *Call) markBuffered() {
	select {
	case <-c.buffered:
	default:
		close(c.buffered)
	}
}

func (c *Call) finish(ack Ack, err error) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.ack, c.err = ack, err
	if err == nil {
		c.partition = ack.Partition
	}
	c.markBuffered()
	close(c.done)
	c.mu.Unlock()
}

// rpc is a Ping or Metadata request waiting for its one reply.
type rpc struct {
	once  sync.Once // the reader and Close may both try to end it
	done  chan struct{}
	reply *pb.Reply
	err   error
}

func newRPC() *rpc { return &rpc{done: make(chan struct{})} }

func (r *rpc) deliver(reply *pb.Reply) bool {
	r.once.Do(func() { r.reply = reply; close(r.done) })
	return true
}

func (r *rpc) fail(err *ConnError) {
	r.once.Do(func() { r.err = err; close(r.done) })
}
