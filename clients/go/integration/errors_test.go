package integration

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	sluice "sluice/clients/go"
)

// The gateway's refusals arrive as *sluice.Error with the protocol's code, and leave
// the connection usable.
func TestUnknownTopicAndPartition(t *testing.T) {
	topic := newTopic(t, 1)
	d := startSluiced(t, socketPath(t), "")
	rejected := make(chan *sluice.Error, 1)
	c := dial(t, d, sluice.Options{OnNoAckFailure: func(_ uint64, err *sluice.Error) { rejected <- err }})
	ctx := ctxFor(t, 25*time.Second)
	missing := fmt.Sprintf("go-missing-%d", os.Getpid())

	_, err := c.ProduceSync(ctx, missing, []sluice.Record{{Value: []byte("x")}})
	var e *sluice.Error
	if !errors.As(err, &e) || e.Code != sluice.CodeUnknownTopic || !strings.Contains(e.Message, missing) || e.Local {
		t.Errorf("produce to a missing topic: %v, want UNKNOWN_TOPIC naming it", err)
	}
	if _, err := c.Metadata(ctx, missing); sluice.CodeOf(err) != sluice.CodeUnknownTopic {
		t.Errorf("metadata of a missing topic: %v", err)
	}
	ref, err := c.ProduceNoAck(ctx, missing, []sluice.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-rejected:
		if e.Ref != ref || e.Code != sluice.CodeUnknownTopic {
			t.Errorf("no-ack rejection %+v, want UNKNOWN_TOPIC for ref %d", e, ref)
		}
	case <-time.After(10 * time.Second):
		t.Error("no-ack call to a missing topic: no rejection reported")
	}
	_, err = c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("x")}}, sluice.ToPartition(5))
	if !errors.As(err, &e) || e.Code != sluice.CodeUnknownPartition {
		t.Errorf("produce to partition 5 of 1: %v, want UNKNOWN_PARTITION", err)
	}
	if ack, err := c.ProduceSync(ctx, topic, []sluice.Record{{Value: []byte("ok")}}); err != nil || ack.BaseOffset != 0 {
		t.Errorf("after the refusals: %+v %v", ack, err)
	}
}

// With topic rules a peer produces only to its topics: NOT_AUTHORIZED per call, the
// connection stays open. A peer outside allowed_uids cannot connect at all.
func TestNotAuthorized(t *testing.T) {
	allowed := newTopic(t, 1)
	denied := newTopic(t, 1)
	uid := os.Getuid()
	rules := fmt.Sprintf("[[security.topic_rules]]\ntopics = [%q]\nuids = [%d]\n", allowed, uid)
	d := startSluiced(t, socketPath(t), rules)
	c := dial(t, d, sluice.Options{})
	ctx := ctxFor(t, 25*time.Second)

	if _, err := c.ProduceSync(ctx, allowed, []sluice.Record{{Value: []byte("yes")}}); err != nil {
		t.Errorf("produce to the allowed topic: %v", err)
	}
	_, err := c.ProduceSync(ctx, denied, []sluice.Record{{Value: []byte("no")}})
	var e *sluice.Error
	if !errors.As(err, &e) || e.Code != sluice.CodeNotAuthorized || e.Ref == 0 {
		t.Errorf("produce to the denied topic: %v, want NOT_AUTHORIZED for the call", err)
	}
	if n, err := c.Metadata(ctx, denied); err != nil || n != 1 {
		t.Errorf("metadata is not restricted: %d %v", n, err)
	}
	if _, err := c.ProduceSync(ctx, allowed, []sluice.Record{{Value: []byte("still")}}); err != nil {
		t.Errorf("connection after a refusal: %v", err)
	}
	if got := consume(t, denied, 1); len(got) != 0 {
		t.Errorf("denied topic has %d records", len(got))
	}

	other := startSluiced(t, socketPath(t), fmt.Sprintf("[security]\nallowed_uids = [%d]\n", uid+4242))
	_, err = sluice.Dial(other.socket, sluice.Options{DialTimeout: 5 * time.Second})
	var ce *sluice.ConnError
	if sluice.CodeOf(err) != sluice.CodeNotAuthorized || !errors.As(err, &ce) || errors.Is(err, sluice.ErrInDoubt) {
		t.Errorf("dial as a uid not allowed: %v, want a ConnError with NOT_AUTHORIZED", err)
	}
}
