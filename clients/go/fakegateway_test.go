package sluice

import (
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"sluice/clients/go/internal/pb"
)

// fakeGateway is a scripted stand-in for sluiced in unit tests: each accepted
// connection is handed to the next handler. It checks the client's framing and lets a
// test reply in any order, drop connections and refuse peers, which a real gateway
// does only under conditions hard to arrange on cue.
type fakeGateway struct {
	t    *testing.T
	path string
	ln   net.Listener
	// handlers serve the 1st, 2nd... connection; later ones are closed at once.
	handlers chan func(*fakeConn)
}

type fakeConn struct {
	t  *testing.T
	nc net.Conn
}

func startFake(t *testing.T, handlers ...func(*fakeConn)) *fakeGateway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{t: t, path: path, ln: ln, handlers: make(chan func(*fakeConn), len(handlers))}
	for _, h := range handlers {
		g.handlers <- h
	}
	close(g.handlers)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			h, ok := <-g.handlers
			if !ok {
				nc.Close()
				continue
			}
			go func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				h(&fakeConn{t: t, nc: nc})
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return g
}

// read returns the next request, or nil at EOF.
func (f *fakeConn) read() *pb.Request {
	var head [4]byte
	if _, err := io.ReadFull(f.nc, head[:]); err != nil {
		return nil
	}
	body := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(f.nc, body); err != nil {
		f.t.Errorf("fake gateway: truncated frame: %v", err)
		return nil
	}
	req := &pb.Request{}
	if err := proto.Unmarshal(body, req); err != nil {
		f.t.Errorf("fake gateway: undecodable request: %v", err)
		return nil
	}
	return req
}

func (f *fakeConn) send(r *pb.Reply) {
	body, err := proto.Marshal(r)
	if err != nil {
		f.t.Errorf("fake gateway: %v", err)
		return
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := f.nc.Write(append(frame, body...)); err != nil {
		f.t.Logf("fake gateway: write: %v", err)
	}
}

// handshake answers the Ping that Dial sends first.
func (f *fakeConn) handshake() {
	req := f.read()
	if req.GetPing() == nil {
		f.t.Errorf("fake gateway: first request is %v, want a Ping", req)
		return
	}
	f.send(&pb.Reply{Ref: req.Ref, Kind: &pb.Reply_Pong{Pong: &pb.Pong{Version: "fake"}}})
}

func buffered(ref uint64, p int32) *pb.Reply {
	return &pb.Reply{Ref: ref, Kind: &pb.Reply_Buffered{Buffered: &pb.Buffered{Partition: p}}}
}

func acked(ref uint64, p int32, offset int64) *pb.Reply {
	return &pb.Reply{Ref: ref, Kind: &pb.Reply_Acked{Acked: &pb.Acked{Partition: p, BaseOffset: offset}}}
}

func failed(ref uint64, code pb.ErrorCode, msg string) *pb.Reply {
	return &pb.Reply{Ref: ref, Kind: &pb.Reply_Failed{Failed: &pb.Failed{Code: code, Message: msg, Partition: -1}}}
}
