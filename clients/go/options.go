package sluice

import "time"

// DefaultSocket is sluiced's default socket path.
const DefaultSocket = "/run/sluice/sluiced.sock"

// DefaultMaxFrameBytes is the gateway's default listener.max_frame_bytes.
const DefaultMaxFrameBytes = 16 << 20

// Options configure a Client. The zero value is ready to use.
type Options struct {
	// DialTimeout bounds connecting and the handshake Ping, at Dial and at each
	// reconnect. 0 means 5 s.
	DialTimeout time.Duration
	// NoReconnect: once the connection is lost, calls fail with ErrDisconnected
	// instead of dialling again.
	NoReconnect bool
	// MaxFrameBytes is the largest request frame sent; a larger call is refused
	// locally with CodeFrameTooLarge, because the gateway would close the connection
	// (failing every other call on it). Set it to the gateway's
	// listener.max_frame_bytes. 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// OnNoAckFailure, when set, is called (from the connection's reader goroutine:
	// keep it short) with each ProduceNoAck call the gateway rejected at once.
	// Without it such rejections are dropped.
	OnNoAckFailure func(ref uint64, err *Error)
}

func (o Options) dialTimeout() time.Duration {
	if o.DialTimeout > 0 {
		return o.DialTimeout
	}
	return 5 * time.Second
}

func (o Options) maxFrameBytes() int {
	if o.MaxFrameBytes > 0 {
		return o.MaxFrameBytes
	}
	return DefaultMaxFrameBytes
}
