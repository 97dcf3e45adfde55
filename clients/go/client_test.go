package sluice

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"sluice/clients/go/internal/pb"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rec(v string) []Record { return []Record{{Value: []byte(v)}} }

// The frames are docs/protocol.md section 7's examples: Dial's handshake is the Ping
// with ref 1, byte for byte; the first produce has ref 2 and the example's fields, with
// one difference protobuf allows (fields may come in any order): Go's encoder writes
// the oneof member partition = 0 (1000) after the records, not before.
func TestFramesAreTheProtocolExamples(t *testing.T) {
	frames := make(chan []byte, 2)
	g := startFake(t, func(f *fakeConn) {
		for i := 0; i < 2; i++ {
			var head [4]byte
			if _, err := io.ReadFull(f.nc, head[:]); err != nil {
				t.Errorf("read: %v", err)
				return
			}
			body := make([]byte, int(head[3])|int(head[2])<<8)
			if _, err := io.ReadFull(f.nc, body); err != nil {
				t.Errorf("read: %v", err)
				return
			}
			frames <- append(head[:], body...)
			req := &pb.Request{}
			_ = proto.Unmarshal(body, req)
			if i == 0 {
				f.send(&pb.Reply{Ref: req.Ref, Kind: &pb.Reply_Pong{Pong: &pb.Pong{Version: "0.1.0"}}})
			} else {
				f.send(buffered(req.Ref, 0))
				f.send(acked(req.Ref, 0, 42))
			}
		}
	})
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.Version(); v != "0.1.0" {
		t.Errorf("version %q", v)
	}
	ack, err := c.ProduceSync(testCtx(t), "events", []Record{{Key: []byte("k"), Value: []byte("hello")}}, ToPartition(0))
	if err != nil || ack != (Ack{Partition: 0, BaseOffset: 42}) {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	want := []string{"00000004" + "0801" + "2a00",
		"0000001a" + "0802" + "1216" + "0a06" + hex.EncodeToString([]byte("events")) + "220a" + "0a016b" + "1205" + hex.EncodeToString([]byte("hello")) + "1000"}
	for i, w := range want {
		if got := hex.EncodeToString(<-frames); got != w {
			t.Errorf("frame %d: %s, want %s", i, got, w)
		}
	}
}

// Replies come back in any order and are matched by ref, with concurrent callers.
func TestConcurrentCallsMatchedByRef(t *testing.T) {
	const n = 50
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		var refs []uint64
		for len(refs) < n {
			req := f.read()
			if req == nil {
				t.Error("connection ended early")
				return
			}
			f.send(buffered(req.Ref, 1))
			refs = append(refs, req.Ref)
		}
		for i := len(refs) - 1; i >= 0; i-- { // last sent, first acked
			f.send(acked(refs[i], 1, int64(refs[i])*10))
		}
		f.read()
	})
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call, err := c.Produce(ctx, "t", rec("v"))
			if err != nil {
				t.Error(err)
				return
			}
			<-call.Buffered()
			if p, ok := call.Partition(); !ok || p != 1 {
				t.Errorf("partition %d %v", p, ok)
			}
			ack, err := call.Wait(ctx)
			if err != nil || ack.BaseOffset != int64(call.Ref)*10 {
				t.Errorf("ref %d: %+v %v", call.Ref, ack, err)
			}
		}()
	}
	wg.Wait()
}

