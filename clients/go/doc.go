// Package sluice is a Go client for sluiced, Sluice's per-host Kafka produce gateway.
//
// A Client holds one Unix-socket connection to sluiced and speaks protocol v1
// (docs/protocol.md): length-prefixed protobuf requests, each with a call reference
// (ref) chosen by the client, and replies matched back to their call by that ref. One
// reader goroutine per connection dispatches replies, so any number of goroutines may
// share a Client and their calls are pipelined on the one connection.
//
// A produce call is first buffered by the gateway (Call.Buffered), then acked with its
// Kafka offset or failed (Call.Wait). Errors from the gateway are *Error values carrying
// the protocol's error code (CodeOf). When the connection drops, every call still
// waiting for its final reply fails with a *ConnError; for produce calls it is "in
// doubt" (errors.Is(err, ErrInDoubt)): the gateway may have produced the records. The
// client never resends a call by itself. The next call redials (unless
// Options.NoReconnect).
//
//	c, err := sluice.Dial(sluice.DefaultSocket, sluice.Options{})
//	...
//	ack, err := c.ProduceSync(ctx, "events", []sluice.Record{{Key: []byte("k"), Value: []byte("v")}})
package sluice
