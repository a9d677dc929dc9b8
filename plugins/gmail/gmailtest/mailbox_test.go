package gmailtest_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/api/gmail/v1"

	"github.com/ternmail/tern/plugins/gmail/gmailtest"
)

// Label names (§1.3, §5.1.4).
func TestLabelRules(t *testing.T) {
	srv, sa := fixture(t, gmailtest.WithReservedLabelNames("Enviado"))
	h := newRaw(t, srv, alice)
	create := func(name string) response {
		return h.do("POST", "/gmail/v1/users/me/labels", []byte(fmt.Sprintf(`{"name":%q}`, name)), "Content-Type", "application/json")
	}
	for _, name := range []string{"INBOX", "Inbox", "spam", "Trash", "unread", "Starred", "IMPORTANT", "Sent", "draft", "Drafts",
		"chat", "Chats", "migrated", "todo", "TODOS", "buzz", "Bin", "allmail", "Archive", "archived", "Muted",
		"category_social", "enviado", " Work", "Work ", ""} {
		wantError(t, create(name), 400, "invalidArgument", "Invalid label name")
	}
	r := create("Projects/2019")
	if r.code != 200 || r.json(t)["type"] != "user" {
		t.Fatalf("a/b without a: %d %s", r.code, r.body)
	}
	id := r.json(t)["id"].(string)
	// The exact 409 body for a name that exists, compared case-insensitively.
	r = create("projects/2019")
	jsonEqual(t, r.body, `{"error":{"code":409,"message":"Label name exists or conflicts","errors":[{"domain":"global","reason":"aborted","message":"Label name exists or conflicts"}],"status":"ABORTED"}}`)
	if r.code != 409 {
		t.Fatalf("status %d", r.code)
	}
	if r := create("Projects"); r.code != 200 {
		t.Fatalf("the parent after the child: %d %s", r.code, r.body)
	}
	if r := create("Projects/Inbox"); r.code != 200 {
		t.Fatalf("a reserved name as a leaf: %d %s", r.code, r.body)
	}
	// Rename: same rules; the label's own name in another case is fine.
	patch := func(id, body string) response {
		return h.do("PATCH", "/gmail/v1/users/me/labels/"+id, []byte(body), "Content-Type", "application/json")
	}
	wantError(t, patch(id, `{"name":"PROJECTS"}`), 409, "aborted", "Label name exists or conflicts")
	wantError(t, patch(id, `{"name":"Trash"}`), 400, "invalidArgument", "Invalid label name")
	if r := patch(id, `{"name":"PROJECTS/2019"}`); r.code != 200 || r.json(t)["name"] != "PROJECTS/2019" {
		t.Fatalf("rename in another case: %d %s", r.code, r.body)
	}
	wantError(t, patch("INBOX", `{"name":"Eingang"}`), 400, "invalidArgument", "")
	wantError(t, h.do("DELETE", "/gmail/v1/users/me/labels/STARRED", nil), 400, "invalidArgument", "")
	wantError(t, h.do("GET", "/gmail/v1/users/me/labels/Label_404", nil), 404, "notFound", "")

	// Deleting a label takes it off its messages.
	msg := h.importMultipart(alice, "", labelJSON(id, "INBOX"), rawMessage("l@example.net", "")).json(t)
	if r := h.do("DELETE", "/gmail/v1/users/me/labels/"+id, nil); r.code != 204 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if m, _ := srv.Message(alice, msg["id"].(string)); strings.Join(m.LabelIDs, ",") != "INBOX" {
		t.Fatalf("labels after delete: %v", m.LabelIDs)
	}

	// The Go client: list has the system labels; a 409 is a *googleapi.Error with reason aborted.
	svc := gmailService(t, srv, sa, alice)
	list, err := svc.Users.Labels.List("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, l := range list.Labels {
		names[l.Name] = l.Type
	}
	if names["INBOX"] != "system" || names["SENT"] != "system" || names["Projects"] != "user" || len(list.Labels) != 16 {
		t.Fatalf("labels: %v", names)
	}
	_, err = svc.Users.Labels.Create("me", &gmail.Label{Name: "PROJECTS"}).Do()
	if ge := apiErr(t, err); ge.Code != 409 || len(ge.Errors) != 1 || ge.Errors[0].Reason != "aborted" {
		t.Fatalf("go client 409: %v", err)
	}
}

