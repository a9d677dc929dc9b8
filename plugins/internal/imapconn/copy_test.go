package imapconn_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
	"github.com/ternmail/tern/sdk/connectortest"
	"github.com/ternmail/tern/sdk/memconnector"
)

// copyPair is a source session on DovecotSrc and a target session on
// DovecotDst of one connector (in process, or through the plugin
// protocol), for fresh users unless given.
type copyPair struct {
	srcUser, dstUser string
	src              connector.Source
	tgt              connector.Target
}

func (p *copyPair) copier(t *testing.T) connector.SourceCopier {
	t.Helper()
	cp, ok := p.src.(connector.SourceCopier)
	if !ok {
		t.Fatal("the source session is no SourceCopier")
	}
	return cp
}

func openPair(t *testing.T, c connector.Connector, srcReq, dstReq *connector.OpenRequest) *copyPair {
	t.Helper()
	p := &copyPair{srcUser: srcReq.User, dstUser: dstReq.User}
	var err error
	if p.src, err = c.OpenSource(ctxFor(t), srcReq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.src.Close(context.Background()) })
	if p.tgt, err = c.OpenTarget(ctxFor(t), dstReq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.tgt.Close(context.Background()) })
	return p
}

// itemsOf turns listed messages into copy items.
func itemsOf(msgs []connector.Message) []connector.CopyItem {
	out := make([]connector.CopyItem, len(msgs))
	for i, m := range msgs {
		out[i] = connector.CopyItem{ID: m.ID, InternalDate: m.InternalDate, Flags: m.Flags, MessageID: m.MessageID, Fingerprint: m.Fingerprint}
	}
	return out
}

// uidSums returns the SHA-256 of every message of folder (a server name)
// by UID, as the server serves it (via go-imap, the referee).
func uidSums(t *testing.T, inst testserver.Instance, user, folder string) map[string]string {
	t.Helper()
	c := rawClient(t, inst, user)
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %q: %v", folder, err)
	}
	cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	out := make(map[string]string)
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		var uid imap.UID
		for item := m.Next(); item != nil; item = m.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				h := sha256.New()
				io.Copy(h, it.Literal)
				out[itoa(int(uid))] = fmt.Sprintf("%x", h.Sum(nil))
			}
		}
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("fetch %q: %v", folder, err)
	}
	return out
}

// seedSource appends msgs to folder of user on DovecotSrc (through the
// connector's target, which is tested elsewhere) and lists them.
func seedSource(t *testing.T, user, folder string, msgs ...[]byte) []connector.Message {
	t.Helper()
	req := request(t, testserver.DovecotSrc, "implicit", nil)
	req.User = user
	c := imapconn.New(nil, testLogger())
	tgt, err := c.OpenTarget(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctxFor(t))
	if _, err := tgt.EnsureFolder(ctxFor(t), folder, ""); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2021, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600))
	for i, m := range msgs {
		flags := []string{`\Seen`}
		if i%2 == 1 {
			flags = []string{`\Flagged`, "$Forwarded"}
		}
		if _, err := tgt.Append(ctxFor(t), folder, &connector.AppendMessage{Size: int64(len(m)), Body: bytes.NewReader(m), InternalDate: date.Add(time.Duration(i) * time.Hour), Flags: flags}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := c.OpenSource(ctxFor(t), req)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctxFor(t))
	return list(t, src, folder, nil).msgs
}

func numbered(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		m := bigMessage(size + 37*i)
		copy(m[len("From: big@example.org\r\nSubject: "):], fmt.Sprintf("%03d", i))
		out[i] = m
	}
	return out
}

