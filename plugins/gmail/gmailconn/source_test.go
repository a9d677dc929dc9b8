package gmailconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ternmail/tern/plugins/gmail/gmailconn"
	"github.com/ternmail/tern/plugins/gmail/gmailtest"
	"github.com/ternmail/tern/sdk/connector"
)

func listFolder(t *testing.T, src connector.Source, folder string, since connector.Checkpoint) ([]connector.Message, *connector.ListResult) {
	t.Helper()
	var out []connector.Message
	res, err := src.List(context.Background(), folder, &connector.ListQuery{Since: since, PageSize: 2}, func(p []connector.Message) error {
		out = append(out, p...)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", folder, err)
	}
	return out, res
}

// Every message is listed once across the folders, in its primary
// folder; with list_in_every_label, in each of its labels.
func TestSourceListsOnce(t *testing.T) {
	e := newEnv(t)
	user := e.user("src")
	work := e.srv.CreateLabel(user, "Work")
	personal := e.srv.CreateLabel(user, "Personal")
	seed := func(id string, labels ...string) string {
		return e.srv.SeedMessage(user, message(id, "Tue, 1 Mar 2016 10:30:00 +0000", id), labels...).ID
	}
	want := map[string]string{
		seed("inbox-work", "INBOX", work, "UNREAD"):      "INBOX",
		seed("work-personal", personal, work, "STARRED"): "Personal",
		seed("archived"):                                  "Archive",
		seed("trash-work", "TRASH", work):                 "TRASH",
		seed("sent", "SENT"):                              "SENT",
		seed("spam", "SPAM", "INBOX"):                     "SPAM",
		seed("important", "IMPORTANT", "CATEGORY_SOCIAL"): "Archive",
	}
	src := e.source(t, user, nil)
	h, err := src.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range h.Folders {
		msgs, res := listFolder(t, src, f.Name, nil)
		if res.Validity == "" || len(res.Checkpoint) == 0 {
			t.Errorf("folder %q: result %+v", f.Name, res)
		}
		for _, m := range msgs {
			if prev, dup := got[m.ID]; dup {
				t.Errorf("message %s listed in %q and %q", m.ID, prev, f.Name)
			}
			got[m.ID] = f.Name
		}
	}
	for id, folder := range want {
		if got[id] != folder {
			t.Errorf("message %s listed in %q, want %q", id, got[id], folder)
		}
	}
	msgs, _ := listFolder(t, src, "INBOX", nil)
	if len(msgs) != 1 || slices.Contains(msgs[0].Flags, connector.FlagSeen) {
		t.Errorf("INBOX: %+v", msgs)
	}
	msgs, _ = listFolder(t, src, "Personal", nil)
	if len(msgs) != 1 || !slices.Contains(msgs[0].Flags, connector.FlagFlagged) || !slices.Contains(msgs[0].Flags, connector.FlagSeen) {
		t.Errorf("Personal: %+v", msgs)
	}

	all := e.source(t, user, map[string]any{"list_in_every_label": true})
	msgs, _ = listFolder(t, all, "Work", nil)
	if len(msgs) != 3 {
		t.Errorf("Work lists %d messages with list_in_every_label, want 3", len(msgs))
	}

	if _, err := src.Status(context.Background(), "Nope"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Status of a missing label: %v", err)
	}
	if _, err := src.Fetch(context.Background(), "INBOX", "not-an-id"); !errors.Is(err, connector.ErrNotFound) {
		t.Errorf("Fetch of a missing message: %v", err)
	}
}

// Delta listings follow history.list: new messages, messages that
// moved into the folder, flag changes; an expired history lists all.
func TestSourceDelta(t *testing.T) {
	e := newEnv(t)
	user := e.user("delta")
	seed := func(id string, labels ...string) string {
		return e.srv.SeedMessage(user, message(id, "Tue, 1 Mar 2016 10:30:00 +0000", id), labels...).ID
	}
	a := seed("a", "INBOX", "UNREAD")
	seed("b", "INBOX")
	archived := seed("c")
	src := e.source(t, user, nil)
	tg := e.target(t, user, nil)
	first, res := listFolder(t, src, "INBOX", nil)
	if len(first) != 2 {
		t.Fatalf("first listing: %+v", first)
	}
	d := seed("d", "INBOX")
	if _, err := tg.(connector.TargetFlagSync).SetFlags(context.Background(), "INBOX", a, []string{`\Seen`}); err != nil {
		t.Fatal(err)
	}
	// Moving an archived message to the inbox (a label added).
	if _, err := e.srv.HTTPClient(user, gmailtest.ScopeGmailModify).Post(e.srv.URL()+"/gmail/v1/users/me/messages/"+archived+"/modify", "application/json", strings.NewReader(`{"addLabelIds":["INBOX"]}`)); err != nil {
		t.Fatal(err)
	}
	delta, res2 := listFolder(t, src, "INBOX", res.Checkpoint)
	var full, flags []string
	for _, m := range delta {
		if m.FlagsOnly {
			flags = append(flags, fmt.Sprint(m.ID, m.Flags))
		} else {
			full = append(full, m.ID)
		}
	}
	if !slices.Equal(full, []string{archived, d}) || !slices.Equal(flags, []string{fmt.Sprint(a, []string{`\Seen`})}) {
		t.Errorf("delta: new %q, flags %q", full, flags)
	}
	again, _ := listFolder(t, src, "INBOX", res2.Checkpoint)
	if len(again) != 0 {
		t.Errorf("delta since an up-to-date checkpoint: %+v", again)
	}
	seed("e", "INBOX")
	e.srv.ExpireHistory(user)
	all, _ := listFolder(t, src, "INBOX", res2.Checkpoint)
	if len(all) != 5 {
		t.Errorf("after the history expired: %d messages, want all 5", len(all))
	}
	b, err := src.Fetch(context.Background(), "INBOX", d)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(b)
	size := b.Size()
	b.Close()
	if string(data) != string(e.srv.RawMessage(user, d)) || size != int64(len(data)) {
		t.Errorf("fetched %q", data)
	}
}

// users.list pages of 500; suspended users are left out, archived ones
// and users without a mailbox are noted.
func TestListUsers(t *testing.T) {
	e := newEnv(t)
	e.srv.AddUser("admin@example.com", gmailtest.Admin())
	for i := 0; i < 1100; i++ {
		e.srv.AddUser(fmt.Sprintf("user%04d@example.com", i))
	}
	e.srv.AddUser("gone@example.com", gmailtest.Suspended())
	e.srv.AddUser("old@example.com", gmailtest.Archived())
	e.srv.AddUser("new@example.com", gmailtest.NoMailbox())
	var users []connector.User
	pages := 0
	err := e.conn.ListUsers(context.Background(), &connector.ListUsersRequest{
		Settings: e.settings(map[string]any{"admin_email": "admin@example.com"}),
		Admin:    connector.AdminCredential{Secret: string(e.sa.KeyJSON())},
	}, func(p []connector.User) error {
		pages++
		users = append(users, p...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1103 || pages != 3 {
		t.Fatalf("%d users in %d pages, want 1103 in 3", len(users), pages)
	}
	notes := map[string]string{}
	for _, u := range users {
		notes[u.Login] = u.Note
		if u.Login == "gone@example.com" {
			t.Errorf("suspended user listed")
		}
	}
	if notes["old@example.com"] != "archived user" || notes["new@example.com"] != "mailbox not set up yet" || notes["user0001@example.com"] != "" {
		t.Errorf("notes: %q %q", notes["old@example.com"], notes["new@example.com"])
	}
	// Without an administrator to impersonate: a clear settings error.
	err = e.conn.ListUsers(context.Background(), &connector.ListUsersRequest{Settings: e.settings(nil), Admin: connector.AdminCredential{Secret: string(e.sa.KeyJSON())}}, func([]connector.User) error { return nil })
	if !errors.Is(err, connector.ErrInvalid) || !strings.Contains(err.Error(), "admin_email") {
		t.Errorf("without admin_email: %v", err)
	}
}

// Missing delegation or scope is a permanent configuration error that
// says what to fix; a key that is not one says so.
func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	user := e.user("auth")
	undelegated := e.srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Name: "none", Scopes: []string{}})
	readonly := e.srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Name: "readonly", Scopes: []string{gmailtest.ScopeGmailReadonly}})
	ctx := context.Background()
	open := func(secret string) (*connector.OpenRequest, error) {
		req := e.request(user, nil)
		req.Credential.Secret = secret
		tg, err := e.conn.OpenTarget(ctx, req)
		if err == nil {
			tg.Close(ctx)
		}
		return req, err
	}
	_, err := open(string(undelegated.KeyJSON()))
	if !errors.Is(err, connector.ErrAuth) || connector.IsTemporary(err) || !strings.Contains(err.Error(), "Domain-wide delegation") || !strings.Contains(err.Error(), undelegated.ClientID) || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Errorf("undelegated: %v", err)
	}
	_, err = open(string(readonly.KeyJSON()))
	if !errors.Is(err, connector.ErrAuth) || !strings.Contains(err.Error(), "gmail.modify") {
		t.Errorf("readonly scope as a target: %v", err)
	}
	req := e.request(user, nil)
	req.Credential.Secret = string(readonly.KeyJSON())
	if s, err := e.conn.OpenSource(ctx, req); err != nil {
		t.Errorf("readonly scope as a source: %v", err)
	} else {
		s.Close(ctx)
	}
	if _, err := open("hunter2"); !errors.Is(err, connector.ErrAuth) || !strings.Contains(err.Error(), "service account key") {
		t.Errorf("not a key: %v", err)
	}
	req = e.request("stranger@elsewhere.example", nil)
	if _, err := e.conn.OpenTarget(ctx, req); !errors.Is(err, connector.ErrAuth) {
		t.Errorf("a user outside the domain: %v", err)
	}

	// The connection test reports each scope.
	rep, err := e.conn.TestConnection(ctx, &connector.TestRequest{
		Settings: e.settings(nil), SampleUser: user, Admin: &connector.AdminCredential{Secret: string(readonly.KeyJSON())},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Attempts) != 2 || rep.Attempts[0].OK || !rep.Attempts[1].OK || rep.Recommended != connector.ModePassword || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "gmail.modify") {
		t.Errorf("test report %+v", rep)
	}
}

// An access token the API refuses (expired on Google's clock) is
// replaced once, and the call goes through.
func TestTokenRefresh(t *testing.T) {
	e := newEnv(t, gmailtest.WithTokenLifetime(time.Minute))
	user := e.user("refresh")
	tg := e.target(t, user, nil)
	e.srv.Advance(2 * time.Minute)
	if _, err := tg.Folders(context.Background()); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	var refused int
	for _, r := range e.srv.RequestsFor("labels.list") {
		if r.Status == 401 {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused labels.list calls, want 1", refused)
	}
}

// Every setting is in the schema, and the schema has no other.
func TestSettingsSchema(t *testing.T) {
	d, err := gmailconn.New(nil).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(d.SettingsSchema, &schema); err != nil {
		t.Fatal(err)
	}
	st := reflect.TypeOf(gmailconn.Settings{})
	for i := 0; i < st.NumField(); i++ {
		tag := st.Field(i).Tag.Get("json")
		if _, ok := schema.Properties[tag]; !ok {
			t.Errorf("setting %q is not in the schema", tag)
		}
		delete(schema.Properties, tag)
	}
	for k := range schema.Properties {
		t.Errorf("the schema describes %q, which is no setting", k)
	}
}
