package userlist

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ternmail/tern/core/internal/project"
	"github.com/ternmail/tern/core/internal/secrets"
	"github.com/ternmail/tern/core/internal/testkit"
)

// failingSecrets refuses to store one value.
type failingSecrets struct {
	secrets.Store
	refuse string
}

func (f *failingSecrets) Put(ctx context.Context, path, value string) error {
	if value == f.refuse {
		return errors.New("secrets backend unavailable")
	}
	return f.Store.Put(ctx, path, value)
}

// newProject returns a store with one project, its secrets and the
// project's ID.
func newProject(t *testing.T, refuse string) (*project.Store, secrets.Store, string) {
	t.Helper()
	db, sec := testkit.Stores(t)
	st := project.NewStore(db, &failingSecrets{Store: sec, refuse: refuse})
	p := &project.Project{Name: "old to new", Source: "old", Target: "new"}
	if err := st.PutProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return st, sec, p.ID
}

func mustParse(t *testing.T, in string) *Result {
	t.Helper()
	res, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// users maps source login → "target has-source-pw has-target-pw origin".
func users(t *testing.T, st *project.Store, id string) map[string]string {
	t.Helper()
	us, err := st.Users(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range us {
		flags := ""
		if u.HasSourcePassword {
			flags += " spw"
		}
		if u.HasTargetPassword {
			flags += " tpw"
		}
		out[u.SourceUser] = u.TargetUser + flags + " " + u.Origin
	}
	return out
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	st, sec, pid := newProject(t, "")
	manual := &project.User{Project: pid, SourceUser: "alice", TargetUser: "alice@new.example", Origin: "manual"}
	olga := &project.User{Project: pid, SourceUser: "olga", TargetUser: "olga@new.example", Origin: "manual"}
	paul := &project.User{Project: pid, SourceUser: "paul", TargetUser: "paul@new.example", Origin: "manual"}
	for _, u := range []*project.User{manual, olga, paul} {
		if err := st.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	res := mustParse(t, lines(
		"source_user,target_user,source_password,target_password",
		"ALICE,Alice@New.Example,alice-pw,",  // 2 update: same user, same target
		"bob,bob@new.example,bob-pw,bob-tpw", // 3 added with passwords
		"carol,carol@new.example,,",          // 4 added without
		"paul,p.other@new.example,x,",        // 5 conflict: other target
		"pete,paul@new.example,,",            // 6 conflict: target taken
		"dan,dan@@new.example,,",             // 7 parse error
		"olga,olga@new.example,,",            // 8 nothing new: unchanged
	))
	sum, err := Import(ctx, st, pid, res, "")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != 2 || sum.Updated != 1 || sum.Unchanged != 1 {
		t.Errorf("summary %+v", sum)
	}
	want := []string{
		`5: source login "paul" is already in the project with target paul@new.example`,
		`6: target paul@new.example is already in the project, for source login "paul"`,
		`7: target_user "dan@@new.example" is not a valid address`,
	}
	if got := errs(sum.Errors); !reflect.DeepEqual(got, want) {
		t.Errorf("errors\n got %q\nwant %q", got, want)
	}
	if sum.Errors[0].Text != "paul,p.other@new.example,***," {
		t.Errorf("text %q", sum.Errors[0].Text)
	}
	wantUsers := map[string]string{
		"alice": "alice@new.example spw manual",
		"bob":   "bob@new.example spw tpw csv",
		"carol": "carol@new.example csv",
		"olga":  "olga@new.example manual",
		"paul":  "paul@new.example manual",
	}
	if got := users(t, st, pid); !reflect.DeepEqual(got, wantUsers) {
		t.Errorf("users\n got %v\nwant %v", got, wantUsers)
	}
	if v, err := sec.Get(ctx, secrets.MailboxSource(manual.ID)); err != nil || v != "alice-pw" {
		t.Errorf("alice's password: %q %v", v, err)
	}
	us, _ := st.Users(ctx, pid)
	for _, u := range us {
		if u.SourceUser == "bob" {
			if v, err := sec.Get(ctx, secrets.MailboxTarget(u.ID)); err != nil || v != "bob-tpw" {
				t.Errorf("bob's target password: %q %v", v, err)
			}
		}
	}

	// The same list again: nothing added, passwords written again.
	sum, err = Import(ctx, st, pid, res, "csv")
	if err != nil || sum.Added != 0 || sum.Updated != 2 || sum.Unchanged != 2 || len(sum.Errors) != 3 {
		t.Errorf("second import: %+v %v", sum, err)
	}

	if _, err := Import(ctx, st, "pnone", res, ""); !errors.Is(err, project.ErrNotFound) {
		t.Errorf("unknown project: %v", err)
	}
}

func TestImportExchangeUserRoot(t *testing.T) {
	st, _, pid := newProject(t, "")
	res := mustParse(t, lines(
		"EmailAddress,UserName,Password,UserRoot",
		"zoe@new.example,mailadmin,adm-pw,/users/zoe",
		"max@new.example,mailadmin,adm-pw,/users/max",
	))
	if len(res.Entries) != 2 {
		t.Fatalf("parse: %v", res.Errors)
	}
	sum, err := Import(context.Background(), st, pid, res, "")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != 1 || len(sum.Errors) != 1 || sum.Errors[0].Line != 3 || !strings.Contains(sum.Errors[0].Reason, "imported from line 2 already") {
		t.Errorf("summary %+v", sum)
	}
	if len(sum.Notes) != 1 || sum.Notes[0].Line != 2 || !strings.Contains(sum.Notes[0].Reason, `UserRoot "/users/zoe" is not used`) {
		t.Errorf("notes %+v", sum.Notes)
	}
}

func TestImportStorageError(t *testing.T) {
	ctx := context.Background()
	st, sec, pid := newProject(t, "refused-pw")
	res := mustParse(t, lines(
		"source_user,target_user,source_password",
		"alice,alice@new.example,alice-pw",
		"bob,bob@new.example,refused-pw",
		"carol,carol@new.example,carol-pw",
	))
	sum, err := Import(ctx, st, pid, res, "")
	if err == nil || !strings.Contains(err.Error(), "import stopped at line 3 after 1 of 3 users were written") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "refused-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
	if sum == nil || sum.Added != 1 {
		t.Errorf("summary %+v", sum)
	}
	// bob is not left half-created; carol was never written.
	if got := users(t, st, pid); !reflect.DeepEqual(got, map[string]string{"alice": "alice@new.example spw csv"}) {
		t.Errorf("users %v", got)
	}
	if paths, err := sec.List(ctx, "mailboxes/"); err != nil || len(paths) != 1 {
		t.Errorf("secrets %v %v", paths, err)
	}

	// A cancelled context writes nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	res = mustParse(t, lines("source_user", "dave"))
	if _, err := Import(cctx, st, pid, res, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