// checkStored fails unless every outcome is a success whose Ref is a
// message on the target with the source message's bytes.
func checkStored(t *testing.T, p *copyPair, srcFolder, dstFolder string, items []connector.CopyItem, outs []connector.CopyOutcome, sizes map[string]int64) {
	t.Helper()
	srcSums := uidSums(t, testserver.DovecotSrc, p.srcUser, srcFolder)
	dstSums := uidSums(t, testserver.DovecotDst, p.dstUser, dstFolder)
	refs := map[string]bool{}
	for i, o := range outs {
		if o.Err != nil || o.Result == nil {
			t.Fatalf("item %d (%s): %+v", i, items[i].ID, o)
		}
		if sizes != nil && o.Size != sizes[items[i].ID] {
			t.Errorf("item %d: Size %d, listed %d", i, o.Size, sizes[items[i].ID])
		}
		ref := o.Result.Ref
		if ref == "" || refs[ref] {
			t.Fatalf("item %d: ref %q (empty or twice)", i, ref)
		}
		refs[ref] = true
		if dstSums[ref] == "" || dstSums[ref] != srcSums[items[i].ID] {
			t.Errorf("item %d: target message %s is not source message %s", i, ref, items[i].ID)
		}
	}
}

// The hard corpus goes from the "." Dovecot to the "/" Dovecot in
// batches, in process and through the plugin protocol (where the server's
// Copy reaches CopyTo): byte for byte, with INTERNALDATE and flags, the
// 25 MiB message inside a batch, identical twins both stored, and each
// Ref the APPENDUID of its message.
func TestCopyHardCorpus(t *testing.T) {
	testserver.Ensure(t)
	mb := corpus.Hard()
	srcUser := testserver.User(t, "copy-hard")
	testserver.SeedMailbox(t, testserver.DovecotSrc, srcUser, mb)
	srcSnap := testserver.Snapshot(t, testserver.DovecotSrc, srcUser)
	for _, via := range []string{"direct", "wire"} {
		t.Run(via, func(t *testing.T) {
			var c connector.Connector = imapconn.New(nil, testLogger())
			if via == "wire" {
				c = connectortest.Pipe(t, c)
			}
			srcReq := request(t, testserver.DovecotSrc, "implicit", nil)
			srcReq.User = srcUser
			p := openPair(t, c, srcReq, request(t, testserver.DovecotDst, "starttls", nil))
			h, err := p.src.Folders(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			batches := 0
			for _, f := range h.Folders {
				if f.NoSelect {
					continue
				}
				dstName, err := testserver.DovecotDst.ServerName(testserver.LogicalName(f.Name, rune(h.Delimiter[0])))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.tgt.EnsureFolder(ctxFor(t), dstName, f.SpecialUse); err != nil {
					t.Fatal(err)
				}
				msgs := list(t, p.src, f.Name, nil).msgs
				sizes := map[string]int64{}
				for _, m := range msgs {
					sizes[m.ID] = m.Size
				}
				items := itemsOf(msgs)
				var all []connector.CopyOutcome
				for len(items[len(all):]) > 0 {
					batch := items[len(all):][:min(7, len(items)-len(all))]
					outs, err := p.copier(t).CopyTo(ctxFor(t), f.Name, batch, p.tgt, dstName)
					if err != nil || len(outs) != len(batch) {
						t.Fatalf("CopyTo %q: %d outcomes for %d items, %v", f.Name, len(outs), len(batch), err)
					}
					all = append(all, outs...)
					batches++
				}
				if len(msgs) > 0 {
					checkStored(t, p, f.Name, dstName, items, all, sizes)
				}
			}
			if batches < 10 {
				t.Fatalf("only %d batches", batches)
			}
			dstSnap := testserver.Snapshot(t, testserver.DovecotDst, p.dstUser)
			if d := testserver.Compare(srcSnap, dstSnap, nil); len(d) > 0 {
				t.Fatalf("target differs from source:\n%s", strings.Join(d, "\n"))
			}
			twins := func(mb testserver.Mailbox) int {
				n := 0
				recs := mb.Folder("INBOX").Messages
				for i := 1; i < len(recs); i++ {
					if recs[i].SHA256 == recs[i-1].SHA256 {
						n++
					}
				}
				return n
			}
			if twins(srcSnap) == 0 || twins(dstSnap) != twins(srcSnap) {
				t.Fatalf("identical twins: %d in the source INBOX, %d in the target's", twins(srcSnap), twins(dstSnap))
			}
			large := dstSnap.Folder("Archive")
			if large == nil || slices.IndexFunc(large.Messages, func(r testserver.Record) bool { return r.Size == corpus.LargeSize }) < 0 {
				t.Fatal("the 25 MiB message is not in the target's Archive")
			}
		})
	}
}

// clientCommands returns the tagged commands the client sent since mark
// (continuation lines of a command left out), from role's connections.
func clientCommands(rec *wireRecorder, role string, mark int) []string {
	var out []string
	for _, c := range rec.commands(role, mark) {
		if c != "" && c[0] >= 'A' && c[0] <= 'Z' {
			out = append(out, c)
		}
	}
	return out
}

// A batch of N messages costs one UID FETCH on the source and one APPEND
// (MULTIAPPEND, non-synchronizing literals) on the target, nothing else
// once the connections are warm.
func TestCopyCommands(t *testing.T) {
	rec, log := newWireRecorder(connector.LevelTrace)
	c := imapconn.New(nil, log)
	p := openPair(t, c, request(t, testserver.DovecotSrc, "implicit", nil), request(t, testserver.DovecotDst, "implicit", nil))
	msgs := seedSource(t, p.srcUser, "INBOX", numbered(30, 3000)...)
	items := itemsOf(msgs)
	if _, err := p.tgt.EnsureFolder(ctxFor(t), "Copied", ""); err != nil {
		t.Fatal(err)
	}
	// Warm up: connections, EXAMINE, SELECT.
	if _, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:2], p.tgt, "Copied"); err != nil {
		t.Fatal(err)
	}
	mark := rec.mark()
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items[2:], p.tgt, "Copied")
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, p, "INBOX", "Copied", items[2:], outs, nil)
	src, dst := clientCommands(rec, "source", mark), clientCommands(rec, "target", mark)
	if len(src) != 1 || !strings.HasPrefix(src[0], "UID FETCH ") || !strings.Contains(src[0], "BODY.PEEK[]") {
		t.Errorf("source commands for a batch of 28: %q, want one UID FETCH", src)
	}
	if len(dst) != 1 || !strings.HasPrefix(dst[0], `APPEND "Copied" (`) || !strings.HasSuffix(dst[0], "+}") {
		t.Errorf("target commands for a batch of 28: %q, want one APPEND with LITERAL+", dst)
	}
	literals := 0
	for _, l := range rec.commands("target", mark) {
		if strings.HasSuffix(l, "+}") {
			literals++
		}
	}
	if literals != 28 {
		t.Errorf("%d literals in the APPEND, want 28", literals)
	}
}

