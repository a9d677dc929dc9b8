// Package wire converts between the connector contract's Go types and the
// protocol's protobuf messages, translates errors to and from gRPC
// statuses, and reassembles chunked body streams. It is the only place
// that knows both sides.
package wire

import (
	"time"

	"github.com/ternmail/tern/sdk/connector"
	pb "github.com/ternmail/tern/sdk/internal/proto/v1"
)

// Chunk sizes.
const (
	// DefaultChunkSize is the body chunk size when nobody asks for another.
	DefaultChunkSize = 1 << 20
	// MinChunkSize and MaxChunkSize bound what a peer may pick.
	MinChunkSize = 16 << 10
	MaxChunkSize = 4 << 20
	// MaxMessageSize caps one gRPC message on both sides: a chunk at the
	// maximum size plus room for metadata and a large page of listings.
	// gRPC's default of 4 MiB is too small for a 4 MiB chunk with its
	// envelope, and MaxInt32 would let a broken peer exhaust memory.
	MaxMessageSize = 16 << 20
)

// ChunkSize returns the chunk size to use for a suggestion of n bytes.
func ChunkSize(n int64) int {
	switch {
	case n <= 0:
		return DefaultChunkSize
	case n < MinChunkSize:
		return MinChunkSize
	case n > MaxChunkSize:
		return MaxChunkSize
	}
	return int(n)
}

// RoleToProto converts a role.
func RoleToProto(r connector.Role) pb.Role {
	switch r {
	case connector.RoleSource:
		return pb.Role_ROLE_SOURCE
	case connector.RoleTarget:
		return pb.Role_ROLE_TARGET
	}
	return pb.Role_ROLE_UNSPECIFIED
}

// RoleFromProto converts a role.
func RoleFromProto(r pb.Role) connector.Role {
	switch r {
	case pb.Role_ROLE_SOURCE:
		return connector.RoleSource
	case pb.Role_ROLE_TARGET:
		return connector.RoleTarget
	}
	return ""
}

// DescriptionToProto converts a description.
func DescriptionToProto(d *connector.Description) *pb.Describe_Response {
	out := &pb.Describe_Response{
		Id:              d.ID,
		Version:         d.Version,
		ProtocolVersion: int32(d.ProtocolVersion),
		Summary:         d.Summary,
		SettingsSchema:  d.SettingsSchema,
		Capabilities: &pb.Capabilities{
			DeltaCheckpoints: d.Capabilities.DeltaCheckpoints,
			Lookup:           d.Capabilities.Lookup,
			FlagSync:         d.Capabilities.FlagSync,
			Keywords:         d.Capabilities.Keywords,
			ListUsers:        d.Capabilities.ListUsers,
			MaxMessageSize:   d.Capabilities.MaxMessageSize,
			TestConnection:   d.Capabilities.TestConnection,
			CredentialModes:  d.Capabilities.CredentialModes,
		},
	}
	for _, r := range d.Roles {
		out.Roles = append(out.Roles, RoleToProto(r))
	}
	return out
}

// DescriptionFromProto converts a description.
func DescriptionFromProto(p *pb.Describe_Response) *connector.Description {
	c := p.GetCapabilities()
	d := &connector.Description{
		ID:              p.GetId(),
		Version:         p.GetVersion(),
		ProtocolVersion: int(p.GetProtocolVersion()),
		Summary:         p.GetSummary(),
		SettingsSchema:  p.GetSettingsSchema(),
		Capabilities: connector.Capabilities{
			DeltaCheckpoints: c.GetDeltaCheckpoints(),
			Lookup:           c.GetLookup(),
			FlagSync:         c.GetFlagSync(),
			Keywords:         c.GetKeywords(),
			ListUsers:        c.GetListUsers(),
			MaxMessageSize:   c.GetMaxMessageSize(),
			TestConnection:   c.GetTestConnection(),
			CredentialModes:  c.GetCredentialModes(),
		},
	}
	for _, r := range p.GetRoles() {
		d.Roles = append(d.Roles, RoleFromProto(r))
	}
	return d
}

// OpenToProto converts an open request.
func OpenToProto(role connector.Role, r *connector.OpenRequest) *pb.Open_Request {
	return &pb.Open_Request{
		Role:      RoleToProto(role),
		Settings:  r.Settings,
		User:      r.User,
		ChunkSize: int64(r.ChunkSize),
		Credential: &pb.Credential{
			Mode:     r.Credential.Mode,
			Username: r.Credential.Username,
			AuthUser: r.Credential.AuthUser,
			Secret:   r.Credential.Secret,
		},
	}
}

// OpenFromProto converts an open request.
func OpenFromProto(p *pb.Open_Request) (connector.Role, *connector.OpenRequest) {
	c := p.GetCredential()
	return RoleFromProto(p.GetRole()), &connector.OpenRequest{
		Settings:  p.GetSettings(),
		User:      p.GetUser(),
		ChunkSize: int(p.GetChunkSize()),
		Credential: connector.Credential{
			Mode:     c.GetMode(),
			Username: c.GetUsername(),
			AuthUser: c.GetAuthUser(),
			Secret:   c.GetSecret(),
		},
	}
}

