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

// serveCounting serves impl on a unix socket with the plugin's options,
// counting the body chunks of streaming calls, and returns a client.
func serveCounting(t *testing.T, impl connector.Connector) (*Client, *counter) {
	t.Helper()
	c := &counter{counts: map[string]int{}, largest: map[string]int{}}
	srv := grpc.NewServer(append(ServerOptions(), grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &countingStream{ServerStream: ss, c: c, method: filepath.Base(info.FullMethod)})
	}))...)
	pb.RegisterConnectorServer(srv, newServer(impl))
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+ln.Addr().String(), append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return NewClient(pb.NewConnectorClient(conn)), c
}

func TestBodiesCrossInChunks(t *testing.T) {
	cl, c := serveCounting(t, memconnector.New(nil))
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
	mem := memconnector.New(nil)
	cl, c := serveCounting(t, mem)
	ctx := context.Background()
	body := bytes.Repeat([]byte("copy"), 3<<20/4)
	mem.Seed("a", "INBOX", body, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	src, _ := cl.OpenSource(ctx, &connector.OpenRequest{User: "a"})
	dst, _ := cl.OpenTarget(ctx, &connector.OpenRequest{User: "b"})
	cp := src.(connector.SourceCopier)
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	mem.Seed("a", "INBOX", []byte("Subject: second\r\n\r\nx\r\n"), date)
	outs, err := cp.CopyTo(ctx, "INBOX", []connector.CopyItem{
		{ID: "1", InternalDate: date, Flags: []string{`\Seen`}},
		{ID: "99"},
		{ID: "2", InternalDate: date},
	}, dst, "INBOX")
	if err != nil || len(outs) != 3 {
		t.Fatalf("CopyTo = %+v, %v", outs, err)
	}
	if outs[0].Err != nil || outs[0].Size != int64(len(body)) || outs[0].Result.Ref != "1" || outs[2].Err != nil || outs[2].Result.Ref != "2" {
		t.Fatalf("outcomes %+v", outs)
	}
	got := mem.Messages("b", "INBOX")
	if len(got) != 2 || !bytes.Equal(got[0].Data, body) || got[0].Flags[0] != `\Seen` {
		t.Fatalf("copied: %d messages", len(got))
	}
	if n := c.counts["Fetch"] + c.counts["Append"]; n != 0 {
		t.Fatalf("%d body chunks crossed the wire during a copy", n)
	}
	// Each outcome says which side failed.
	var ce *connector.CopyError
	if !errors.As(outs[1].Err, &ce) || !ce.Source || !errors.Is(outs[1].Err, connector.ErrNotFound) {
		t.Fatalf("copy of a missing message: %v", outs[1].Err)
	}
	outs, err = cp.CopyTo(ctx, "INBOX", []connector.CopyItem{{ID: "1"}}, dst, "No such folder")
	if err != nil || !errors.As(outs[0].Err, &ce) || ce.Source || !errors.Is(outs[0].Err, connector.ErrNotFound) {
		t.Fatalf("copy into a missing folder: %v %v", outs, err)
	}
	// A target of another process (here: in process) is not reachable.
	other, _ := memconnector.New(nil).OpenTarget(ctx, &connector.OpenRequest{User: "c"})
	if _, err := cp.CopyTo(ctx, "INBOX", []connector.CopyItem{{ID: "1"}}, other, "INBOX"); !errors.Is(err, connector.ErrUnsupported) {
		t.Fatalf("copy to another process: %v", err)
	}
}

func TestConnectionTestAndUserListOverTheWire(t *testing.T) {
	mem := memconnector.New(&memconnector.Options{AdminUser: "admin", AdminPassword: "adm-Secret-1"})
	mem.AddUser("alice", "alice-pw")
	mem.AddUser("bob", "bob-pw")
	cl, _ := serveCounting(t, mem)
	ctx := context.Background()
	rep, err := cl.TestConnection(ctx, &connector.TestRequest{SampleUser: "alice", Admin: &connector.AdminCredential{AuthUser: "admin", Secret: "wrong"}, UserSecret: "alice-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Attempts) != 2 || rep.Attempts[0].OK || rep.Attempts[0].Kind != connector.KindAuth || !rep.Attempts[1].OK || rep.Recommended != connector.ModePassword || rep.Server.Product != "memconnector" {
		t.Fatalf("report %+v", rep)
	}
	var got []string
	err = cl.ListUsers(ctx, &connector.ListUsersRequest{Admin: connector.AdminCredential{AuthUser: "admin", Secret: "adm-Secret-1"}}, func(us []connector.User) error {
		for _, u := range us {
			got = append(got, u.Login)
		}
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != "alice" {
		t.Fatalf("ListUsers = %v, %v", got, err)
	}
	err = cl.ListUsers(ctx, &connector.ListUsersRequest{Admin: connector.AdminCredential{AuthUser: "admin", Secret: "no"}}, func([]connector.User) error { return nil })
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("ListUsers with a wrong password: %v", err)
	}
}
