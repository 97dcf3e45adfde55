package sluice

import (
	"errors"
	"fmt"

	"sluice/clients/go/internal/pb"
)

// Code is the protocol's error code (Failed.code, docs/protocol.md section 5).
type Code int32

// The protocol v1 error codes. A code this package does not know is kept as its number.
const (
	CodeUnspecified      Code = Code(pb.ErrorCode_ERROR_UNSPECIFIED)
	CodeInvalidRequest   Code = Code(pb.ErrorCode_INVALID_REQUEST)
	CodeFrameTooLarge    Code = Code(pb.ErrorCode_FRAME_TOO_LARGE)
	CodeDuplicateRef     Code = Code(pb.ErrorCode_DUPLICATE_REF)
	CodeUnknownRef       Code = Code(pb.ErrorCode_UNKNOWN_REF)
	CodeUnknownTopic     Code = Code(pb.ErrorCode_UNKNOWN_TOPIC)
	CodeUnknownPartition Code = Code(pb.ErrorCode_UNKNOWN_PARTITION)
	CodeRecordTooLarge   Code = Code(pb.ErrorCode_RECORD_TOO_LARGE)
	CodeNotAuthorized    Code = Code(pb.ErrorCode_NOT_AUTHORIZED)
	CodeRetriesExhausted Code = Code(pb.ErrorCode_RETRIES_EXHAUSTED)
	CodeKafkaError       Code = Code(pb.ErrorCode_KAFKA_ERROR)
	CodeTimeout          Code = Code(pb.ErrorCode_TIMEOUT)
	CodeShuttingDown     Code = Code(pb.ErrorCode_SHUTTING_DOWN)
	CodeDeliveryTimeout  Code = Code(pb.ErrorCode_DELIVERY_TIMEOUT)
	// CodeSpoolUnavailable: the gateway's durable spool cannot take the call now (disk
	// full, the spool at max_bytes with when_full = "fail", a write error); never
	// buffered, so NotPersisted: a retry cannot duplicate it.
	CodeSpoolUnavailable Code = Code(pb.ErrorCode_SPOOL_UNAVAILABLE)
)

// Persistence says whether a failed call's records may nonetheless be in Kafka
// (Failed.persistence, docs/protocol.md section 3.5).
type Persistence int32

const (
	// PersistenceUnspecified: not said (not a produce call's failure, or a gateway
	// older than the field). Treat it as PossiblyPersisted before retrying.
	PersistenceUnspecified Persistence = Persistence(pb.Persistence_PERSISTENCE_UNSPECIFIED)
	// NotPersisted: never sent, or the broker answered an error: a retry cannot
	// duplicate the records.
	NotPersisted Persistence = Persistence(pb.Persistence_NOT_PERSISTED)
	// PossiblyPersisted: sent, and no answer came: the records may be in Kafka.
	PossiblyPersisted Persistence = Persistence(pb.Persistence_POSSIBLY_PERSISTED)
)

// String is the status's name in the protocol ("NOT_PERSISTED"), or its number.
func (p Persistence) String() string {
	if name, ok := pb.Persistence_name[int32(p)]; ok {
		return name
	}
	return fmt.Sprintf("Persistence(%d)", int32(p))
}

// String is the code's name in the protocol ("NOT_AUTHORIZED"), or its number.
func (c Code) String() string {
	if name, ok := pb.ErrorCode_name[int32(c)]; ok {
		return name
	}
	return fmt.Sprintf("ErrorCode(%d)", int32(c))
}

// Error is a failure reported by the gateway (a Failed reply), or a request this
// client refused to send because the gateway would reject it (Local is then true).
type Error struct {
	Code       Code
	Message    string // human readable, names the topic, partition or limit
	KafkaError int32  // Kafka's error code when a broker error is the cause, else 0
	Partition  int32  // the partition concerned, -1 when none was chosen
	Ref        uint64 // the call's ref; 0 for connection-level errors
	Local      bool   // detected by this client before sending
	// Persistence: whether the call's records may be in Kafka despite the failure
	// (NotPersisted for a Local error).
	Persistence Persistence
}

func (e *Error) Error() string {
	s := "sluice: " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.KafkaError != 0 {
		s += fmt.Sprintf(" (kafka error %d)", e.KafkaError)
	}
	if e.Persistence == PossiblyPersisted {
		s += " (possibly persisted)"
	}
	if e.Local {
		s += " (checked by the client, not sent)"
	}
	return s
}

// CodeOf returns the protocol error code carried by err (an *Error anywhere in its
// chain, including the cause of a *ConnError), or CodeUnspecified.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnspecified
}

func errorFromProto(ref uint64, f *pb.Failed) *Error {
	return &Error{
		Code:       Code(f.GetCode()),
		Message:    f.GetMessage(),
		KafkaError: f.GetKafkaError(),
		Partition:  f.GetPartition(),
		Ref:        ref,
		// A number this package does not know is kept, like Code's.
		Persistence: Persistence(f.GetPersistence()),
	}
}

func localError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Partition: -1, Local: true, Persistence: NotPersisted}
}

var (
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("sluice: client closed")
	// ErrInDoubt matches (errors.Is) a *ConnError whose call was sent but whose final
	// reply never came: the gateway may or may not have produced it.
	ErrInDoubt = errors.New("sluice: call in doubt")
	// ErrDisconnected: the connection is gone and Options.NoReconnect forbids a new one.
	ErrDisconnected = errors.New("sluice: disconnected")
)

// ConnError is the failure of a call because its connection failed, could not be made,
// or was closed.
type ConnError struct {
	Op string // "dial", "write", "read" or "close"
	// Ref is the call concerned, 0 when none.
	Ref uint64
	// InDoubt is true when the call's request was written in full before the
	// connection went: the gateway may have produced it (a buffered call is produced
	// even after its client is gone). The client does not resend it.
	InDoubt bool
	// Err is the cause: an I/O error, io.EOF (the gateway closed the connection), a
	// connection-level *Error from the gateway (ref 0: NOT_AUTHORIZED,
	// FRAME_TOO_LARGE), or ErrClosed.
	Err error
}

func (e *ConnError) Error() string {
	s := "sluice: connection " + e.Op + " failed"
	if e.Ref != 0 {
		s += fmt.Sprintf(" (ref %d", e.Ref)
		if e.InDoubt {
			s += ", in doubt: it may have been produced"
		}
		s += ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *ConnError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInDoubt) true for in-doubt calls.
func (e *ConnError) Is(target error) bool { return target == ErrInDoubt && e.InDoubt }
