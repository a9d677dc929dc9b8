package rpcplugin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
	"github.com/ternmail/tern/sdk/memconnector"
)

// countingStream counts the messages of each streaming RPC and the largest.
type counter struct {
	mu      sync.Mutex
	counts  map[string]int
	largest map[string]int
}

func (c *counter) add(method string, m any) {
	var n int
	switch v := m.(type) {
	case *pb.Fetch_Chunk:
		n = len(v.GetData())
	case *pb.Append_Chunk:
		n = len(v.GetData())
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[method]++
	c.largest[method] = max(c.largest[method], n)
}

type countingStream struct {
	grpc.ServerStream
	c      *counter
	method string
}

func (s *countingStream) SendMsg(m any) error { s.c.add(s.method, m); return s.ServerStream.SendMsg(m) }
func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.c.add(s.method, m)
	}
	return err
}

func TestBodiesCrossInChunks(t *testing.T) {
	c := &counter{counts: map[string]int{}, largest: map[string]int{}}
	srv := grpc.NewServer(append(ServerOptions(), grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &countingStream{ServerStream: ss, c: c, method: filepath.Base(info.FullMethod)})
	}))...)
	pb.RegisterConnectorServer(srv, newServer(memconnector.New(nil)))
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := NewClient(pb.NewConnectorClient(conn))
	ctx := context.Background()

	body := bytes.Repeat([]byte("tern"), 5<<20/4+1234) // just over 5 MiB
	tgt, err := cl.OpenTarget(ctx, &connector.OpenRequest{User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	src, err := cl.OpenSource(ctx, &connector.OpenRequest{User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Fetch(ctx, "INBOX", "1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("fetched %d bytes, err %v", len(got), err)
	}
	for _, m := range []string{"Append", "Fetch"} {
		if c.counts[m] != 6 || c.largest[m] != 1<<20 {
			t.Errorf("%s: %d chunks, largest %d bytes; want 6 chunks of at most 1 MiB", m, c.counts[m], c.largest[m])
		}
	}
}

func TestCopyInsideThePlugin(t *testing.T) {
	c := &counter{counts: map[string]int{}, largest: map[string]int{}}
	mem := memconnector.New(nil)
	srv := grpc.NewServer(append(ServerOptions(), grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &countingStream{ServerStream: ss, c: c, method: filepath.Base(info.FullMethod)})
	}))...)
	pb.RegisterConnectorServer(srv, newServer(mem))
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := NewClient(pb.NewConnectorClient(conn))
	ctx := context.Background()
	body := bytes.Repeat([]byte("copy"), 3<<20/4)
	mem.Seed("a", "INBOX", body, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	src, _ := cl.OpenSource(ctx, &connector.OpenRequest{User: "a"})
	dst, _ := cl.OpenTarget(ctx, &connector.OpenRequest{User: "b"})
	cp := src.(connector.SourceCopier)
	res, err := cp.CopyTo(ctx, "INBOX", "1", dst, "INBOX", &connector.AppendMessage{InternalDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), Flags: []string{`\Seen`}})
	if err != nil || res.Size != int64(len(body)) || res.Ref != "1" {
		t.Fatalf("CopyTo = %+v, %v", res, err)
	}
	got := mem.Messages("b", "INBOX")
	if len(got) != 1 || !bytes.Equal(got[0].Data, body) || got[0].Flags[0] != `\Seen` {
		t.Fatalf("copied message: %d messages", len(got))
	}
	if n := c.counts["Fetch"] + c.counts["Append"]; n != 0 {
		t.Fatalf("%d body chunks crossed the wire during a copy", n)
	}
	// Errors say which side failed.
	_, err = cp.CopyTo(ctx, "INBOX", "99", dst, "INBOX", &connector.AppendMessage{})
	var ce *connector.CopyError
	if !errors.As(err, &ce) || !ce.Source || !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("copy of a missing message: %v", err)
	}
	_, err = cp.CopyTo(ctx, "INBOX", "1", dst, "No such folder", &connector.AppendMessage{})
	if !errors.As(err, &ce) || ce.Source || !errors.Is(err, connector.ErrNotFound) {
		t.Fatalf("copy into a missing folder: %v", err)
	}
	// A target of another process (here: in process) is not reachable.
	other, _ := memconnector.New(nil).OpenTarget(ctx, &connector.OpenRequest{User: "c"})
	if _, err := cp.CopyTo(ctx, "INBOX", "1", other, "INBOX", &connector.AppendMessage{}); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("copy to another process: %v", err)
	}
}
