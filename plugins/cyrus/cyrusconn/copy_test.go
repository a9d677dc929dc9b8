package cyrusconn_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
)

// The hard corpus, as far as Cyrus takes it (testserver.CyrusAccepts:
// no bare LF, no header without a final line end), goes from each Cyrus
// instance, opened by the proxy administrator with SASL PLAIN authzid, to
// the "/"-separated Dovecot (DovecotDst):
//
//   - direct: in process, the cyrus connector's batch copy (one UID FETCH,
//     one MULTIAPPEND) into a session of the generic IMAP connector;
//   - wire: over the plugin protocol, source and target sessions of the
//     same plugin, so the plugin copies the batch itself (bodies never
//     leave it);
//   - stream: over the plugin protocol, the target in another plugin (the
//     generic IMAP connector's), so CopyTo is unsupported and each body
//     streams through the protocol, Fetch then Append, as core does.
//
// The referee (testserver.Snapshot, Compare) then finds the target equal
// to the source as Cyrus serves it: every message byte for byte (8-bit
// header bytes are 'X' already in the source), with its INTERNALDATE and
// flags, in folders of the same names (non-ASCII ones included); the
// special-use folders keep their attribute.
func TestCopyHardCorpus(t *testing.T) {
	testserver.Ensure(t)
	kept, refused := testserver.CyrusAccepts(corpus.Hard())
	if len(refused) == 0 || kept.Count() == 0 {
		t.Fatalf("CyrusAccepts kept %d and refused %d messages", kept.Count(), len(refused))
	}
	dst := testserver.DovecotDst
	for _, inst := range testserver.Cyruses {
		t.Run(inst.Name, func(t *testing.T) {
			t.Parallel()
			srcUser := newCyrusUser(t, inst, "hard")
			testserver.SeedMailbox(t, inst, srcUser, kept)
			srcSnap := testserver.Snapshot(t, inst, srcUser)
			if srcSnap.Count() != kept.Count() {
				t.Fatalf("source holds %d messages, seeded %d", srcSnap.Count(), kept.Count())
			}
			t.Logf("%s: %d messages (%d bytes) in %d folders; %d messages of the hard corpus Cyrus refuses", inst.Name, srcSnap.Count(), srcSnap.Bytes(), len(srcSnap), len(refused))
			for _, via := range []string{"direct", "wire", "stream"} {
				t.Run(via, func(t *testing.T) {
					t.Parallel()
					var srcConn, dstConn connector.Connector = cyrusconn.New(testLogger()), imapconn.New(imapconn.Generic, testLogger())
					switch via {
					case "wire":
						srcConn = connectortest.Pipe(t, srcConn)
						dstConn = srcConn
					case "stream":
						srcConn, dstConn = connectortest.Pipe(t, srcConn), connectortest.Pipe(t, dstConn)
					}
					src, err := srcConn.OpenSource(ctxFor(t), adminRequest(inst, srcUser))
					if err != nil {
						t.Fatal(err)
					}
					defer src.Close(context.Background())
					dstUser := testserver.User(t, "cyrus-hard-dst")
					tgt, err := dstConn.OpenTarget(ctxFor(t), &connector.OpenRequest{Settings: settings(dst, false), User: dstUser,
						Credential: connector.Credential{Mode: connector.ModePassword, Secret: testserver.Password()}})
					if err != nil {
						t.Fatal(err)
					}
					defer tgt.Close(context.Background())
					copied, streamed := copyMailbox(t, inst, src, tgt, dst)
					if copied != kept.Count() {
						t.Fatalf("copied %d messages of %d", copied, kept.Count())
					}
					if (via == "stream") != (streamed == copied) || (via != "stream" && streamed != 0) {
						t.Errorf("%s: %d of %d messages streamed one by one", via, streamed, copied)
					}
					dstSnap := testserver.Snapshot(t, dst, dstUser)
					if d := testserver.Compare(srcSnap, dstSnap, nil); len(d) > 0 {
						t.Fatalf("target differs from source:\n%s", strings.Join(d, "\n"))
					}
					for _, f := range kept {
						if f.SpecialUse == "" {
							continue
						}
						if df := dstSnap.Folder(f.Name); df == nil || !slices.Contains(df.Attrs, f.SpecialUse) {
							t.Errorf("target folder %q lacks %s", f.Name, f.SpecialUse)
						}
					}
				})
			}
		})
	}
}