// Messages the source does not have get source errors (ErrNotFound); the
// others are stored, in item order.
func TestCopyMissing(t *testing.T) {
	rec, log := newWireRecorder(connector.LevelTrace)
	p := openPair(t, imapconn.New(nil, log), request(t, testserver.DovecotSrc, "implicit", nil), request(t, testserver.DovecotDst, "implicit", nil))
	msgs := seedSource(t, p.srcUser, "INBOX", numbered(3, 2000)...)
	items := itemsOf(msgs)
	items = []connector.CopyItem{items[2], {ID: "999999"}, items[0], {ID: "not-a-uid"}, items[1], {ID: msgs[0].ID}}
	mark := rec.mark()
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
	if err != nil || len(outs) != len(items) {
		t.Fatalf("CopyTo: %d outcomes, %v", len(outs), err)
	}
	for _, i := range []int{1, 3} {
		var ce *connector.CopyError
		if !errors.As(outs[i].Err, &ce) || !ce.Source || !errors.Is(outs[i].Err, connector.ErrNotFound) || outs[i].Result != nil {
			t.Errorf("item %d (%s): %+v, want a source ErrNotFound", i, items[i].ID, outs[i])
		}
	}
	var ce *connector.CopyError
	if !errors.As(outs[5].Err, &ce) || !ce.Source || !errors.Is(outs[5].Err, connector.ErrInvalid) {
		t.Errorf("a message twice in the batch: %+v", outs[5])
	}
	checkStored(t, p, "INBOX", "INBOX", []connector.CopyItem{items[0], items[2], items[4]}, []connector.CopyOutcome{outs[0], outs[2], outs[4]}, nil)
	if n := len(uidSums(t, testserver.DovecotDst, p.dstUser, "INBOX")); n != 3 {
		t.Errorf("target holds %d messages, want 3", n)
	}
	// One FETCH, one NOOP and one FETCH of what was missing.
	if cmds := clientCommands(rec, "source", mark); len(cmds) != 4 || count(cmds, "UID FETCH") != 2 || count(cmds, "NOOP") != 1 {
		t.Errorf("source commands: %q", cmds)
	}
}

