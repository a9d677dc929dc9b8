package imapconn_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// BenchmarkCopy copies a folder of small messages from one Dovecot to the
// other the way core does: one listing, then fetch → append with as many
// workers as connections.
func BenchmarkCopy(b *testing.B) {
	for _, tc := range []struct{ n, size int }{{500, 6 << 10}, {200, 128 << 10}} {
		b.Run(fmt.Sprintf("%dx%dKiB", tc.n, tc.size>>10), func(b *testing.B) {
			benchCopy(b, tc.n, tc.size, 4)
		})
	}
}

func benchCopy(b *testing.B, n, size, workers int) {
	testserver.Ensure(b)
	c := imapconn.New(nil, testLogger())
	ctx := b.Context()
	srcReq := &connector.OpenRequest{
		Settings:   settingsFor(testserver.DovecotSrc, "implicit", map[string]any{"max_connections": workers}),
		User:       testserver.User(b, "bench-src"),
		Credential: connector.Credential{Secret: testserver.Password()},
	}
	seed, err := c.OpenTarget(ctx, srcReq)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for i := 0; i < n; i++ {
		m := bigMessage(size/2 + 37*i%size)
		total += int64(len(m))
		if _, err := seed.Append(ctx, "INBOX", &connector.AppendMessage{Size: int64(len(m)), Body: bytes.NewReader(m), InternalDate: time.Now(), Flags: []string{`\Seen`}}); err != nil {
			b.Fatal(err)
		}
	}
	seed.Close(ctx)
	src, err := c.OpenSource(ctx, srcReq)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close(ctx)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dstReq := &connector.OpenRequest{
			Settings:   settingsFor(testserver.DovecotDst, "implicit", map[string]any{"max_connections": workers}),
			User:       testserver.User(b, "bench-dst"),
			Credential: connector.Credential{Secret: testserver.Password()},
		}
		dst, err := c.OpenTarget(ctx, dstReq)
		if err != nil {
			b.Fatal(err)
		}
		work := make(chan connector.Message, 64)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range work {
					body, err := src.Fetch(ctx, "INBOX", m.ID)
					if err == nil {
						_, err = dst.Append(ctx, "INBOX", &connector.AppendMessage{Size: body.Size(), Body: body, InternalDate: m.InternalDate, Flags: m.Flags})
						body.Close()
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			}()
		}
		_, err = src.List(ctx, "INBOX", nil, func(page []connector.Message) error {
			for _, m := range page {
				work <- m
			}
			return nil
		})
		close(work)
		wg.Wait()
		if err != nil || firstErr != nil {
			b.Fatal(err, firstErr)
		}
		dst.Close(ctx)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