// List: q=rfc822msgid:, label:, labelIds, includeSpamTrash, paging (§1.4, §1.7, §5.1.9); get formats; modify.
func TestListGetModify(t *testing.T) {
	srv, sa := fixture(t)
	h := newRaw(t, srv, alice)
	work := srv.CreateLabel(alice, "Work/Q1")
	var ids []string
	for i := range 7 {
		labels := []string{"INBOX"}
		if i%2 == 0 {
			labels = append(labels, work)
		}
		r := h.importMultipart(alice, "", labelJSON(labels...), numbered(i))
		ids = append(ids, r.json(t)["id"].(string))
	}
	spam := h.importMultipart(alice, "", labelJSON("SPAM"), numbered(50)).json(t)["id"].(string)

	svc := gmailService(t, srv, sa, alice, gmailtest.ScopeGmailModify)
	var pages, total int
	var seen []string
	call := svc.Users.Messages.List("me").MaxResults(3)
	for tok := ""; ; {
		res, err := call.PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		pages++
		total = int(res.ResultSizeEstimate)
		for _, m := range res.Messages {
			seen = append(seen, m.Id)
		}
		if tok = res.NextPageToken; tok == "" {
			break
		}
	}
	// Newest internalDate first; SPAM left out.
	if pages != 3 || total != 7 || len(seen) != 7 || seen[0] != ids[6] || seen[6] != ids[0] {
		t.Fatalf("pages %d, total %d, seen %v (ids %v)", pages, total, seen, ids)
	}
	count := func(call *gmail.UsersMessagesListCall) int {
		t.Helper()
		res, err := call.Do()
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Messages)
	}
	if n := count(svc.Users.Messages.List("me").IncludeSpamTrash(true)); n != 8 {
		t.Errorf("includeSpamTrash: %d", n)
	}
	if n := count(svc.Users.Messages.List("me").Q("label:work-q1")); n != 4 {
		t.Errorf("label:work-q1: %d", n)
	}
	if n := count(svc.Users.Messages.List("me").Q(`label:"Work/Q1" rfc822msgid:n2@example.net`)); n != 1 {
		t.Errorf("label and rfc822msgid: %d", n)
	}
	if n := count(svc.Users.Messages.List("me").LabelIds(work, "INBOX")); n != 4 {
		t.Errorf("labelIds: %d", n)
	}
	if n := count(svc.Users.Messages.List("me").Q("rfc822msgid:n50@example.net")); n != 0 {
		t.Errorf("spam found without includeSpamTrash: %d", n)
	}
	if n := count(svc.Users.Messages.List("me").Q("rfc822msgid:n50@example.net").IncludeSpamTrash(true)); n != 1 {
		t.Errorf("spam with includeSpamTrash: %d", n)
	}

	// get: minimal has no raw; metadata has the asked headers only.
	m, err := svc.Users.Messages.Get("me", ids[3]).Format("minimal").Do()
	if err != nil || m.Raw != "" || m.Payload != nil || m.Id != ids[3] || m.HistoryId == 0 {
		t.Fatalf("minimal: %+v %v", m, err)
	}
	m, err = svc.Users.Messages.Get("me", ids[3]).Format("metadata").MetadataHeaders("Message-ID", "subject").Do()
	if err != nil || len(m.Payload.Headers) != 2 || m.Payload.Headers[0].Name != "Subject" || m.Payload.Headers[1].Value != "<n3@example.net>" {
		t.Fatalf("metadata: %+v %v", m.Payload, err)
	}
	if _, err := svc.Users.Messages.Get("me", "0000000000000000").Do(); apiErr(t, err).Code != 404 {
		t.Fatalf("missing message: %v", err)
	}

	// modify and batchModify.
	mod, err := svc.Users.Messages.Modify("me", ids[0], &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}, RemoveLabelIds: []string{"INBOX"}}).Do()
	if err != nil || strings.Join(mod.LabelIds, ",") != work+",STARRED" {
		t.Fatalf("modify: %+v %v", mod, err)
	}
	for _, bad := range []string{"SENT", "DRAFT", "Label_77"} {
		_, err := svc.Users.Messages.Modify("me", ids[0], &gmail.ModifyMessageRequest{AddLabelIds: []string{bad}}).Do()
		if ge := apiErr(t, err); ge.Code != 400 || ge.Errors[0].Reason != "invalidArgument" {
			t.Fatalf("modify adding %s: %v", bad, err)
		}
	}
	if err := svc.Users.Messages.BatchModify("me", &gmail.BatchModifyMessagesRequest{Ids: ids[1:3], AddLabelIds: []string{"UNREAD"}}).Do(); err != nil {
		t.Fatal(err)
	}
	if n := count(svc.Users.Messages.List("me").Q("is:unread")); n != 2 {
		t.Errorf("is:unread after batchModify: %d", n)
	}
	wantError(t, h.do("POST", "/gmail/v1/users/me/messages/batchModify", []byte(`{"ids":["`+strings.Repeat("x", 16)+`"],"addLabelIds":["UNREAD"]}`)), 400, "invalidArgument", "")
	many := make([]string, 1001)
	for i := range many {
		many[i] = spam
	}
	err = svc.Users.Messages.BatchModify("me", &gmail.BatchModifyMessagesRequest{Ids: many, AddLabelIds: []string{"UNREAD"}}).Do()
	if ge := apiErr(t, err); ge.Code != 400 {
		t.Fatalf("1001 ids: %v", err)
	}

	// The metadata scope cannot read bodies or search.
	meta := newRaw(t, srv, alice, gmailtest.ScopeGmailMetadata)
	wantError(t, meta.do("GET", "/gmail/v1/users/me/messages/"+ids[0]+"?format=raw", nil), 403, "forbidden", "")
	wantError(t, meta.do("GET", "/gmail/v1/users/me/messages?q=is:unread", nil), 403, "forbidden", "")
	if r := meta.do("GET", "/gmail/v1/users/me/messages/"+ids[0]+"?format=metadata", nil); r.code != 200 {
		t.Fatalf("metadata scope, format=metadata: %d %s", r.code, r.body)
	}
}

