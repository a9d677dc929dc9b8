package rpcplugin

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"

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