// A dropped connection fails the calls waiting on it as in doubt, and the next call
// goes out on a new connection; nothing is resent.
func TestDropFailsInDoubtThenReconnects(t *testing.T) {
	var seen [][]uint64
	var mu sync.Mutex
	g := startFake(t,
		func(f *fakeConn) {
			f.handshake()
			req := f.read()
			mu.Lock()
			seen = append(seen, []uint64{req.Ref})
			mu.Unlock()
			f.send(buffered(req.Ref, 0)) // then the "gateway" dies
		},
		func(f *fakeConn) {
			f.handshake()
			req := f.read()
			mu.Lock()
			seen = append(seen, []uint64{req.Ref})
			mu.Unlock()
			f.send(buffered(req.Ref, 0))
			f.send(acked(req.Ref, 0, 7))
			f.read()
		})
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	call, err := c.Produce(ctx, "t", rec("a"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = call.Wait(ctx)
	var ce *ConnError
	if !errors.Is(err, ErrInDoubt) || !errors.As(err, &ce) || ce.Ref != call.Ref || !errors.Is(err, io.EOF) {
		t.Fatalf("want an in-doubt ConnError at EOF, got %v", err)
	}
	if !strings.Contains(err.Error(), "in doubt") {
		t.Errorf("message does not say in doubt: %v", err)
	}
	ack, err := c.ProduceSync(ctx, "t", rec("b"))
	if err != nil || ack.BaseOffset != 7 {
		t.Fatalf("after reconnect: %+v %v", ack, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0][0] == seen[1][0] {
		t.Errorf("requests per connection %v: want one each, distinct refs", seen)
	}
}

func TestNoReconnect(t *testing.T) {
	g := startFake(t, func(f *fakeConn) { f.handshake() })
	c, err := Dial(g.path, Options{NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = c.Ping(testCtx(t))
		if errors.Is(err, ErrDisconnected) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want ErrDisconnected, got %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A peer refused by the gateway's allow-lists gets Failed{NOT_AUTHORIZED} with ref 0
// and a closed connection: Dial reports that code, whatever it had written.
func TestRefusedPeer(t *testing.T) {
	g := startFake(t, func(f *fakeConn) {
		f.send(failed(0, pb.ErrorCode_NOT_AUTHORIZED, "uid 0 may not connect"))
	})
	_, err := Dial(g.path, Options{})
	if CodeOf(err) != CodeNotAuthorized || !strings.Contains(err.Error(), "uid 0 may not connect") {
		t.Fatalf("want NOT_AUTHORIZED, got %v", err)
	}
	if errors.Is(err, ErrInDoubt) {
		t.Errorf("a refused dial is not in doubt: %v", err)
	}
}

// Calls the gateway would reject as invalid, or that would make it close the
// connection, are refused before sending; the connection stays in use.
func TestLocalChecks(t *testing.T) {
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		for req := f.read(); req != nil; req = f.read() {
			if req.GetProduce() != nil || req.GetPing() == nil {
				t.Errorf("unexpected request sent: %v", req)
			}
			f.send(&pb.Reply{Ref: req.Ref, Kind: &pb.Reply_Pong{Pong: &pb.Pong{Version: "fake"}}})
		}
	})
	c, err := Dial(g.path, Options{MaxFrameBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	cases := []struct {
		name    string
		topic   string
		records []Record
		code    Code
	}{
		{"empty topic", "", rec("v"), CodeInvalidRequest},
		{"no records", "t", nil, CodeInvalidRequest},
		{"NUL in topic", "a\x00b", rec("v"), CodeInvalidRequest},
		{"bad UTF-8 header key", "t", []Record{{Headers: []Header{{Key: "\xff"}}}}, CodeInvalidRequest},
		{"over the frame limit", "t", []Record{{Value: bytes.Repeat([]byte("x"), 2000)}}, CodeFrameTooLarge},
	}
	for _, tc := range cases {
		_, err := c.Produce(ctx, tc.topic, tc.records)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || !e.Local {
			t.Errorf("%s: got %v, want a local %v", tc.name, err, tc.code)
		}
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Errorf("connection unusable after local refusals: %v", err)
	}
}

func TestNoAckRejectionReported(t *testing.T) {
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		req := f.read()
		if req.GetProduceNoAck() == nil {
			t.Errorf("want a ProduceNoAck, got %v", req)
		}
		f.send(failed(req.Ref, pb.ErrorCode_UNKNOWN_TOPIC, "no topic nope"))
		f.read()
	})
	rejected := make(chan *Error, 1)
	c, err := Dial(g.path, Options{OnNoAckFailure: func(ref uint64, err *Error) {
		if err.Ref != ref {
			t.Errorf("ref %d vs %d", ref, err.Ref)
		}
		rejected <- err
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref, err := c.ProduceNoAck(testCtx(t), "nope", rec("v"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-rejected:
		if e.Ref != ref || e.Code != CodeUnknownTopic {
			t.Errorf("got %+v for ref %d", e, ref)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no rejection reported")
	}
}

// A gateway that stops reading (back-pressure) blocks Produce; its ctx ends the wait
// and the call is reported as not sent.
func TestBlockedWriteEndsWithContext(t *testing.T) {
	release := make(chan struct{})
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		<-release // read nothing more
	})
	defer close(release)
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := []Record{{Value: bytes.Repeat([]byte("x"), 256<<10)}}
	start := time.Now()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := c.Produce(ctx, "t", big)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: want the context's deadline, got %v", i, err)
			}
			break
		}
		if time.Since(start) > 8*time.Second {
			t.Fatal("writes never blocked")
		}
	}
}

func TestCodeNames(t *testing.T) {
	if CodeNotAuthorized.String() != "NOT_AUTHORIZED" || Code(99).String() != "ErrorCode(99)" {
		t.Errorf("names: %v %v", CodeNotAuthorized, Code(99))
	}
	e := &Error{Code: CodeKafkaError, Message: "topic t partition 0", KafkaError: 87}
	if e.Error() != "sluice: KAFKA_ERROR: topic t partition 0 (kafka error 87)" {
		t.Errorf("message %q", e.Error())
	}
}

// Failed.persistence reaches Error.Persistence, a number unknown here included.
func TestPersistence(t *testing.T) {
	for _, c := range []struct {
		in   pb.Persistence
		want Persistence
		name string
	}{
		{pb.Persistence_PERSISTENCE_UNSPECIFIED, PersistenceUnspecified, "PERSISTENCE_UNSPECIFIED"},
		{pb.Persistence_NOT_PERSISTED, NotPersisted, "NOT_PERSISTED"},
		{pb.Persistence_POSSIBLY_PERSISTED, PossiblyPersisted, "POSSIBLY_PERSISTED"},
		{pb.Persistence(9), Persistence(9), "Persistence(9)"},
	} {
		e := errorFromProto(5, &pb.Failed{Code: pb.ErrorCode_DELIVERY_TIMEOUT, Message: "m", Persistence: c.in})
		if e.Persistence != c.want || e.Persistence.String() != c.name || e.Code != CodeDeliveryTimeout {
			t.Errorf("%v: got %v (%s), code %v", c.in, e.Persistence, e.Persistence, e.Code)
		}
	}
	e := &Error{Code: CodeDeliveryTimeout, Message: "t/0", Persistence: PossiblyPersisted}
	if e.Error() != "sluice: DELIVERY_TIMEOUT: t/0 (possibly persisted)" {
		t.Errorf("message %q", e.Error())
	}
	if localError(CodeInvalidRequest, "x").Persistence != NotPersisted {
		t.Error("a local error is not persisted")
	}
}

// SPOOL_UNAVAILABLE (14) has its constant and name; a spool refusal is not persisted.
func TestSpoolUnavailable(t *testing.T) {
	e := errorFromProto(3, &pb.Failed{Code: pb.ErrorCode_SPOOL_UNAVAILABLE, Message: "spool: full", Persistence: pb.Persistence_NOT_PERSISTED})
	if e.Code != CodeSpoolUnavailable || int32(e.Code) != 14 || e.Code.String() != "SPOOL_UNAVAILABLE" || e.Persistence != NotPersisted {
		t.Errorf("got %v (%d), %v", e.Code, int32(e.Code), e.Persistence)
	}
	if e.Error() != "sluice: SPOOL_UNAVAILABLE: spool: full" {
		t.Errorf("message %q", e.Error())
	}
}

// Shutdown half-closes: the gateway answers what it read, then closes; every call ends
// with its own reply, none in doubt.
func TestShutdownWaitsForReplies(t *testing.T) {
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		var refs []uint64
		for req := f.read(); req != nil; req = f.read() {
			refs = append(refs, req.Ref)
		}
		for i, ref := range refs { // at EOF, as the gateway does
			f.send(acked(ref, 0, int64(i)))
		}
	})
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	var calls []*Call
	for i := 0; i < 3; i++ {
		call, err := c.Produce(ctx, "t", rec("v"))
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		if ack, err := call.Result(); err != nil || ack.BaseOffset != int64(i) {
			t.Errorf("call %d: %+v %v", i, ack, err)
		}
	}
	if _, err := c.Produce(ctx, "t", rec("v")); !errors.Is(err, ErrClosed) {
		t.Errorf("produce after Shutdown: %v", err)
	}
}

// Close fails what is waiting: produce calls in doubt (written, no outcome), a Ping
// not (it changes nothing); both wrap ErrClosed.
func TestCloseFailsWaitingCalls(t *testing.T) {
	read := make(chan struct{}, 2)
	g := startFake(t, func(f *fakeConn) {
		f.handshake()
		for req := f.read(); req != nil; req = f.read() {
			read <- struct{}{} // and never answer
		}
	})
	c, err := Dial(g.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	call, err := c.Produce(ctx, "t", rec("v"))
	if err != nil {
		t.Fatal(err)
	}
	pingErr := make(chan error, 1)
	go func() { _, err := c.Ping(ctx); pingErr <- err }()
	<-read
	<-read
	c.Close()
	_, err = call.Wait(ctx)
	if !errors.Is(err, ErrInDoubt) || !errors.Is(err, ErrClosed) {
		t.Errorf("produce at Close: %v, want in doubt and ErrClosed", err)
	}
	if err := <-pingErr; errors.Is(err, ErrInDoubt) || !errors.Is(err, ErrClosed) {
		t.Errorf("ping at Close: %v, want ErrClosed, not in doubt", err)
	}
	if _, err := c.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ping after Close: %v", err)
	}
}
