package testserver

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/corpus"
)

// Append appends m to folder (logical name) on c, logged in to inst, with
// its flags and INTERNALDATE, streaming the body.
func Append(c *imapclient.Client, inst Instance, folder string, m corpus.Message) error {
	name, err := inst.ServerName(folder)
	if err != nil {
		return err
	}
	flags := make([]imap.Flag, len(m.Flags))
	for i, f := range m.Flags {
		flags[i] = imap.Flag(f)
	}
	cmd := c.Append(name, m.Size, &imap.AppendOptions{Flags: flags, Time: m.Date})
	n, err := io.Copy(cmd, m.Open())
	if cerr := cmd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append %s to %q: %w", m.Case, folder, err)
	}
	if n != m.Size {
		return fmt.Errorf("append %s to %q: message yields %d bytes, not its size %d", m.Case, folder, n, m.Size)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("append %s to %q: %w", m.Case, folder, err)
	}
	return nil
}

// Seed creates folder (a logical name: UTF-8, "/" between levels) and its
// parents for user on inst if needed, and appends msgs in order with their
// flags and INTERNALDATEs, over one connection.
func Seed(t testing.TB, inst Instance, user, folder string, msgs []corpus.Message) {
	t.Helper()
	c := Dial(t, inst, user)
	if err := CreateFolder(c, inst, folder); err != nil {
		t.Fatalf("testserver: seed %s on %s: %v", user, inst.Name, err)
	}
	for _, m := range msgs {
		if err := Append(c, inst, folder, m); err != nil {
			t.Fatalf("testserver: seed %s on %s: %v", user, inst.Name, err)
		}
	}
}

// SeedMailbox seeds every folder of mb for user on inst, in order, over
// one connection. Empty folders are created too.
func SeedMailbox(t testing.TB, inst Instance, user string, mb corpus.Mailbox) {
	t.Helper()
	Ensure(t)
	if _, err := SeedParallel(inst, []string{user}, []corpus.Mailbox{mb}, 1, nil); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}

// SeedStats describes a SeedParallel run.
type SeedStats struct {
	Messages int
	Bytes    int64
	Elapsed  time.Duration
}

// SeedParallel seeds mailbox mbs[i] for users[i] on inst, with conns
// connections per user appending in parallel (folders are created first,
// over the first connection). Within a folder the append order, hence the
// UID order, is not the corpus order when conns > 1. progress, if not nil,
// is called after each append with the running totals (from several
// goroutines). It needs no *testing.T, so programs such as the benchmark
// use it.
func SeedParallel(inst Instance, users []string, mbs []corpus.Mailbox, conns int, progress func(msgs int, bytes int64)) (SeedStats, error) {
	if len(users) != len(mbs) {
		return SeedStats{}, fmt.Errorf("seed: %d users but %d mailboxes", len(users), len(mbs))
	}
	conns = max(conns, 1)
	start := time.Now()
	var (
		nMsgs  atomic.Int64
		nBytes atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return first != nil }

	type job struct {
		folder string
		m      corpus.Message
	}
	for u, user := range users {
		mb := mbs[u]
		clients := make([]*imapclient.Client, conns)
		var err error
		for i := range clients {
			if clients[i], err = Login(inst, user); err != nil {
				break
			}
		}
		if err == nil {
			for _, f := range mb {
				if err = CreateFolder(clients[0], inst, f.Name); err != nil {
					err = fmt.Errorf("seed %s on %s: %w", user, inst.Name, err)
					break
				}
			}
		}
		if err != nil {
			for _, c := range clients {
				if c != nil {
					c.Close()
				}
			}
			fail(err)
			break
		}
		jobs := make(chan job)
		go func() {
			defer close(jobs)
			for _, f := range mb {
				for _, m := range f.Messages {
					if failed() {
						return
					}
					jobs <- job{f.Name, m}
				}
			}
		}()
		for _, c := range clients {
			wg.Go(func() {
				defer func() { c.Logout().Wait(); c.Close() }()
				for j := range jobs {
					if failed() {
						continue
					}
					if err := Append(c, inst, j.folder, j.m); err != nil {
						fail(fmt.Errorf("seed %s on %s: %w", user, inst.Name, err))
						continue
					}
					n, b := nMsgs.Add(1), nBytes.Add(j.m.Size)
					if progress != nil {
						progress(int(n), b)
					}
				}
			})
		}
	}
	wg.Wait()
	st := SeedStats{Messages: int(nMsgs.Load()), Bytes: nBytes.Load(), Elapsed: time.Since(start)}
	return st, first
}
