package imapconn_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// Delta listings with CONDSTORE: a folder that did not change costs one
// EXAMINE and no SEARCH or FETCH; flags changed by another client come
// back as FlagsOnly, new messages in full.
func TestDeltaCondstore(t *testing.T) {
	for _, tc := range []struct {
		inst testserver.Instance
		mode string
	}{{testserver.DovecotSrc, "implicit"}, {testserver.DovecotDst, "starttls"}} {
		t.Run(tc.inst.Name, func(t *testing.T) {
			t.Parallel()
			rec, log := newWireRecorder(connector.LevelTrace)
			req := request(t, tc.inst, tc.mode, map[string]any{"page_size": 2})
			raw := rawClient(t, tc.inst, req.User)
			folder := "Delta" + tc.inst.Separator + "Ünter"
			if err := raw.Create(folder, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if _, err := appendRaw(raw, folder, testMessage, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}}); err != nil {
					t.Fatal(err)
				}
			}
			src, err := openSource(t, imapconn.New(nil, log), req)
			if err != nil {
				t.Fatal(err)
			}
			first := list(t, src, folder, nil)
			if len(first.msgs) != 5 {
				t.Fatalf("first listing: %d messages", len(first.msgs))
			}
			// page_size 2: five messages take three UID FETCHes.
			if n := count(rec.commands("source", 0), "UID FETCH"); n != 3 {
				t.Errorf("first listing sent %d UID FETCH, want 3 (pages of 2)", n)
			}

			mark := rec.mark()
			again := list(t, src, folder, first.res.Checkpoint)
			if len(again.msgs) != 0 {
				t.Fatalf("unchanged folder listed %d messages", len(again.msgs))
			}
			cmds := rec.commands("source", mark)
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "EXAMINE") {
				t.Errorf("unchanged folder cost %q, want a single EXAMINE", cmds)
			}
			if string(again.res.Checkpoint) != string(first.res.Checkpoint) {
				t.Errorf("checkpoint moved from %s to %s without a change", first.res.Checkpoint, again.res.Checkpoint)
			}

			// Another client flags message 2 and unflags message 4, then
			// a message arrives.
			if _, err := raw.Select(folder, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := raw.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "$Important"}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := raw.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := appendRaw(raw, folder, testMessage, nil); err != nil {
				t.Fatal(err)
			}
			mark = rec.mark()
			delta := list(t, src, folder, again.res.Checkpoint)
			var got []string
			for _, m := range delta.msgs {
				if m.FlagsOnly {
					f := sorted(m.Flags)
					got = append(got, m.ID+":flags:"+strings.Join(f, ","))
				} else {
					got = append(got, m.ID+":new")
				}
			}
			want := []string{`2:flags:$Important,\Flagged,\Seen`, "4:flags:", "6:new"}
			if !slices.Equal(got, want) {
				t.Errorf("delta listing %q, want %q", got, want)
			}
			for _, c := range rec.commands("source", mark) {
				if strings.HasPrefix(c, "UID FETCH 1") || strings.Contains(c, "UID FETCH 3") || strings.Contains(c, "UID FETCH 5") {
					t.Errorf("delta listing fetched unchanged messages: %s", c)
				}
			}
		})
	}
}

func count(cmds []string, prefix string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