// history.list: messagesAdded, labelsAdded, labelsRemoved, paging; a too-old startHistoryId → 404 (§1.7).
func TestHistory(t *testing.T) {
	srv, sa := fixture(t)
	svc := gmailService(t, srv, sa, alice, gmailtest.ScopeGmailModify)
	h := newRaw(t, srv, alice)
	prof, err := svc.Users.GetProfile("me").Do()
	if err != nil {
		t.Fatal(err)
	}
	start := prof.HistoryId
	a := h.importMultipart(alice, "", labelJSON("INBOX"), numbered(1)).json(t)["id"].(string)
	b := h.importMultipart(alice, "", labelJSON("INBOX"), numbered(2)).json(t)["id"].(string)
	if _, err := svc.Users.Messages.Modify("me", a, &gmail.ModifyMessageRequest{AddLabelIds: []string{"STARRED"}, RemoveLabelIds: []string{"INBOX"}}).Do(); err != nil {
		t.Fatal(err)
	}
	var recs []*gmail.History
	pages := 0
	var last uint64
	for tok := ""; ; {
		res, err := svc.Users.History.List("me").StartHistoryId(start).MaxResults(2).PageToken(tok).Do()
		if err != nil {
			t.Fatal(err)
		}
		pages++
		recs = append(recs, res.History...)
		last = res.HistoryId
		if tok = res.NextPageToken; tok == "" {
			break
		}
	}
	if pages != 2 || len(recs) != 4 || last != srv.HistoryID(alice) {
		t.Fatalf("pages %d, records %d, historyId %d", pages, len(recs), last)
	}
	if len(recs[0].MessagesAdded) != 1 || recs[0].MessagesAdded[0].Message.Id != a ||
		len(recs[1].MessagesAdded) != 1 || recs[1].MessagesAdded[0].Message.Id != b ||
		len(recs[2].LabelsAdded) != 1 || recs[2].LabelsAdded[0].LabelIds[0] != "STARRED" ||
		len(recs[3].LabelsRemoved) != 1 || recs[3].LabelsRemoved[0].LabelIds[0] != "INBOX" {
		t.Fatalf("records: %+v %+v %+v %+v", recs[0], recs[1], recs[2], recs[3])
	}
	added, err := svc.Users.History.List("me").StartHistoryId(start).HistoryTypes("messageAdded").Do()
	if err != nil || len(added.History) != 2 {
		t.Fatalf("historyTypes=messageAdded: %v %v", added, err)
	}
	// Nothing newer than now.
	if res, err := svc.Users.History.List("me").StartHistoryId(last).Do(); err != nil || len(res.History) != 0 {
		t.Fatalf("from the current id: %+v %v", res, err)
	}
	srv.ExpireHistory(alice)
	_, err = svc.Users.History.List("me").StartHistoryId(start).Do()
	if ge := apiErr(t, err); ge.Code != 404 {
		t.Fatalf("too old: %v", err)
	}
	wantError(t, h.do("GET", "/gmail/v1/users/me/history", nil), 400, "badRequest", "")
	if p, _ := svc.Users.GetProfile("me").Do(); p.MessagesTotal != 2 || p.HistoryId != last {
		t.Fatalf("profile: %+v", p)
	}
}

// SeedMessage and threads: a reply joins the thread of the message it references.
func TestSeedAndThreads(t *testing.T) {
	srv, _ := fixture(t)
	first := srv.SeedMessage(alice, rawMessage("root@example.net", "Mon, 02 Jan 2006 15:04:05 +0000"), "INBOX")
	reply := srv.SeedMessage(alice, rawMessage("reply@example.net", "Mon, 02 Jan 2006 16:04:05 +0000", "In-Reply-To: <root@example.net>"), "INBOX")
	other := srv.SeedMessage(alice, rawMessage("other@example.net", ""), "INBOX")
	if reply.ThreadID != first.ThreadID || other.ThreadID == first.ThreadID || first.ThreadID != first.ID {
		t.Fatalf("threads: %s %s %s", first.ThreadID, reply.ThreadID, other.ThreadID)
	}
	if !other.DateFallback || first.MessageID != "root@example.net" {
		t.Fatalf("seeded: %+v", other)
	}
	if len(srv.RequestsFor("messages.import")) != 0 {
		t.Fatal("seeding logged requests")
	}
}