// copyMailbox copies every folder of src into tgt, in batches of 8 with
// CopyTo, or message by message (Fetch, Append) where CopyTo cannot reach
// tgt; it checks the source's hierarchy on the way.
func copyMailbox(t *testing.T, inst testserver.Instance, src connector.Source, tgt connector.Target, dst testserver.Instance) (copied, streamed int) {
	t.Helper()
	ctx := ctxFor(t)
	h, err := src.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Prefix != inst.Prefix || h.Delimiter != inst.Separator {
		t.Fatalf("source hierarchy: prefix %q, delimiter %q", h.Prefix, h.Delimiter)
	}
	hard := corpus.Hard()
	for _, f := range h.Folders {
		if f.NoSelect {
			continue
		}
		logical := inst.LogicalName(f.Name, rune(h.Delimiter[0]))
		cf := hard.Folder(logical)
		if cf == nil {
			t.Fatalf("source folder %q (%q) is not in the corpus", f.Name, logical)
		}
		if f.SpecialUse != cf.SpecialUse {
			t.Errorf("source folder %q: special use %q, want %q", f.Name, f.SpecialUse, cf.SpecialUse)
		}
		dstName, err := dst.ServerName(logical)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tgt.EnsureFolder(ctx, dstName, f.SpecialUse); err != nil {
			t.Fatal(err)
		}
		var msgs []connector.Message
		if _, err := src.List(ctx, f.Name, nil, func(p []connector.Message) error { msgs = append(msgs, p...); return nil }); err != nil {
			t.Fatal(err)
		}
		for start := 0; start < len(msgs); start += 8 {
			batch := msgs[start:min(start+8, len(msgs))]
			items := make([]connector.CopyItem, len(batch))
			for i, m := range batch {
				items[i] = connector.CopyItem{ID: m.ID, InternalDate: m.InternalDate, Flags: m.Flags, MessageID: m.MessageID, Fingerprint: m.Fingerprint}
			}
			outs, err := src.(connector.SourceCopier).CopyTo(ctx, f.Name, items, tgt, dstName)
			if errors.Is(err, connector.ErrUnsupported) {
				for _, m := range batch {
					streamOne(t, src, tgt, f.Name, dstName, m)
				}
				copied += len(batch)
				streamed += len(batch)
				continue
			}
			if err != nil {
				t.Fatalf("CopyTo %q: %v", f.Name, err)
			}
			for i, o := range outs {
				if o.Err != nil {
					t.Fatalf("CopyTo %q item %d: %v", f.Name, i, o.Err)
				}
			}
			copied += len(outs)
		}
	}
	return copied, streamed
}

// streamOne copies one message through the caller: Fetch, then Append.
func streamOne(t *testing.T, src connector.Source, tgt connector.Target, folder, dstFolder string, m connector.Message) {
	t.Helper()
	ctx := ctxFor(t)
	body, err := src.Fetch(ctx, folder, m.ID)
	if err != nil {
		t.Fatalf("Fetch %s/%s: %v", folder, m.ID, err)
	}
	defer body.Close()
	if body.Size() != m.Size {
		t.Fatalf("Fetch %s/%s: size %d, listed %d", folder, m.ID, body.Size(), m.Size)
	}
	if _, err := tgt.Append(ctx, dstFolder, &connector.AppendMessage{Size: m.Size, Body: body, InternalDate: m.InternalDate, Flags: m.Flags,
		MessageID: m.MessageID, Fingerprint: m.Fingerprint}); err != nil {
		t.Fatalf("Append %s/%s: %v", dstFolder, m.ID, err)
	}
}
