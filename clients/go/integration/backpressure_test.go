package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	sluice "sluice/clients/go"
)

// With partition_buffer_limit = 2 and the broker paused, the gateway buffers the call
// on the wire plus two, holds the rest, and stops reading: a client's writes block
// (Produce ends with its context). Resumed, every call is acked in order.
func TestBackPressure(t *testing.T) {
	const limit = 2
	topic := newTopic(t, 1)
	d := startSluiced(t, socketPath(t), "", fmt.Sprintf("producer.partition_buffer_limit=%d", limit))
	c := dial(t, d, sluice.Options{})
	ctx := ctxFor(t, 25*time.Second)
	// Warm up: metadata, broker connection and producer id are in place before the pause.
	if _, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("warm-up")}}); err != nil {
		t.Fatal(err)
	}

	resume := pauseBroker(t)
	onWire, err := c.Produce(ctx, topic, []sluice.Record{{Value: []byte("call-0")}})
	if err != nil {
		t.Fatal(err)
	}
	waitBuffered(ctx, t, onWire)
	time.Sleep(300 * time.Millisecond) // sent to the (paused) broker: out of the buffer
	calls := []*sluice.Call{onWire}
	for i := 1; i <= 10; i++ {
		call, err := c.Produce(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("call-%d", i))}})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	countBuffered := func() int {
		n := 0
		for _, call := range calls[1:] {
			select {
			case <-call.Buffered():
				n++
			default:
			}
		}
		return n
	}
	// The buffer fills (polled: the machine may be slow), then stays at the limit.
	for deadline := time.Now().Add(5 * time.Second); countBuffered() < limit && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if n := countBuffered(); n != limit {
		t.Errorf("%d of the 10 calls behind the one on the wire were buffered, want the limit %d", n, limit)
	}
	for _, call := range calls {
		if _, err := call.Result(); !errors.Is(err, sluice.ErrNotDone) {
			t.Fatalf("call %d finished while the broker was paused: %v", call.Ref, err)
		}
	}

	// A second connection to the same full partition: the gateway stops reading it
	// too, so once the socket's buffers are full a write blocks until its deadline.
	other := dial(t, d, sluice.Options{})
	big := []sluice.Record{{Value: bytes.Repeat([]byte("b"), 256<<10)}}
	blocked := false
	for i := 0; i < 64 && !blocked; i++ {
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := other.Produce(wctx, topic, big)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded):
			blocked = true
		default:
			t.Fatalf("big call %d: %v", i, err)
		}
	}
	if !blocked {
		t.Error("64 calls of 256 KiB were written while the partition was full")
	}

	resume()
	var last int64 = 0 // the warm-up is at offset 0
	for i, call := range calls {
		ack, err := call.Wait(ctx)
		if err != nil {
			t.Fatalf("call-%d after resume: %v", i, err)
		}
		if ack.BaseOffset <= last {
			t.Errorf("call-%d at offset %d, after one at %d: out of order", i, ack.BaseOffset, last)
		}
		last = ack.BaseOffset
	}
	// The blocked connection's big calls are in doubt or produced; the small ones
	// are all in the topic, in call order.
	var small []string
	for _, r := range consume(t, topic, 0) {
		if v := text(t, r.Value); strings.HasPrefix(v, "call-") || v == "warm-up" {
			small = append(small, v)
		}
	}
	want := []string{"warm-up"}
	for i := range calls {
		want = append(want, fmt.Sprintf("call-%d", i))
	}
	if strings.Join(small, ",") != strings.Join(want, ",") {
		t.Errorf("topic holds %v, want %v", small, want)
	}
}
