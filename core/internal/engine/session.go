package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ternmail/tern/sdk/connector"
)

// side holds the open session of one endpoint and reopens it after the
// connection or the plugin went away. Workers share it: a worker that sees
// connector.ErrUnavailable resets the generation it used, and the next call
// opens a new session (once, however many workers saw the failure).
type side struct {
	ep     Endpoint
	role   connector.Role
	chunk  int
	red    *secrets
	onWait func(reason string) // "" when the wait is over

	mu  sync.Mutex
	gen int
	src connector.Source
	tgt connector.Target
}

// secrets collects the credentials seen while opening sessions, so that
// error texts can be scrubbed of them.
type secrets struct {
	mu   sync.Mutex
	list redactor
}

func (s *secrets) add(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.list {
		if x == secret {
			return
		}
	}
	s.list = append(s.list, secret)
}

func (s *secrets) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list.String(text)
}

func (s *side) open(ctx context.Context) error {
	req, err := s.request(ctx)
	if err != nil {
		return err
	}
	if req.Credential.Secret != "" {
		s.red.add(req.Credential.Secret)
	}
	if req.ChunkSize == 0 {
		req.ChunkSize = s.chunk
	}
	if s.role == connector.RoleSource {
		src, err := s.ep.Connector.OpenSource(ctx, req)
		if err != nil {
			return err
		}
		s.src = src
	} else {
		tgt, err := s.ep.Connector.OpenTarget(ctx, req)
		if err != nil {
			return err
		}
		s.tgt = tgt
	}
	s.gen++
	return nil
}

func (s *side) source(ctx context.Context) (connector.Source, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		if err := s.open(ctx); err != nil {
			return nil, 0, err
		}
	}
	return s.src, s.gen, nil
}

func (s *side) target(ctx context.Context) (connector.Target, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tgt == nil {
		if err := s.open(ctx); err != nil {
			return nil, 0, err
		}
	}
	return s.tgt, s.gen, nil
}

// reset drops the session of generation gen, if it is still the current
// one; the next call opens a new one.
func (s *side) reset(gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	s.closeLocked()
}

func (s *side) closeLocked() {
	ctx := context.Background()
	if s.src != nil {
		s.src.Close(ctx)
		s.src = nil
	}
	if s.tgt != nil {
		s.tgt.Close(ctx)
		s.tgt = nil
	}
}

func (s *side) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

// request builds the open request. While the credential cannot be had
// for a reason that passes (ErrWait: the secrets backend is sealed or
// unreachable), it waits — holding the side, so every worker of the job
// pauses — and reports the wait; it never gives up on its own.
func (s *side) request(ctx context.Context) (*connector.OpenRequest, error) {
	wait := time.Second
	waiting := false
	defer func() {
		if waiting && s.onWait != nil {
			s.onWait("")
		}
	}()
	for {
		req, err := s.ep.Request(ctx)
		if err == nil || !errors.Is(err, ErrWait) {
			return req, err
		}
		if s.onWait != nil {
			s.onWait(s.red.scrub(err.Error()))
		}
		waiting = true
		if !sleep(ctx, wait) {
			return nil, context.Cause(ctx)
		}
		wait = min(2*wait, 30*time.Second)
	}
}
