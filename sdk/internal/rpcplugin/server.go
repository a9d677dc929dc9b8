package rpcplugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
	"github.com/ternmail/tern/sdk/internal/wire"
)

// server serves a connector.Connector over gRPC. It keeps the open sessions
// of the host in a table keyed by random session IDs.
type server struct {
	pb.UnimplementedConnectorServer
	impl connector.Connector

	mu       sync.Mutex
	sessions map[string]*session
	desc     *connector.Description
}

type session struct {
	source    connector.Source
	target    connector.Target
	chunkSize int
}

func newServer(impl connector.Connector) *server {
	return &server{impl: impl, sessions: make(map[string]*session)}
}

func (s *server) description(ctx context.Context) (*connector.Description, error) {
	s.mu.Lock()
	d := s.desc
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.desc = d
	s.mu.Unlock()
	return d, nil
}

func (s *server) Describe(ctx context.Context, _ *pb.Describe_Request) (*pb.Describe_Response, error) {
	d, err := s.description(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return wire.DescriptionToProto(d), nil
}

func (s *server) Open(ctx context.Context, req *pb.Open_Request) (*pb.Open_Response, error) {
	role, oreq := wire.OpenFromProto(req)
	d, err := s.description(ctx)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	sess := &session{chunkSize: wire.ChunkSize(int64(oreq.ChunkSize))}
	switch role {
	case connector.RoleSource:
		sess.source, err = s.impl.OpenSource(ctx, oreq)
	case connector.RoleTarget:
		sess.target, err = s.impl.OpenTarget(ctx, oreq)
		if err == nil {
			err = checkTargetCapabilities(d, sess.target)
			if err != nil {
				sess.target.Close(ctx)
			}
		}
	default:
		err = connector.Errorf(connector.KindInvalid, "open: no role given")
	}
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	var id [16]byte
	rand.Read(id[:])
	key := hex.EncodeToString(id[:])
	s.mu.Lock()
	s.sessions[key] = sess
	s.mu.Unlock()
	return &pb.Open_Response{Session: key}, nil
}

// checkTargetCapabilities fails fast when a connector announces a
// capability its target does not implement.
func checkTargetCapabilities(d *connector.Description, t connector.Target) error {
	if _, ok := t.(connector.TargetLookup); d.Capabilities.Lookup && !ok {
		return connector.Errorf(connector.KindUnsupported, "connector %s announces Lookup but its target does not implement connector.TargetLookup", d.ID)
	}
	if _, ok := t.(connector.TargetFlagSync); d.Capabilities.FlagSync && !ok {
		return connector.Errorf(connector.KindUnsupported, "connector %s announces FlagSync but its target does not implement connector.TargetFlagSync", d.ID)
	}
	return nil
}

// errSessionGone is returned for unknown session IDs: the plugin restarted
// or the session was closed. The host opens a new session.
var errSessionGone = connector.Errorf(connector.KindUnavailable, "session not found (closed, or the connector restarted)")

func (s *server) session(id string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil, errSessionGone
	}
	return sess, nil
}

func (s *server) sourceOf(id string) (connector.Source, *session, error) {
	sess, err := s.session(id)
	if err != nil {
		return nil, nil, err
	}
	if sess.source == nil {
		return nil, nil, connector.Errorf(connector.KindInvalid, "session is not a source session")
	}
	return sess.source, sess, nil
}

func (s *server) targetOf(id string) (connector.Target, error) {
	sess, err := s.session(id)
	if err != nil {
		return nil, err
	}
	if sess.target == nil {
		return nil, connector.Errorf(connector.KindInvalid, "session is not a target session")
	}
	return sess.target, nil
}

func (s *server) Close(ctx context.Context, req *pb.Close_Request) (*pb.Close_Response, error) {
	s.mu.Lock()
	sess, ok := s.sessions[req.GetSession()]
	delete(s.sessions, req.GetSession())
	s.mu.Unlock()
	if !ok {
		return &pb.Close_Response{}, nil
	}
	var err error
	if sess.source != nil {
		err = sess.source.Close(ctx)
	}
	if sess.target != nil {
		err = sess.target.Close(ctx)
	}
	return &pb.Close_Response{}, wire.ToStatus(err)
}

