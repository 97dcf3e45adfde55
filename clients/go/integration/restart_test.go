package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	sluice "sluice/clients/go"
)

// sluiced drains and restarts under a connected client: calls buffered before the
// SIGTERM are produced and acked, calls while it is down fail cleanly (not in doubt),
// and the same Client carries on with the new daemon.
func TestDaemonRestartsUnderConnectedClient(t *testing.T) {
	topic := newTopic(t, 1)
	socket := socketPath(t)
	d := startSluiced(t, socket, "")
	c := dial(t, d, sluice.Options{DialTimeout: 2 * time.Second})
	ctx := ctxFor(t, 25*time.Second)
	if _, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("before")}}); err != nil {
		t.Fatal(err)
	}

	var calls []*sluice.Call
	for i := 0; i < 100; i++ {
		call, err := c.Produce(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("drain-%d", i))}})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	for _, call := range calls {
		waitBuffered(ctx, t, call)
	}
	d.terminate()
	for i, call := range calls {
		if _, err := call.Wait(ctx); err != nil {
			t.Errorf("drain-%d was buffered before SIGTERM: %v, want acked", i, err)
		}
	}
	acked := 1 + len(calls)

	_, err := c.Ping(ctx)
	var ce *sluice.ConnError
	if !errors.As(err, &ce) || ce.Op != "dial" || errors.Is(err, sluice.ErrInDoubt) {
		t.Errorf("ping with the daemon down: %v, want a dial ConnError", err)
	}

	d.start()
	if _, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("after")}}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	acked++
	if got := consume(t, topic, acked); len(got) != acked {
		t.Errorf("read %d records, %d were acked", len(got), acked)
	}
}

// sluiced killed (no drain) under pipelined calls: each call ends acked or in doubt,
// none hangs, and the client reconnects to the next daemon.
func TestDaemonKilledCallsInDoubt(t *testing.T) {
	topic := newTopic(t, 1)
	d := startSluiced(t, socketPath(t), "")
	c := dial(t, d, sluice.Options{DialTimeout: 2 * time.Second})
	ctx := ctxFor(t, 25*time.Second)

	var calls []*sluice.Call
	for i := 0; i < 2000; i++ {
		call, err := c.Produce(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("k-%d", i))}})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	d.kill()
	var ackedN, inDoubt int
	for i, call := range calls {
		_, err := call.Wait(ctx)
		switch {
		case err == nil:
			ackedN++
		case errors.Is(err, sluice.ErrInDoubt):
			inDoubt++
		default:
			t.Fatalf("call %d: %v, want acked or in doubt", i, err)
		}
	}
	t.Logf("after SIGKILL: %d acked, %d in doubt", ackedN, inDoubt)
	if inDoubt == 0 {
		t.Log("every call was acked before the kill landed")
	}

	d.start()
	if _, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("next")}}); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	// Every acked call is in the topic; in-doubt ones may or may not be.
	got := consume(t, topic, ackedN+inDoubt+1)
	if len(got) < ackedN+1 || len(got) > ackedN+inDoubt+1 {
		t.Errorf("read %d records; %d acked + 1, %d in doubt", len(got), ackedN, inDoubt)
	}
}

// Client.Shutdown half-closes; sluiced sends the final reply of every call it read,
// then closes: nothing is left in doubt.
func TestShutdownGetsEveryReply(t *testing.T) {
	topic := newTopic(t, 2)
	d := startSluiced(t, socketPath(t), "")
	c, err := sluice.Dial(d.socket, sluice.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 25*time.Second)
	var calls []*sluice.Call
	for i := 0; i < 500; i++ {
		call, err := c.Produce(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("s-%d", i))}}, sluice.RandomPartition())
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		if _, err := call.Result(); err != nil {
			t.Fatalf("call %d after Shutdown: %v", i, err)
		}
	}
	if got := consume(t, topic, len(calls)); len(got) != len(calls) {
		t.Errorf("read %d records, want %d", len(got), len(calls))
	}
}

// Goroutines producing without pause while sluiced restarts twice under them: every
// call ends (acked, SHUTTING_DOWN, in doubt, or not sent while the daemon is down),
// acked offsets are distinct, and producing resumes on each new daemon.
func TestProducersCarryOnThroughRestarts(t *testing.T) {
	topic := newTopic(t, 1)
	d := startSluiced(t, socketPath(t), "")
	c := dial(t, d, sluice.Options{DialTimeout: time.Second})
	ctx := ctxFor(t, 25*time.Second)

	type outcome struct {
		acked, shuttingDown, inDoubt, notSent int
		offsets                               []int64
		err                                   error
	}
	stop := make(chan struct{})
	results := make(chan outcome, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			var o outcome
			defer func() { results <- o }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ack, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("g%d-%d", g, i))}})
				var ce *sluice.ConnError
				switch {
				case err == nil:
					o.acked++
					o.offsets = append(o.offsets, ack.BaseOffset)
				case sluice.CodeOf(err) == sluice.CodeShuttingDown:
					o.shuttingDown++
				case errors.Is(err, sluice.ErrInDoubt):
					o.inDoubt++
				case errors.As(err, &ce):
					o.notSent++
					time.Sleep(10 * time.Millisecond) // the daemon is down: do not spin
				default:
					o.err = fmt.Errorf("g%d call %d: %w", g, i, err)
					return
				}
			}
		}(g)
	}
	time.Sleep(500 * time.Millisecond)
	d.terminate()
	time.Sleep(200 * time.Millisecond)
	d.start()
	time.Sleep(500 * time.Millisecond)
	d.kill()
	d.start()
	time.Sleep(500 * time.Millisecond)
	close(stop)

	var total outcome
	seen := map[int64]bool{}
	for g := 0; g < 4; g++ {
		o := <-results
		if o.err != nil {
			t.Error(o.err)
		}
		total.acked += o.acked
		total.shuttingDown += o.shuttingDown
		total.inDoubt += o.inDoubt
		total.notSent += o.notSent
		for _, off := range o.offsets {
			if seen[off] {
				t.Errorf("offset %d acked twice", off)
			}
			seen[off] = true
		}
	}
	t.Logf("acked %d, SHUTTING_DOWN %d, in doubt %d, not sent %d", total.acked, total.shuttingDown, total.inDoubt, total.notSent)
	if total.acked == 0 {
		t.Fatal("nothing acked")
	}
	// Producing resumed on the last daemon.
	if _, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("last")}}); err != nil {
		t.Fatalf("after the restarts: %v", err)
	}
	got := consume(t, topic, 0)
	if len(got) < total.acked+1 || len(got) > total.acked+1+total.inDoubt {
		t.Errorf("read %d records: %d acked + 1, %d in doubt", len(got), total.acked, total.inDoubt)
	}
}