// HierarchyToProto converts a folder hierarchy.
func HierarchyToProto(h *connector.Hierarchy) *pb.Folders_Response {
	out := &pb.Folders_Response{Delimiter: h.Delimiter, Prefix: h.Prefix}
	for _, f := range h.Folders {
		out.Folders = append(out.Folders, &pb.Folder{
			Name:       f.Name,
			Delimiter:  f.Delimiter,
			SpecialUse: f.SpecialUse,
			NoSelect:   f.NoSelect,
			Attributes: f.Attributes,
		})
	}
	return out
}

// HierarchyFromProto converts a folder hierarchy.
func HierarchyFromProto(p *pb.Folders_Response) *connector.Hierarchy {
	h := &connector.Hierarchy{Delimiter: p.GetDelimiter(), Prefix: p.GetPrefix()}
	for _, f := range p.GetFolders() {
		h.Folders = append(h.Folders, connector.Folder{
			Name:       f.GetName(),
			Delimiter:  f.GetDelimiter(),
			SpecialUse: f.GetSpecialUse(),
			NoSelect:   f.GetNoSelect(),
			Attributes: f.GetAttributes(),
		})
	}
	return h
}

// TimeToProto splits a time into Unix nanoseconds and a zone offset, so the
// INTERNALDATE's zone survives the trip.
func TimeToProto(t time.Time) (unixNano int64, offsetSec int32, ok bool) {
	if t.IsZero() {
		return 0, 0, false
	}
	_, off := t.Zone()
	return t.UnixNano(), int32(off), true
}

// TimeFromProto is the inverse of TimeToProto.
func TimeFromProto(unixNano int64, offsetSec int32, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	t := time.Unix(0, unixNano)
	if offsetSec == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(offsetSec)))
}

// MessageToProto converts message metadata.
func MessageToProto(m *connector.Message) *pb.Message {
	ns, off, ok := TimeToProto(m.InternalDate)
	return &pb.Message{
		Id:                    m.ID,
		FlagsOnly:             m.FlagsOnly,
		Size:                  m.Size,
		InternalDateUnixNano:  ns,
		InternalDateOffsetSec: off,
		HasInternalDate:       ok,
		Flags:                 m.Flags,
		MessageId:             m.MessageID,
		Fingerprint:           m.Fingerprint,
	}
}

// MessageFromProto converts message metadata.
func MessageFromProto(p *pb.Message) connector.Message {
	return connector.Message{
		ID:           p.GetId(),
		FlagsOnly:    p.GetFlagsOnly(),
		Size:         p.GetSize(),
		InternalDate: TimeFromProto(p.GetInternalDateUnixNano(), p.GetInternalDateOffsetSec(), p.GetHasInternalDate()),
		Flags:        p.GetFlags(),
		MessageID:    p.GetMessageId(),
		Fingerprint:  p.GetFingerprint(),
	}
}

// AdminToProto converts an administrator credential.
func AdminToProto(a *connector.AdminCredential) *pb.AdminCredential {
	if a == nil {
		return nil
	}
	return &pb.AdminCredential{AuthUser: a.AuthUser, Secret: a.Secret}
}

// AdminFromProto converts an administrator credential.
func AdminFromProto(p *pb.AdminCredential) *connector.AdminCredential {
	if p == nil {
		return nil
	}
	return &connector.AdminCredential{AuthUser: p.GetAuthUser(), Secret: p.GetSecret()}
}

// TestReportToProto converts a connection test report.
func TestReportToProto(r *connector.TestReport) *pb.TestConnection_Response {
	out := &pb.TestConnection_Response{
		Address: r.Server.Address, Greeting: r.Server.Greeting, Tls: r.Server.TLS,
		Capabilities: r.Server.Capabilities, AuthMechanisms: r.Server.AuthMechanisms, Product: r.Server.Product,
		Recommended: r.Recommended, Notes: r.Notes,
	}
	for _, a := range r.Attempts {
		out.Attempts = append(out.Attempts, &pb.TestConnection_Attempt{Mode: a.Mode, Login: a.Login, Ok: a.OK, Error: a.Error, Kind: pb.ErrorKind(a.Kind)})
	}
	return out
}

// TestReportFromProto converts a connection test report.
func TestReportFromProto(p *pb.TestConnection_Response) *connector.TestReport {
	r := &connector.TestReport{
		Server: connector.ServerInfo{Address: p.GetAddress(), Greeting: p.GetGreeting(), TLS: p.GetTls(),
			Capabilities: p.GetCapabilities(), AuthMechanisms: p.GetAuthMechanisms(), Product: p.GetProduct()},
		Recommended: p.GetRecommended(), Notes: p.GetNotes(),
	}
	for _, a := range p.GetAttempts() {
		r.Attempts = append(r.Attempts, connector.LoginAttempt{Mode: a.GetMode(), Login: a.GetLogin(), OK: a.GetOk(), Error: a.GetError(), Kind: connector.Kind(a.GetKind())})
	}
	return r
}