// A target folder that does not exist: every item gets the target's
// refusal (ErrNotFound, so core creates the folder), nothing is fetched
// or stored. A folder deleted under a selected MULTIAPPEND connection:
// the refused MULTIAPPEND stores nothing, and the next batch sees the
// folder missing; once recreated, copies work again.
func TestCopyRefused(t *testing.T) {
	for _, mode := range []string{"literal+", "synchronizing"} {
		t.Run(mode, func(t *testing.T) {
			rec, log := newWireRecorder(connector.LevelTrace)
			dstReq := request(t, testserver.DovecotDst, "implicit", nil)
			if mode == "synchronizing" {
				rp := newRewriteProxy(t, testserver.DovecotDst.Addr(), func(line string) string {
					return strings.ReplaceAll(line, " LITERAL+", "")
				})
				dstReq = request(t, testserver.DovecotDst, "none", map[string]any{"port": rp.port()})
			}
			p := openPair(t, imapconn.New(nil, log), request(t, testserver.DovecotSrc, "implicit", nil), dstReq)
			msgs := seedSource(t, p.srcUser, "INBOX", numbered(6, 9000)...)
			items := itemsOf(msgs)
			refused := func(step string, outs []connector.CopyOutcome, err error, want error) {
				t.Helper()
				if err != nil || len(outs) != 2 {
					t.Fatalf("%s: %d outcomes, %v", step, len(outs), err)
				}
				for i, o := range outs {
					var ce *connector.CopyError
					if !errors.As(o.Err, &ce) || ce.Source || o.Result != nil || (want != nil && !errors.Is(o.Err, want)) {
						t.Fatalf("%s: item %d: %+v, want a target error %v", step, i, o, want)
					}
				}
			}

			mark := rec.mark()
			outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:2], p.tgt, "Nowhere")
			refused("missing folder", outs, err, connector.ErrNotFound)
			if cmds := clientCommands(rec, "source", mark); len(cmds) != 0 {
				t.Errorf("the source was asked %q for a refused folder", cmds)
			}

			if _, err := p.tgt.EnsureFolder(ctxFor(t), "Gone", ""); err != nil {
				t.Fatal(err)
			}
			outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:2], p.tgt, "Gone")
			checkStored(t, p, "INBOX", "Gone", items[:2], outs, nil)
			raw := rawClient(t, testserver.DovecotDst, p.dstUser)
			if err := raw.Delete("Gone").Wait(); err != nil {
				t.Fatal(err)
			}
			// With LITERAL+ the refusal comes at the end, after the whole
			// FETCH, and a message the source lacks is the source's error;
			// with synchronizing literals it comes instead of the first
			// go-ahead, the FETCH is abandoned, and every message gets it.
			withMissing := append(slices.Clone(items[2:4]), connector.CopyItem{ID: "999999"})
			outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", withMissing, p.tgt, "Gone")
			if len(outs) == 3 {
				var ce *connector.CopyError
				if !errors.As(outs[2].Err, &ce) || ce.Source != (mode == "literal+") {
					t.Errorf("a message missing from a refused batch: %+v", outs[2])
				}
				outs = outs[:2]
			}
			refused("folder deleted under the connection", outs, err, nil)
			outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items[2:4], p.tgt, "Gone")
			refused("folder gone", outs, err, connector.ErrNotFound)
			if _, err := p.tgt.EnsureFolder(ctxFor(t), "Gone", ""); err != nil {
				t.Fatal(err)
			}
			outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items[4:], p.tgt, "Gone")
			checkStored(t, p, "INBOX", "Gone", items[4:], outs, nil)
			if n := len(uidSums(t, testserver.DovecotDst, p.dstUser, "Gone")); n != 2 {
				t.Fatalf("the recreated folder holds %d messages, want the last batch's 2", n)
			}
			if mode == "synchronizing" && !strings.Contains(rec.String(), "{9") || strings.Contains(rec.String(), "+}") == (mode == "synchronizing") {
				t.Errorf("literal forms do not match %s", mode)
			}
		})
	}
}

