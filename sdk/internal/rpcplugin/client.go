package rpcplugin

import (
	"context"
	"errors"
	"io"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
	"github.com/ternmail/tern/sdk/internal/wire"
)

// fromStatus translates a call's error; when the caller's context ended,
// that is the error, whatever the transport made of it.
func fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return wire.FromStatus(err)
}

// Client is a connector.Connector that talks to a plugin over gRPC.
type Client struct {
	rpc pb.ConnectorClient
}

var (
	_ connector.Connector        = (*Client)(nil)
	_ connector.ConnectionTester = (*Client)(nil)
	_ connector.UserLister       = (*Client)(nil)
)

// TestConnection implements connector.ConnectionTester; a plugin without
// the capability answers ErrUnsupported.
func (c *Client) TestConnection(ctx context.Context, req *connector.TestRequest) (*connector.TestReport, error) {
	resp, err := c.rpc.TestConnection(ctx, &pb.TestConnection_Request{
		Settings: req.Settings, SampleUser: req.SampleUser, Admin: wire.AdminToProto(req.Admin), UserSecret: req.UserSecret,
	})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return wire.TestReportFromProto(resp), nil
}

// ListUsers implements connector.UserLister; a plugin without the
// capability answers ErrUnsupported.
func (c *Client) ListUsers(ctx context.Context, req *connector.ListUsersRequest, fn func([]connector.User) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ListUsers(ctx, &pb.ListUsers_Request{Settings: req.Settings, Admin: wire.AdminToProto(&req.Admin), Mode: req.Mode})
	if err != nil {
		return fromStatus(ctx, err)
	}
	for {
		page, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fromStatus(ctx, err)
		}
		users := make([]connector.User, len(page.GetUsers()))
		for i, u := range page.GetUsers() {
			users[i] = connector.User{Login: u.GetLogin(), Address: u.GetAddress(), DisplayName: u.GetDisplayName(), Note: u.GetNote()}
		}
		if err := fn(users); err != nil {
			return err
		}
	}
}

// NewClient wraps a gRPC client.
func NewClient(c pb.ConnectorClient) *Client { return &Client{rpc: c} }

// Describe implements connector.Connector.
func (c *Client) Describe(ctx context.Context) (*connector.Description, error) {
	resp, err := c.rpc.Describe(ctx, &pb.Describe_Request{})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return wire.DescriptionFromProto(resp), nil
}

func (c *Client) open(ctx context.Context, role connector.Role, req *connector.OpenRequest) (*remoteSession, error) {
	resp, err := c.rpc.Open(ctx, wire.OpenToProto(role, req))
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return &remoteSession{rpc: c.rpc, id: resp.GetSession(), chunkSize: wire.ChunkSize(int64(req.ChunkSize))}, nil
}

// OpenSource implements connector.Connector.
func (c *Client) OpenSource(ctx context.Context, req *connector.OpenRequest) (connector.Source, error) {
	s, err := c.open(ctx, connector.RoleSource, req)
	if err != nil {
		return nil, err
	}
	return &remoteSource{s}, nil
}

// OpenTarget implements connector.Connector.
func (c *Client) OpenTarget(ctx context.Context, req *connector.OpenRequest) (connector.Target, error) {
	s, err := c.open(ctx, connector.RoleTarget, req)
	if err != nil {
		return nil, err
	}
	return &remoteTarget{s}, nil
}

type remoteSession struct {
	rpc       pb.ConnectorClient
	id        string
	chunkSize int
}

func (s *remoteSession) Folders(ctx context.Context) (*connector.Hierarchy, error) {
	resp, err := s.rpc.Folders(ctx, &pb.Folders_Request{Session: s.id})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return wire.HierarchyFromProto(resp), nil
}

func (s *remoteSession) Close(ctx context.Context) error {
	_, err := s.rpc.Close(ctx, &pb.Close_Request{Session: s.id})
	return fromStatus(ctx, err)
}

