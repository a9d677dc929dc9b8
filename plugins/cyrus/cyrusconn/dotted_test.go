package cyrusconn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/ternmail/tern/internal/corpus"
	"github.com/ternmail/tern/internal/testserver"
	"github.com/ternmail/tern/plugins/cyrus/cyrusconn"
	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// A user whose name holds a ".": with unixhierarchysep: yes (Cyrus) a
// mailbox like any other, migrated in full; with unixhierarchysep: no
// (CyrusDot) Cyrus lists the user none of their own folders, not even
// INBOX, though they exist (checked on the server below, without Tern), so
// the connector refuses to list them rather than pass the mailbox off as
// empty, and the connection test and the user listing say why.
func TestDottedUser(t *testing.T) {
	testserver.Ensure(t)
	msgs := corpus.Hard().Folder("INBOX").Messages[:3]

	t.Run("cyrus", func(t *testing.T) {
		t.Parallel()
		inst, dst := testserver.Cyrus, testserver.DovecotDst
		user := newCyrusUser(t, inst, "jane.doe")
		testserver.Seed(t, inst, user, "INBOX", msgs)
		testserver.Seed(t, inst, user, "Sent", msgs[:1])
		c := cyrusconn.New(testLogger())
		src, err := c.OpenSource(ctxFor(t), adminRequest(inst, user))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close(context.Background())
		dstUser := testserver.User(t, "dotted-dst")
		tgt, err := imapconn.New(nil, testLogger()).OpenTarget(ctxFor(t), &connector.OpenRequest{Settings: settings(dst, false), User: dstUser,
			Credential: connector.Credential{Secret: testserver.Password()}})
		if err != nil {
			t.Fatal(err)
		}
		defer tgt.Close(context.Background())
		var folders []string
		h, err := src.Folders(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range h.Folders {
			folders = append(folders, f.Name)
			name, _ := dst.ServerName(inst.LogicalName(f.Name, '/'))
			if _, err := tgt.EnsureFolder(ctxFor(t), name, f.SpecialUse); err != nil {
				t.Fatal(err)
			}
			var list []connector.Message
			if _, err := src.List(ctxFor(t), f.Name, nil, func(p []connector.Message) error { list = append(list, p...); return nil }); err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				streamOne(t, src, tgt, f.Name, name, m)
			}
		}
		if strings.Join(folders, " ") != "INBOX INBOX/Sent" {
			t.Errorf("folders %q", folders)
		}
		if d := testserver.Compare(testserver.Snapshot(t, inst, user), testserver.Snapshot(t, dst, dstUser), nil); len(d) > 0 {
			t.Fatalf("target differs from source:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("cyrusdot", func(t *testing.T) {
		t.Parallel()
		inst := testserver.CyrusDot
		user := newCyrusUser(t, inst, "jane.doe")
		testserver.Seed(t, inst, user, "INBOX", msgs)
		// The server itself: INBOX holds the messages, yet the user's
		// LIST shows nothing, while the administrator sees the mailbox.
		uc := testserver.Dial(t, inst, user)
		if st, err := uc.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || st.NumMessages == nil || *st.NumMessages != uint32(len(msgs)) {
			t.Fatalf("STATUS INBOX as %s: %+v, %v", user, st, err)
		}
		if l, err := uc.List("", "*", nil).Collect(); err != nil || len(l) != 0 {
			t.Fatalf("Cyrus lists %s's folders after all (%d, %v): the connector's refusal is no longer needed", user, len(l), err)
		}
		mb := refereeMailboxes(t, inst, testserver.CyrusAdmin, testserver.CyrusAdminPassword)
		if !strings.Contains(strings.Join(mb, " "), "user."+strings.ReplaceAll(user, ".", "^")) {
			t.Fatalf("the administrator does not see %s", inst.CyrusMailbox(user))
		}

		c := cyrusconn.New(testLogger())
		src, err := c.OpenSource(ctxFor(t), adminRequest(inst, user))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close(context.Background())
		_, err = src.Folders(ctxFor(t))
		if connector.KindOf(err) != connector.KindPermanent || !strings.Contains(err.Error(), "unixhierarchysep") {
			t.Fatalf("Folders: %v", err)
		}
		t.Logf("Folders: %v", err)

		rep, err := c.TestConnection(ctxFor(t), &connector.TestRequest{Settings: settings(inst, false), SampleUser: user,
			Admin: &connector.AdminCredential{AuthUser: testserver.CyrusAdmin, Secret: testserver.CyrusAdminPassword}})
		if err != nil {
			t.Fatal(err)
		}
		if !has(rep.Notes, "cannot be migrated from this server as it is") {
			t.Errorf("connection test:\n%s", format(rep))
		}
		users, err := listAll(t, c, inst, testserver.CyrusAdmin, testserver.CyrusAdminPassword)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, u := range users {
			if u.Login == user {
				found = true
				if !strings.Contains(u.Note, "unixhierarchysep") {
					t.Errorf("listed without a note: %+v", u)
				}
				t.Logf("listed: %+v", u)
			}
		}
		if !found {
			t.Errorf("%s not listed", user)
		}
	})
}