// closeAll closes every session; the plugin is shutting down.
func (s *server) closeAll() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions = make(map[string]*session)
	s.mu.Unlock()
	for _, sess := range sessions {
		if sess.source != nil {
			sess.source.Close(context.Background())
		}
		if sess.target != nil {
			sess.target.Close(context.Background())
		}
	}
}

func (s *server) Folders(ctx context.Context, req *pb.Folders_Request) (*pb.Folders_Response, error) {
	sess, err := s.session(req.GetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	var h *connector.Hierarchy
	if sess.source != nil {
		h, err = sess.source.Folders(ctx)
	} else {
		h, err = sess.target.Folders(ctx)
	}
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return wire.HierarchyToProto(h), nil
}

func (s *server) Status(ctx context.Context, req *pb.Status_Request) (*pb.Status_Response, error) {
	src, _, err := s.sourceOf(req.GetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	st, err := src.Status(ctx, req.GetFolder())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.Status_Response{Validity: st.Validity, Messages: st.Messages}, nil
}

func (s *server) List(req *pb.List_Request, stream grpc.ServerStreamingServer[pb.List_Page]) error {
	src, _, err := s.sourceOf(req.GetSession())
	if err != nil {
		return wire.ToStatus(err)
	}
	q := &connector.ListQuery{Since: req.GetSince(), PageSize: int(req.GetPageSize())}
	res, err := src.List(stream.Context(), req.GetFolder(), q, func(page []connector.Message) error {
		out := &pb.List_Page{Messages: make([]*pb.Message, len(page))}
		for i := range page {
			out.Messages[i] = wire.MessageToProto(&page[i])
		}
		return stream.Send(out)
	})
	if err != nil {
		return wire.ToStatus(err)
	}
	return stream.Send(&pb.List_Page{Done: true, Checkpoint: res.Checkpoint, Validity: res.Validity})
}

// chunkPool holds buffers of the default chunk size; sessions that picked
// another size allocate their own.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, wire.DefaultChunkSize); return &b }}

func getChunkBuf(size int) (buf []byte, release func()) {
	if size != wire.DefaultChunkSize {
		return make([]byte, size), func() {}
	}
	p := chunkPool.Get().(*[]byte)
	return *p, func() { chunkPool.Put(p) }
}

func (s *server) Fetch(req *pb.Fetch_Request, stream grpc.ServerStreamingServer[pb.Fetch_Chunk]) error {
	src, sess, err := s.sourceOf(req.GetSession())
	if err != nil {
		return wire.ToStatus(err)
	}
	body, err := src.Fetch(stream.Context(), req.GetFolder(), req.GetId())
	if err != nil {
		return wire.ToStatus(err)
	}
	defer body.Close()
	buf, release := getChunkBuf(sess.chunkSize)
	defer release()
	size := body.Size()
	err = wire.SendChunks(body, size, buf, func(first bool, off int64, data []byte) error {
		c := &pb.Fetch_Chunk{Offset: off, Data: data}
		if first {
			c.Meta = &pb.ChunkMeta{Size: size}
		}
		return stream.Send(c)
	})
	return wire.ToStatus(err)
}

func (s *server) EnsureFolder(ctx context.Context, req *pb.EnsureFolder_Request) (*pb.EnsureFolder_Response, error) {
	t, err := s.targetOf(req.GetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	f, err := t.EnsureFolder(ctx, req.GetName(), req.GetSpecialUse())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.EnsureFolder_Response{Name: f.Name, Created: f.Created, Watermark: f.Watermark}, nil
}

func (s *server) Append(stream grpc.ClientStreamingServer[pb.Append_Chunk, pb.Append_Response]) error {
	first, err := stream.Recv()
	if err != nil {
		return wire.ToStatus(err)
	}
	meta := first.GetMeta()
	if meta == nil || first.GetOffset() != 0 {
		return wire.ToStatus(connector.Errorf(connector.KindInvalid, "append: first chunk without metadata"))
	}
	t, err := s.targetOf(meta.GetSession())
	if err != nil {
		return wire.ToStatus(err)
	}
	body := wire.NewChunkReader(meta.GetSize(), first.GetData(), func() (int64, []byte, error) {
		c, err := stream.Recv()
		if err != nil {
			return 0, nil, err
		}
		return c.GetOffset(), c.GetData(), nil
	})
	res, err := t.Append(stream.Context(), meta.GetFolder(), &connector.AppendMessage{
		Size:         meta.GetSize(),
		Body:         body,
		InternalDate: wire.TimeFromProto(meta.GetInternalDateUnixNano(), meta.GetInternalDateOffsetSec(), meta.GetHasInternalDate()),
		Flags:        meta.GetFlags(),
		MessageID:    meta.GetMessageId(),
		Fingerprint:  meta.GetFingerprint(),
	})
	if err != nil {
		return wire.ToStatus(err)
	}
	// The target must have consumed the whole body; anything else means
	// the stored message is not what was sent.
	if n, rerr := io.Copy(io.Discard, body); n > 0 || (rerr != nil && !errors.Is(rerr, io.EOF)) {
		return wire.ToStatus(connector.Errorf(connector.KindPermanent, "append: target stored the message without reading %d bytes of its body", n))
	}
	return stream.SendAndClose(&pb.Append_Response{Ref: res.Ref, DroppedFlags: res.DroppedFlags, Notes: res.Notes})
}

func (s *server) Lookup(ctx context.Context, req *pb.Lookup_Request) (*pb.Lookup_Response, error) {
	t, err := s.targetOf(req.GetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	l, ok := t.(connector.TargetLookup)
	if !ok {
		return nil, wire.ToStatus(connector.Errorf(connector.KindUnsupported, "this connector cannot look messages up"))
	}
	refs, err := l.Lookup(ctx, req.GetFolder(), &connector.LookupQuery{
		MessageID: req.GetMessageId(), Fingerprint: req.GetFingerprint(), Size: req.GetSize(), Since: req.GetSince(),
	})
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.Lookup_Response{Refs: refs}, nil
}

func (s *server) SetFlags(ctx context.Context, req *pb.SetFlags_Request) (*pb.SetFlags_Response, error) {
	t, err := s.targetOf(req.GetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	f, ok := t.(connector.TargetFlagSync)
	if !ok {
		return nil, wire.ToStatus(connector.Errorf(connector.KindUnsupported, "this connector cannot change flags"))
	}
	res, err := f.SetFlags(ctx, req.GetFolder(), req.GetRef(), req.GetFlags())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.SetFlags_Response{DroppedFlags: res.DroppedFlags}, nil
}

// Copy copies messages from a source session into a target session of
// this process, so that no body crosses the wire. A source session that
// implements connector.SourceCopier for its own connector's targets does
// it its own way (IMAP: one FETCH, one MULTIAPPEND); any other is served
// by piping Fetch into Append, one message at a time.
func (s *server) Copy(ctx context.Context, req *pb.Copy_Request) (*pb.Copy_Response, error) {
	src, _, err := s.sourceOf(req.GetSourceSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	tgt, err := s.targetOf(req.GetTargetSession())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	items := make([]connector.CopyItem, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = connector.CopyItem{
			ID:           it.GetId(),
			InternalDate: wire.TimeFromProto(it.GetInternalDateUnixNano(), it.GetInternalDateOffsetSec(), it.GetHasInternalDate()),
			Flags:        it.GetFlags(),
			MessageID:    it.GetMessageId(),
			Fingerprint:  it.GetFingerprint(),
		}
	}
	var outs []connector.CopyOutcome
	if sc, ok := src.(connector.SourceCopier); ok {
		outs, err = sc.CopyTo(ctx, req.GetFolder(), items, tgt, req.GetTargetFolder())
		if errors.Is(err, connector.ErrUnsupported) {
			outs, err = nil, nil
		} else if err != nil {
			return nil, wire.ToStatus(err)
		} else if len(outs) != len(items) {
			return nil, wire.ToStatus(connector.Errorf(connector.KindPermanent, "copy: connector returned %d outcomes for %d messages", len(outs), len(items)))
		}
	}
	if outs == nil {
		outs = make([]connector.CopyOutcome, len(items))
		for i := range items {
			outs[i] = pipe(ctx, src, req.GetFolder(), &items[i], tgt, req.GetTargetFolder())
		}
	}
	resp := &pb.Copy_Response{Outcomes: make([]*pb.Copy_Outcome, len(outs))}
	for i, o := range outs {
		out := &pb.Copy_Outcome{Size: o.Size}
		var ce *connector.CopyError
		switch {
		case o.Err == nil && o.Result != nil:
			out.Result = &pb.Append_Response{Ref: o.Result.Ref, DroppedFlags: o.Result.DroppedFlags, Notes: o.Result.Notes}
		case errors.As(o.Err, &ce) && ce.Source:
			out.SourceError = wire.ErrorDetail(ce.Err)
		case o.Err != nil:
			out.TargetError = wire.ErrorDetail(o.Err)
		default:
			out.TargetError = wire.ErrorDetail(connector.Errorf(connector.KindPermanent, "copy: no result for message %s", items[i].ID))
		}
		resp.Outcomes[i] = out
	}
	return resp, nil
}

// pipe copies one message by streaming Fetch's body into Append.
func pipe(ctx context.Context, src connector.Source, folder string, it *connector.CopyItem, tgt connector.Target, tfolder string) connector.CopyOutcome {
	body, err := src.Fetch(ctx, folder, it.ID)
	if err != nil {
		return connector.CopyOutcome{Err: &connector.CopyError{Source: true, Err: err}}
	}
	defer body.Close()
	rb := &recordingReader{r: body}
	res, err := tgt.Append(ctx, tfolder, &connector.AppendMessage{
		Size: body.Size(), Body: rb, InternalDate: it.InternalDate, Flags: it.Flags, MessageID: it.MessageID, Fingerprint: it.Fingerprint,
	})
	switch {
	case err != nil && rb.err != nil:
		return connector.CopyOutcome{Err: &connector.CopyError{Source: true, Err: rb.err}}
	case err != nil:
		return connector.CopyOutcome{Err: &connector.CopyError{Err: err}}
	case rb.n != body.Size():
		return connector.CopyOutcome{Err: &connector.CopyError{Err: connector.Errorf(connector.KindPermanent,
			"copy: target stored the message after reading %d of %d bytes", rb.n, body.Size())}}
	}
	return connector.CopyOutcome{Result: res, Size: rb.n}
}

// recordingReader counts bytes and remembers the first read error.
type recordingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (s *server) TestConnection(ctx context.Context, req *pb.TestConnection_Request) (*pb.TestConnection_Response, error) {
	t, ok := s.impl.(connector.ConnectionTester)
	if !ok {
		return nil, wire.ToStatus(connector.Errorf(connector.KindUnsupported, "this connector cannot test connections"))
	}
	rep, err := t.TestConnection(ctx, &connector.TestRequest{
		Settings: req.GetSettings(), SampleUser: req.GetSampleUser(), Admin: wire.AdminFromProto(req.GetAdmin()), UserSecret: req.GetUserSecret(),
	})
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	return wire.TestReportToProto(rep), nil
}

func (s *server) ListUsers(req *pb.ListUsers_Request, stream grpc.ServerStreamingServer[pb.ListUsers_Page]) error {
	l, ok := s.impl.(connector.UserLister)
	if !ok {
		return wire.ToStatus(connector.Errorf(connector.KindUnsupported, "this connector cannot list users"))
	}
	admin := wire.AdminFromProto(req.GetAdmin())
	if admin == nil {
		admin = &connector.AdminCredential{}
	}
	err := l.ListUsers(stream.Context(), &connector.ListUsersRequest{Settings: req.GetSettings(), Admin: *admin, Mode: req.GetMode()}, func(users []connector.User) error {
		page := &pb.ListUsers_Page{Users: make([]*pb.ListUsers_User, len(users))}
		for i, u := range users {
			page.Users[i] = &pb.ListUsers_User{Login: u.Login, Address: u.Address, DisplayName: u.DisplayName, Note: u.Note}
		}
		return stream.Send(page)
	})
	return wire.ToStatus(err)
}
