package cyrusconn

import (
	"errors"
	"testing"

	"github.com/ternmail/tern/sdk/connector"
)

// userOf maps the names of users' INBOXes in the other users' namespace
// back to logins, under either separator, with and without virtual
// domains, and leaves out what is no user's INBOX.
func TestUserOf(t *testing.T) {
	for _, tc := range []struct {
		mailbox, prefix, delim string
		want                   connector.User
		ok                     bool
	}{
		{"user/alice", "user/", "/", connector.User{Login: "alice"}, true},
		{"user/john.doe", "user/", "/", connector.User{Login: "john.doe"}, true},
		{"user.john^doe", "user.", ".", connector.User{Login: "john.doe"}, true},
		{"user.alice", "user.", ".", connector.User{Login: "alice"}, true},
		{"user/john^doe", "user/", "/", connector.User{Login: "john^doe"}, true}, // "^" is only "." under "."
		{"Other Users/bob", "Other Users/", "/", connector.User{Login: "bob"}, true},
		// Virtual domains: the login keeps the domain, dots and all.
		{"user/john.doe@example.com", "user/", "/", connector.User{Login: "john.doe@example.com", Address: "john.doe@example.com"}, true},
		{"user.john^doe@example.com", "user.", ".", connector.User{Login: "john.doe@example.com", Address: "john.doe@example.com"}, true},
		// Not a user's INBOX.
		{"user/alice/Sent", "user/", "/", connector.User{}, false},
		{"user.alice.Sent", "user.", ".", connector.User{}, false},
		{"user.alice.Sent@example.com", "user.", ".", connector.User{}, false},
		{"user/", "user/", "/", connector.User{}, false},
		{"user/@example.com", "user/", "/", connector.User{}, false},
		{"user/alice@", "user/", "/", connector.User{}, false},
		{"shared/alice", "user/", "/", connector.User{}, false},
		{"user", "user/", "/", connector.User{}, false},
	} {
		got, ok := userOf(tc.mailbox, tc.prefix, tc.delim)
		if got != tc.want || ok != tc.ok {
			t.Errorf("userOf(%q, %q, %q) = %+v, %v; want %+v, %v", tc.mailbox, tc.prefix, tc.delim, got, ok, tc.want, tc.ok)
		}
	}
}

// pages hands users out in pages of the given size and stops at the
// callback's error.
func TestPages(t *testing.T) {
	users := []connector.User{{Login: "a"}, {Login: "b"}, {Login: "c"}, {Login: "d"}, {Login: "e"}}
	var sizes []int
	if err := pages(users, 2, func(p []connector.User) error { sizes = append(sizes, len(p)); return nil }); err != nil || len(sizes) != 3 || sizes[0] != 2 || sizes[2] != 1 {
		t.Errorf("pages of 2: %v, %v", sizes, err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := pages(users, 0, func([]connector.User) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("stop: %v after %d calls", err, calls)
	}
}
