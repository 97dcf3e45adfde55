package sluice

import (
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"sluice/clients/go/internal/pb"
)

// encodeRequest returns req as one frame: a 4-byte big-endian length, then the message.
func encodeRequest(req *pb.Request, maxFrame int) ([]byte, error) {
	size := proto.Size(req)
	if size > maxFrame {
		return nil, localError(CodeFrameTooLarge, "request of %d bytes exceeds the %d-byte frame limit", size, maxFrame)
	}
	buf := make([]byte, 4, 4+size)
	binary.BigEndian.PutUint32(buf, uint32(size))
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, req)
	if err != nil {
		return nil, localError(CodeInvalidRequest, "encoding the request: %v", err)
	}
	return buf, nil
}

// readReply reads one frame and decodes it as a Reply. A length over maxFrame is
// refused before anything is allocated for it.
func readReply(r io.Reader, maxFrame int) (*pb.Reply, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if uint64(n) > uint64(maxFrame) {
		return nil, fmt.Errorf("reply frame of %d bytes exceeds %d", n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	reply := &pb.Reply{}
	if err := proto.Unmarshal(body, reply); err != nil {
		return nil, fmt.Errorf("undecodable reply: %w", err)
	}
	return reply, nil
}