// The flags of a copy are filtered like Append's (keywords only where
// PERMANENTFLAGS lists \*, never \Recent; DroppedFlags per message), and
// a message over the server's APPENDLIMIT is left out of the batch as
// ErrTooLarge.
func TestCopyFlagsAndAppendLimit(t *testing.T) {
	rp := newRewriteProxy(t, testserver.DovecotDst.Addr(), func(line string) string {
		if strings.Contains(line, "CAPABILITY") {
			line = strings.Replace(line, "IMAP4rev1", "IMAP4rev1 APPENDLIMIT=20000", 1)
		}
		return strings.Replace(line, ` \*)]`, ")]", 1)
	})
	p := openPair(t, imapconn.New(nil, testLogger()), request(t, testserver.DovecotSrc, "implicit", nil),
		request(t, testserver.DovecotDst, "none", map[string]any{"port": rp.port()}))
	msgs := seedSource(t, p.srcUser, "INBOX", bigMessage(3000), bigMessage(30000), bigMessage(5000))
	items := itemsOf(msgs)
	items[0].Flags = []string{`\Seen`, "$Forwarded", `\Recent`, "Work"}
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var ce *connector.CopyError
	if !errors.As(outs[1].Err, &ce) || ce.Source || !errors.Is(outs[1].Err, connector.ErrTooLarge) || !strings.Contains(outs[1].Err.Error(), "APPENDLIMIT") {
		t.Fatalf("a message over APPENDLIMIT: %+v", outs[1])
	}
	checkStored(t, p, "INBOX", "INBOX", []connector.CopyItem{items[0], items[2]}, []connector.CopyOutcome{outs[0], outs[2]}, nil)
	if got := sorted(outs[0].Result.DroppedFlags); !slices.Equal(got, []string{"$Forwarded", "Work", `\Recent`}) {
		t.Errorf("DroppedFlags = %q", got)
	}
	raw := rawClient(t, testserver.DovecotDst, p.dstUser)
	if _, err := raw.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := raw.Fetch(imap.UIDSetNum(imap.UID(atoi(outs[0].Result.Ref))), &imap.FetchOptions{Flags: true, InternalDate: true}).Collect()
	if err != nil || len(got) != 1 {
		t.Fatalf("fetch: %v", err)
	}
	if len(got[0].Flags) != 1 || !hasFlag(got[0].Flags, `\Seen`) || !got[0].InternalDate.Equal(items[0].InternalDate) {
		t.Errorf("stored flags %q, date %v", got[0].Flags, got[0].InternalDate)
	}
}