type remoteSource struct{ *remoteSession }

var (
	_ connector.Source       = (*remoteSource)(nil)
	_ connector.SourceCopier = (*remoteSource)(nil)
)

// CopyTo implements connector.SourceCopier for target sessions of the
// same plugin process (the same gRPC connection).
func (s *remoteSource) CopyTo(ctx context.Context, folder string, items []connector.CopyItem, dst connector.Target, dstFolder string) ([]connector.CopyOutcome, error) {
	t, ok := dst.(*remoteTarget)
	if !ok || t.rpc != s.rpc {
		return nil, connector.Errorf(connector.KindUnsupported, "copy: the target session is in another process")
	}
	req := &pb.Copy_Request{SourceSession: s.id, Folder: folder, TargetSession: t.id, TargetFolder: dstFolder, Items: make([]*pb.Copy_Item, len(items))}
	for i, it := range items {
		ns, off, has := wire.TimeToProto(it.InternalDate)
		req.Items[i] = &pb.Copy_Item{Id: it.ID, InternalDateUnixNano: ns, InternalDateOffsetSec: off, HasInternalDate: has,
			Flags: it.Flags, MessageId: it.MessageID, Fingerprint: it.Fingerprint}
	}
	resp, err := s.rpc.Copy(ctx, req)
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	if len(resp.GetOutcomes()) != len(items) {
		return nil, connector.Errorf(connector.KindUnavailable, "copy: %d outcomes for %d messages", len(resp.GetOutcomes()), len(items))
	}
	outs := make([]connector.CopyOutcome, len(items))
	for i, o := range resp.GetOutcomes() {
		switch {
		case o.GetSourceError() != nil:
			outs[i].Err = &connector.CopyError{Source: true, Err: wire.FromDetail(o.GetSourceError())}
		case o.GetTargetError() != nil:
			outs[i].Err = &connector.CopyError{Err: wire.FromDetail(o.GetTargetError())}
		default:
			r := o.GetResult()
			outs[i].Result = &connector.AppendResult{Ref: r.GetRef(), DroppedFlags: r.GetDroppedFlags(), Notes: r.GetNotes()}
			outs[i].Size = o.GetSize()
		}
	}
	return outs, nil
}

func (s *remoteSource) Status(ctx context.Context, folder string) (*connector.FolderStatus, error) {
	resp, err := s.rpc.Status(ctx, &pb.Status_Request{Session: s.id, Folder: folder})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return &connector.FolderStatus{Validity: resp.GetValidity(), Messages: resp.GetMessages()}, nil
}

func (s *remoteSource) List(ctx context.Context, folder string, q *connector.ListQuery, fn func([]connector.Message) error) (*connector.ListResult, error) {
	if q == nil {
		q = &connector.ListQuery{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.rpc.List(ctx, &pb.List_Request{Session: s.id, Folder: folder, Since: q.Since, PageSize: int32(q.PageSize)})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	for {
		page, err := stream.Recv()
		if err == io.EOF {
			return nil, connector.Errorf(connector.KindUnavailable, "list %q: stream ended without its last page", folder)
		}
		if err != nil {
			return nil, fromStatus(ctx, err)
		}
		if len(page.GetMessages()) > 0 {
			msgs := make([]connector.Message, len(page.GetMessages()))
			for i, m := range page.GetMessages() {
				msgs[i] = wire.MessageFromProto(m)
			}
			if err := fn(msgs); err != nil {
				return nil, err
			}
		}
		if page.GetDone() {
			return &connector.ListResult{Checkpoint: page.GetCheckpoint(), Validity: page.GetValidity()}, nil
		}
	}
}

func (s *remoteSource) Fetch(ctx context.Context, folder, id string) (connector.Body, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.rpc.Fetch(ctx, &pb.Fetch_Request{Session: s.id, Folder: folder, Id: id})
	if err != nil {
		// Translate before cancel: fromStatus reports a cancelled ctx.
		err = fromStatus(ctx, err)
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		if err == io.EOF {
			err = connector.Errorf(connector.KindUnavailable, "fetch: empty stream")
		} else {
			err = fromStatus(ctx, err)
		}
		cancel()
		return nil, err
	}
	if first.GetMeta() == nil || first.GetOffset() != 0 {
		cancel()
		return nil, connector.Errorf(connector.KindPermanent, "fetch: first chunk without metadata")
	}
	r := wire.NewChunkReader(first.GetMeta().GetSize(), first.GetData(), func() (int64, []byte, error) {
		c, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				return 0, nil, io.EOF
			}
			return 0, nil, fromStatus(ctx, err)
		}
		return c.GetOffset(), c.GetData(), nil
	})
	return &remoteBody{ChunkReader: r, cancel: cancel}, nil
}

