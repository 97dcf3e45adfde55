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
