package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// UsersFile is the passwd-file holding the users of an instance with a
// master user (DovecotMaster); scripts/test-servers.sh creates it.
func UsersFile(inst Instance) string { return filepath.Join(Dir(), inst.Name, "users") }

var usersMu sync.Mutex

// AddUser creates user with password on inst, an instance with its own
// users (DovecotMaster), and waits until the server lets the user log in
// with it: Dovecot re-reads its passwd-file when the file changes, at most
// once a second. user must be new (pick it with User); a name or password
// holding ':' or a line break cannot be stored and fails the test. On a
// Cyrus instance (Cyrus, CyrusDot) the user is added with AddCyrusUser.
func AddUser(t testing.TB, inst Instance, user, password string) {
	t.Helper()
	Ensure(t)
	if err := AddUserErr(inst, user, password); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}

// AddUsers creates users, all with password, on inst as AddUser does,
// waiting once for all of them: a test that needs many users (a
// conformance suite) adds them together.
func AddUsers(t testing.TB, inst Instance, password string, users ...string) {
	t.Helper()
	Ensure(t)
	if err := AddUsersErr(inst, password, users...); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}

// AddUserErr is AddUser returning an error.
func AddUserErr(inst Instance, user, password string) error {
	return AddUsersErr(inst, password, user)
}

// AddUsersErr is AddUsers returning an error.
func AddUsersErr(inst Instance, password string, users ...string) error {
	if len(users) == 0 {
		return nil
	}
	if inst.ProxyAdmin != "" {
		for _, u := range users {
			if err := AddCyrusUserErr(inst, u, password); err != nil {
				return err
			}
		}
		return nil
	}
	user := users[0]
	if inst.MasterUser == "" {
		return fmt.Errorf("add user %q: instance %s lets every user in with the shared password; only instances with their own users (%s) have a user list", user, inst.Name, DovecotMaster.Name)
	}
	var line strings.Builder
	for _, u := range users {
		if u == "" || strings.ContainsAny(u, ":\r\n\x00"+MasterSeparator) || strings.ContainsAny(password, ":\r\n\x00") || password == "" {
			return fmt.Errorf("add user %q: a user name or password that passwd-file cannot hold", u)
		}
		fmt.Fprintf(&line, "%s:{PLAIN}%s::::::\n", u, password)
	}
	usersMu.Lock()
	f, err := os.OpenFile(UsersFile(inst), os.O_WRONLY|os.O_APPEND, 0)
	if err == nil {
		// One write with O_APPEND: not interleaved with the other test
		// processes appending to the same file.
		_, err = f.WriteString(line.String())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	usersMu.Unlock()
	if err != nil {
		return fmt.Errorf("add user %q on %s: %w", user, inst.Name, err)
	}
	// One write, so one re-read of the file brings them all; the last one
	// is checked.
	user = users[len(users)-1]
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := tryLogin(inst, user, password)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("add user %q on %s: the server does not let the user in: %w", user, inst.Name, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// tryLogin logs in as user with password over the plain port (no TLS:
// it only checks the user exists).
func tryLogin(inst Instance, user, password string) error {
	c, err := imapclient.DialInsecure(inst.Addr(), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Login(user, password).Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = errors.New("no answer to LOGIN")
	}
	if err == nil {
		c.Logout().Wait()
	}
	return err
}
