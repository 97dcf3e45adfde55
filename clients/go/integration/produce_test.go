package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	sluice "sluice/clients/go"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitBuffered waits for the call's buffered reply (or its end), failing the test at
// ctx's end.
func waitBuffered(ctx context.Context, t *testing.T, call *sluice.Call) {
	t.Helper()
	select {
	case <-call.Buffered():
	case <-ctx.Done():
		t.Fatalf("call %d: not buffered: %v", call.Ref, ctx.Err())
	}
}

func dial(t *testing.T, d *daemon, opts sluice.Options) *sluice.Client {
	t.Helper()
	c, err := sluice.Dial(d.socket, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", d.socket, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Records produced through the client are what a Kafka consumer reads: keys (null
// included), values, headers in order, CreateTime, at the offsets the acks gave.
func TestProduceReadBack(t *testing.T) {
	topic := newTopic(t, 2)
	d := startSluiced(t, socketPath(t), "")
	c := dial(t, d, sluice.Options{})
	ctx := ctxFor(t, 25*time.Second)

	version, err := c.Ping(ctx)
	if err != nil || version == "" || version != c.Version() {
		t.Fatalf("ping: %q %v (handshake said %q)", version, err, c.Version())
	}
	if n, err := c.Metadata(ctx, topic); err != nil || n != 2 {
		t.Fatalf("metadata: %d %v", n, err)
	}

	// One call of three records to partition 1, each kind of field set.
	ts := time.UnixMilli(1_700_000_000_123)
	first := []sluice.Record{
		{Key: []byte("k0"), Value: []byte("v0"), Timestamp: ts,
			Headers: []sluice.Header{{Key: "h1", Value: []byte("a")}, {Key: "h2"}}},
		{Value: []byte("v1"), Timestamp: ts.Add(time.Millisecond)},
		{Key: []byte("k2"), Timestamp: ts.Add(2 * time.Millisecond),
			Headers: []sluice.Header{{Key: "bin", Value: []byte{0, 1, 0xff}}}},
	}
	ack, err := c.ProduceSync(ctx, topic, first, sluice.ToPartition(1))
	if err != nil || ack != (sluice.Ack{Partition: 1, BaseOffset: 0}) {
		t.Fatalf("first call: %+v %v", ack, err)
	}

	// 60 keyed calls from 6 goroutines at once, partitioned by key hash, timestamps
	// left to the gateway.
	type sent struct {
		key string
		ack sluice.Ack
	}
	var mu sync.Mutex
	var pipelined []sent
	before := time.Now().Add(-time.Second).UnixMilli()
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var calls []*sluice.Call
			for i := 0; i < 10; i++ {
				key := fmt.Sprintf("user-%d", (g*10+i)%7)
				call, err := c.Produce(ctx, topic, []sluice.Record{{Key: []byte(key), Value: []byte(fmt.Sprintf("p-%d-%d", g, i))}})
				if err != nil {
					t.Error(err)
					return
				}
				calls = append(calls, call)
			}
			for i, call := range calls {
				ack, err := call.Wait(ctx)
				if err != nil {
					t.Errorf("call %d/%d: %v", g, i, err)
					continue
				}
				if p, ok := call.Partition(); !ok || p != ack.Partition {
					t.Errorf("buffered partition %d, acked %d", p, ack.Partition)
				}
				mu.Lock()
				pipelined = append(pipelined, sent{fmt.Sprintf("user-%d", (g*10+i)%7), ack})
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	after := time.Now().Add(time.Second).UnixMilli()

	// Fire and forget, to partition 0.
	for i := 0; i < 5; i++ {
		if _, err := c.ProduceNoAck(ctx, topic, []sluice.Record{{Value: []byte(fmt.Sprintf("noack-%d", i))}}, sluice.ToPartition(0)); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}

	records := consume(t, topic, 3+60+5)
	if len(records) != 68 {
		t.Fatalf("read %d records, want 68", len(records))
	}
	at := map[[2]int64]consumed{}
	for _, r := range records {
		at[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	wantFirst := []struct {
		key, value string
		headers    [][2]string
	}{
		{"k0", "v0", [][2]string{{"h1", "a"}, {"h2", ""}}},
		{"<null>", "v1", nil},
		{"k2", "", [][2]string{{"bin", "\x00\x01\xff"}}},
	}
	for i, w := range wantFirst {
		r, ok := at[[2]int64{1, int64(i)}]
		if !ok {
			t.Fatalf("no record at partition 1 offset %d", i)
		}
		if got := text(t, r.Key); got != w.key {
			t.Errorf("record %d key %q, want %q", i, got, w.key)
		}
		if got := text(t, r.Value); got != w.value {
			t.Errorf("record %d value %q, want %q (empty, not null)", i, got, w.value)
		}
		if len(r.Headers) != len(w.headers) {
			t.Errorf("record %d headers %v, want %v", i, r.Headers, w.headers)
		} else {
			for j, h := range w.headers {
				if *r.Headers[j][0] != h[0] || text(t, r.Headers[j][1]) != h[1] {
					t.Errorf("record %d header %d: %s=%q, want %s=%q", i, j, *r.Headers[j][0], text(t, r.Headers[j][1]), h[0], h[1])
				}
			}
		}
		if want := ts.UnixMilli() + int64(i); r.Timestamp != want || r.TimestampType != 1 {
			t.Errorf("record %d timestamp %d (type %d), want CreateTime %d", i, r.Timestamp, r.TimestampType, want)
		}
	}
	keyPartition := map[string]int32{}
	for _, s := range pipelined {
		r, ok := at[[2]int64{int64(s.ack.Partition), s.ack.BaseOffset}]
		if !ok {
			t.Errorf("%s: nothing at the acked partition %d offset %d", s.key, s.ack.Partition, s.ack.BaseOffset)
			continue
		}
		if got := text(t, r.Key); got != s.key {
			t.Errorf("partition %d offset %d has key %q, the ack was for %q", s.ack.Partition, s.ack.BaseOffset, got, s.key)
		}
		if r.Timestamp < before || r.Timestamp > after {
			t.Errorf("gateway-stamped timestamp %d outside [%d, %d]", r.Timestamp, before, after)
		}
		if p, seen := keyPartition[s.key]; seen && p != s.ack.Partition {
			t.Errorf("key %s went to partitions %d and %d", s.key, p, s.ack.Partition)
		}
		keyPartition[s.key] = s.ack.Partition
	}
	noAck := map[string]bool{}
	for _, r := range records {
		if r.Partition == 0 {
			noAck[text(t, r.Value)] = true
		}
	}
	for i := 0; i < 5; i++ {
		if v := fmt.Sprintf("noack-%d", i); !noAck[v] {
			t.Errorf("no-ack record %s not in partition 0", v)
		}
	}
}
