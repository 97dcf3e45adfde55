package sluice

import (
	"strings"
	"time"
	"unicode/utf8"

	"sluice/clients/go/internal/pb"
)

// Record is one Kafka record.
type Record struct {
	// Key: nil or empty is a null key (protocol v1 cannot send an empty non-null key).
	Key []byte
	// Value: nil or empty is an empty value (v1 has no tombstones).
	Value []byte
	// Timestamp is the record's CreateTime, sent in milliseconds. The zero Time lets
	// the gateway stamp the time it received the call.
	Timestamp time.Time
	Headers   []Header
}

// Header is a Kafka record header; an empty Value is empty, not null.
type Header struct {
	Key   string
	Value []byte
}

// ProduceOption chooses how a produce call is partitioned.
type ProduceOption func(*pb.Produce)

// ToPartition sends the call to partition p.
func ToPartition(p int32) ProduceOption {
	return func(m *pb.Produce) { m.Partitioning = &pb.Produce_Partition{Partition: p} }
}

// HashPartition lets the gateway pick the partition by murmur2 of the first record's
// key, as Kafka's Java client does (random when that key is empty). The default.
func HashPartition() ProduceOption {
	return func(m *pb.Produce) {
		m.Partitioning = &pb.Produce_Partitioner{Partitioner: pb.Partitioner_PARTITIONER_HASH}
	}
}

// RandomPartition lets the gateway pick a uniformly random partition.
func RandomPartition() ProduceOption {
	return func(m *pb.Produce) {
		m.Partitioning = &pb.Produce_Partitioner{Partitioner: pb.Partitioner_PARTITIONER_RANDOM}
	}
}

// produceMessage builds the Produce message, refusing what the gateway would answer
// INVALID_REQUEST, so the mistake is reported with the caller's own names.
func produceMessage(topic string, records []Record, opts []ProduceOption) (*pb.Produce, error) {
	if topic == "" {
		return nil, localError(CodeInvalidRequest, "empty topic")
	}
	if err := checkString("topic", topic); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, localError(CodeInvalidRequest, "produce to %q without records", topic)
	}
	m := &pb.Produce{Topic: topic, Records: make([]*pb.Record, len(records))}
	for i, r := range records {
		pr := &pb.Record{Key: r.Key, Value: r.Value}
		if !r.Timestamp.IsZero() {
			pr.TimestampMs = r.Timestamp.UnixMilli()
		}
		if len(r.Headers) > 0 {
			pr.Headers = make([]*pb.Header, len(r.Headers))
			for j, h := range r.Headers {
				if err := checkString("header key", h.Key); err != nil {
					return nil, err
				}
				pr.Headers[j] = &pb.Header{Key: h.Key, Value: h.Value}
			}
		}
		m.Records[i] = pr
	}
	for _, opt := range opts {
		opt(m)
	}
	return m, nil
}

// checkString enforces the protocol's string rules: valid UTF-8 and no U+0000 (the
// gateway's C decoder would end the string there).
func checkString(what, s string) error {
	if !utf8.ValidString(s) {
		return localError(CodeInvalidRequest, "%s %q is not valid UTF-8", what, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return localError(CodeInvalidRequest, "%s %q contains U+0000", what, s)
	}
	return nil
}