type remoteBody struct {
	*wire.ChunkReader
	cancel context.CancelFunc
}

func (b *remoteBody) Close() error {
	b.cancel()
	return nil
}

type remoteTarget struct{ *remoteSession }

var (
	_ connector.Target         = (*remoteTarget)(nil)
	_ connector.TargetLookup   = (*remoteTarget)(nil)
	_ connector.TargetFlagSync = (*remoteTarget)(nil)
)

func (t *remoteTarget) EnsureFolder(ctx context.Context, name, specialUse string) (*connector.TargetFolder, error) {
	resp, err := t.rpc.EnsureFolder(ctx, &pb.EnsureFolder_Request{Session: t.id, Name: name, SpecialUse: specialUse})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return &connector.TargetFolder{Name: resp.GetName(), Created: resp.GetCreated(), Watermark: resp.GetWatermark()}, nil
}

func (t *remoteTarget) Append(ctx context.Context, folder string, m *connector.AppendMessage) (*connector.AppendResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := t.rpc.Append(ctx)
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	ns, off, ok := wire.TimeToProto(m.InternalDate)
	meta := &pb.Append_Meta{
		Session:               t.id,
		Folder:                folder,
		Size:                  m.Size,
		InternalDateUnixNano:  ns,
		InternalDateOffsetSec: off,
		HasInternalDate:       ok,
		Flags:                 m.Flags,
		MessageId:             m.MessageID,
		Fingerprint:           m.Fingerprint,
	}
	buf, release := getChunkBuf(t.chunkSize)
	defer release()
	sendErr := wire.SendChunks(m.Body, m.Size, buf, func(first bool, offset int64, data []byte) error {
		c := &pb.Append_Chunk{Offset: offset, Data: data}
		if first {
			c.Meta = meta
		}
		return stream.Send(c)
	})
	if sendErr != nil && !errors.Is(sendErr, io.EOF) {
		// Reading the body failed (or the body was the wrong size): the
		// target must not store a partial message. Cancelling the stream
		// aborts the append on the plugin side.
		cancel()
		return nil, sendErr
	}
	// On io.EOF the plugin ended the stream early; its status says why.
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return &connector.AppendResult{Ref: resp.GetRef(), DroppedFlags: resp.GetDroppedFlags(), Notes: resp.GetNotes()}, nil
}

func (t *remoteTarget) Lookup(ctx context.Context, folder string, q *connector.LookupQuery) ([]string, error) {
	resp, err := t.rpc.Lookup(ctx, &pb.Lookup_Request{
		Session: t.id, Folder: folder, MessageId: q.MessageID, Fingerprint: q.Fingerprint, Size: q.Size, Since: q.Since,
	})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetRefs(), nil
}

func (t *remoteTarget) SetFlags(ctx context.Context, folder, ref string, flags []string) (*connector.SetFlagsResult, error) {
	resp, err := t.rpc.SetFlags(ctx, &pb.SetFlags_Request{Session: t.id, Folder: folder, Ref: ref, Flags: flags})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return &connector.SetFlagsResult{DroppedFlags: resp.GetDroppedFlags()}, nil
}
