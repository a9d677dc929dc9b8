package selfservice

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ternmail/tern/core/internal/secrets"
)

// KeyPath is where the links' signing key lives in the secrets layer.
var KeyPath = secrets.Key("selfservice-signing")

// tokenVersion starts the signed data; a new token format takes another.
const tokenVersion = "tern-selfservice-v1"

const (
	idBytes  = 16 // 128 random bits
	keyBytes = 32
)

var b64 = base64.RawURLEncoding

// newID returns a random invitation id (hex of 128 bits).
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mac is the link's signature: HMAC-SHA256 over the version, the project,
// the user, the id and the expiry, each length-prefixed so that no two
// inputs share their bytes.
func mac(key []byte, project, user string, id []byte, expires int64) []byte {
	h := hmac.New(sha256.New, key)
	for _, part := range [][]byte{[]byte(tokenVersion), []byte(project), []byte(user), id} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(expires))
	h.Write(e[:])
	return h.Sum(nil)
}

// sign returns the token of an invitation's current link.
func sign(key []byte, inv *Invitation) (string, error) {
	id, err := hex.DecodeString(inv.ID)
	if err != nil || len(id) != idBytes {
		return "", fmt.Errorf("invitation of %s: bad id", inv.User)
	}
	exp := inv.Expires.Unix()
	payload := make([]byte, 0, idBytes+8)
	payload = append(payload, id...)
	payload = binary.BigEndian.AppendUint64(payload, uint64(exp))
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(mac(key, inv.Project, inv.User, id, exp)), nil
}

// parsed is a token taken apart (not yet verified).
type parsed struct {
	id      []byte
	expires int64
	sig     []byte
}

// parseToken takes a token apart; ok is false for anything malformed.
func parseToken(tok string) (p parsed, ok bool) {
	if len(tok) > 200 {
		return p, false
	}
	a, b, found := strings.Cut(tok, ".")
	if !found {
		return p, false
	}
	payload, err1 := b64.DecodeString(a)
	sig, err2 := b64.DecodeString(b)
	if err1 != nil || err2 != nil || len(payload) != idBytes+8 || len(sig) != sha256.Size {
		return p, false
	}
	return parsed{id: payload[:idBytes], expires: int64(binary.BigEndian.Uint64(payload[idBytes:])), sig: sig}, true
}

// signingKey returns the links' key, creating it on first use. It is
// read once and kept in memory; it never goes to the state store or a
// log.
func (s *Service) signingKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	v, err := s.o.Secrets.Get(ctx, KeyPath)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		k := make([]byte, keyBytes)
		rand.Read(k)
		if err := s.o.Secrets.Put(ctx, KeyPath, hex.EncodeToString(k)); err != nil {
			return nil, fmt.Errorf("store the self-service signing key: %w", err)
		}
		s.key = k
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("read the self-service signing key: %w", err)
	}
	k, err := hex.DecodeString(v)
	if err != nil || len(k) != keyBytes {
		return nil, errors.New("the self-service signing key in the secrets layer is damaged")
	}
	s.key = k
	return k, nil
}

// Link returns the link of an invitation's current token under base
// (the appliance's public URL).
func (s *Service) Link(ctx context.Context, inv *Invitation) (string, error) {
	key, err := s.signingKey(ctx)
	if err != nil {
		return "", err
	}
	tok, err := sign(key, inv)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(inv.Base, "/") + LinkPath + tok, nil
}

// LinkPath is the path of the public page, the token follows it.
const LinkPath = "/s/"

// Verify returns the invitation of a token. Every failure (malformed,
// bad signature, unknown id, expired, revoked, superseded by a re-send,
// a deleted user) is ErrInvalidLink, so that a page cannot tell them
// apart; the signature is checked in constant time, and computed even
// when the id is unknown. Only a secrets layer that cannot answer is
// another error (ErrTryLater: every link fails the same way then).
func (s *Service) Verify(ctx context.Context, token string) (*Invitation, error) {
	key, err := s.signingKey(ctx)
	if err != nil {
		s.log.Error("self-service link not checked", "err", err)
		return nil, ErrTryLater
	}
	p, ok := parseToken(token)
	var inv *Invitation
	if ok {
		var r ref
		if err := s.o.DB.Get(ctx, idKey(hex.EncodeToString(p.id)), &r); err == nil {
			inv, _ = s.Invitation(ctx, r.Project, r.User)
		}
	}
	project, user := "", ""
	if inv != nil {
		project, user = inv.Project, inv.User
	}
	want := mac(key, project, user, p.id, p.expires)
	good := hmac.Equal(p.sig, want) && ok && inv != nil
	now := s.now()
	if !good || inv.ID != hex.EncodeToString(p.id) || inv.Expires.Unix() != p.expires ||
		!now.Before(time.Unix(p.expires, 0)) || inv.State == StateRevoked {
		return nil, ErrInvalidLink
	}
	if _, err := s.o.Projects.User(ctx, inv.Project, inv.User); err != nil {
		return nil, ErrInvalidLink // the user (or its project) was deleted
	}
	return inv, nil
}