// A session to a server without MULTIAPPEND (go-imap's imapmemserver, or
// Dovecot with the capability hidden), or a target of another connector:
// ErrUnsupported and nothing happens. Through the plugin protocol the SDK
// then copies message by message itself.
func TestCopyUnsupported(t *testing.T) {
	rec, log := newWireRecorder(connector.LevelTrace)
	c := imapconn.New(nil, log)
	srcReq := request(t, testserver.DovecotSrc, "implicit", nil)
	src, err := openSource(t, c, srcReq)
	if err != nil {
		t.Fatal(err)
	}
	msgs := seedSource(t, srcReq.User, "INBOX", numbered(2, 1000)...)
	items := itemsOf(msgs)

	ms := newMemServer(t, nil)
	memTgt, err := c.OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer memTgt.Close(ctxFor(t))
	rp := newRewriteProxy(t, testserver.DovecotDst.Addr(), func(line string) string {
		return strings.ReplaceAll(line, " MULTIAPPEND", "")
	})
	noMulti, err := c.OpenTarget(ctxFor(t), request(t, testserver.DovecotDst, "none", map[string]any{"port": rp.port()}))
	if err != nil {
		t.Fatal(err)
	}
	defer noMulti.Close(ctxFor(t))
	mem := memconnector.New(nil)
	mem.AddUser("bob", "pw")
	other, err := mem.OpenTarget(ctxFor(t), &connector.OpenRequest{User: "bob", Credential: connector.Credential{Secret: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	mark := rec.mark()
	for name, tgt := range map[string]connector.Target{"imapmemserver": memTgt, "dovecot without MULTIAPPEND": noMulti, "memconnector": other} {
		outs, err := src.(connector.SourceCopier).CopyTo(ctxFor(t), "INBOX", items, tgt, "INBOX")
		if !errors.Is(err, connector.ErrUnsupported) || outs != nil {
			t.Errorf("%s: %v, %d outcomes; want ErrUnsupported", name, err, len(outs))
		}
	}
	if cmds := rec.commands("", mark); len(cmds) != 0 {
		t.Errorf("commands sent: %q", cmds)
	}
	if sd, err := ms.client(t).Select("INBOX", nil).Wait(); err != nil || sd.NumMessages != 0 {
		t.Errorf("imapmemserver holds %v messages (%v)", sd, err)
	}

	// Over the wire, the SDK falls back to Fetch → Append.
	pc := connectortest.Pipe(t, imapconn.New(nil, testLogger()))
	psrc, err := pc.OpenSource(ctxFor(t), srcReq)
	if err != nil {
		t.Fatal(err)
	}
	defer psrc.Close(ctxFor(t))
	ptgt, err := pc.OpenTarget(ctxFor(t), ms.request(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ptgt.Close(ctxFor(t))
	outs, err := psrc.(connector.SourceCopier).CopyTo(ctxFor(t), "INBOX", items, ptgt, "INBOX")
	if err != nil || len(outs) != 2 || outs[0].Err != nil || outs[1].Err != nil {
		t.Fatalf("CopyTo over the wire to imapmemserver: %+v, %v", outs, err)
	}
}

// Through the plugin protocol, the outcomes keep their sides and kinds.
func TestCopyOverTheWireOutcomes(t *testing.T) {
	pc := connectortest.Pipe(t, imapconn.New(nil, testLogger()))
	p := openPair(t, pc, request(t, testserver.DovecotSrc, "implicit", nil), request(t, testserver.DovecotDst, "implicit", nil))
	msgs := seedSource(t, p.srcUser, "INBOX", numbered(2, 1500)...)
	items := append(itemsOf(msgs), connector.CopyItem{ID: "4242"})
	outs, err := p.copier(t).CopyTo(ctxFor(t), "INBOX", items, p.tgt, "INBOX")
	if err != nil || len(outs) != 3 {
		t.Fatalf("CopyTo: %d outcomes, %v", len(outs), err)
	}
	var ce *connector.CopyError
	if !errors.As(outs[2].Err, &ce) || !ce.Source || !errors.Is(outs[2].Err, connector.ErrNotFound) {
		t.Errorf("missing message over the wire: %+v", outs[2])
	}
	checkStored(t, p, "INBOX", "INBOX", items[:2], outs[:2], map[string]int64{msgs[0].ID: msgs[0].Size, msgs[1].ID: msgs[1].Size})
	outs, err = p.copier(t).CopyTo(ctxFor(t), "INBOX", items[:2], p.tgt, "Nowhere")
	if err != nil || len(outs) != 2 {
		t.Fatalf("CopyTo to a missing folder: %d outcomes, %v", len(outs), err)
	}
	for i, o := range outs {
		if !errors.As(o.Err, &ce) || ce.Source || !errors.Is(o.Err, connector.ErrNotFound) {
			t.Errorf("item %d to a missing folder over the wire: %+v", i, o)
		}
	}
}
