package testserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Instance is one server instance.
type Instance struct {
	// Name is the instance's name in scripts/test-servers.sh.
	Name string
	// Host is the address to connect to.
	Host string
	// Port offers plaintext and STARTTLS; TLSPort offers implicit TLS.
	Port, TLSPort int
	// Separator is the IMAP hierarchy separator.
	Separator string
	// Prefix is the personal namespace's prefix ("INBOX." on a
	// Courier-style server), "" for none. Folder names include it on the
	// wire; logical names never do.
	Prefix string
	// MasterUser, if set, is the instance's Dovecot master user: it opens
	// every mailbox with the login string "user*MasterUser" and
	// MasterPassword. The referee (Login, Dial, Seed, Snapshot) logs in
	// that way, as only users added with AddUser exist there.
	MasterUser string
	// ProxyAdmin, if set, is an administrator that may act for every user
	// (a Cyrus admin): the referee (Login, Dial, Seed, Snapshot) logs in
	// as a user with SASL PLAIN, ProxyAdmin as authcid with
	// ProxyAdminPassword and the user as authzid.
	ProxyAdmin, ProxyAdminPassword string
	// SpecialUseOnCreate: the instance gives no folder a special-use
	// attribute by its name, so CreateFolder asks for \Sent, \Drafts,
	// \Trash, \Junk and \Archive on the top-level folders of those names
	// with CREATE-SPECIAL-USE (RFC 6154), which the Dovecot instances
	// configure by name instead.
	SpecialUseOnCreate bool
}

// Addr returns host:port of the plaintext/STARTTLS listener.
func (i Instance) Addr() string { return net.JoinHostPort(i.Host, strconv.Itoa(i.Port)) }

// TLSAddr returns host:port of the implicit-TLS listener.
func (i Instance) TLSAddr() string { return net.JoinHostPort(i.Host, strconv.Itoa(i.TLSPort)) }

// The Dovecot instances.
var (
	// DovecotSrc is a Maildir++ Dovecot with "." as separator.
	DovecotSrc = Instance{Name: "src", Host: "127.0.0.1", Port: 10143, TLSPort: 10993, Separator: "."}
	// DovecotDst is a Maildir (fs layout) Dovecot with "/" as separator.
	DovecotDst = Instance{Name: "dst", Host: "127.0.0.1", Port: 11143, TLSPort: 11993, Separator: "/"}
	// DovecotMaster is a Maildir++ Dovecot laid out like a Postfix or
	// Courier server (folders under "INBOX.", separator "."), where users
	// have their own passwords (AddUser) and the master user "admin"
	// (MasterPassword) opens every mailbox, as "user*admin" or as SASL
	// PLAIN authcid with the user as authzid. A user that was not added
	// does not exist.
	DovecotMaster = Instance{Name: "master", Host: "127.0.0.1", Port: 12143, TLSPort: 12993, Separator: ".", Prefix: "INBOX.", MasterUser: "admin"}
)

// Dovecots lists the Dovecot instances.
var Dovecots = []Instance{DovecotSrc, DovecotDst, DovecotMaster}

// MasterSeparator is auth_master_user_separator of the instances with a
// master user.
const MasterSeparator = "*"

// Dir is the servers' state directory.
func Dir() string {
	if d := os.Getenv("TERN_TEST_SERVERS_DIR"); d != "" {
		return d
	}
	return "/tmp/tern-test-servers"
}

// CAFile is the PEM file of the CA that signed the servers' certificates.
func CAFile() string { return filepath.Join(Dir(), "ca.pem") }

// Password is every test user's password.
func Password() string {
	if p := os.Getenv("TERN_TEST_PASSWORD"); p != "" {
		return p
	}
	return "secret"
}

// MasterPassword is the password of the master users (Instance.MasterUser).
func MasterPassword() string {
	if p := os.Getenv("TERN_TEST_MASTER_PASSWORD"); p != "" {
		return p
	}
	return "master-secret"
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	startOnce sync.Once
	startErr  error
)

func up(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Start makes sure the servers run (the IMAP instances, Postfix and the
// LMTP listener it delivers to), starting them with
// scripts/test-servers.sh if needed. Only the first call does the work.
func Start() error {
	startOnce.Do(func() {
		addrs := []string{Postfix.Addr(), Postfix.TLSAddr(), postfixLMTP}
		for _, i := range append(slices.Clone(Dovecots), Cyruses...) {
			addrs = append(addrs, i.Addr())
		}
		if !slices.ContainsFunc(addrs, func(a string) bool { return !up(a) }) {
			return
		}
		cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "test-servers.sh"), "start")
		out, err := cmd.CombinedOutput()
		if err != nil {
			startErr = fmt.Errorf("scripts/test-servers.sh start: %v\n%s", err, out)
		}
	})
	return startErr
}

// Ensure makes sure the servers run, starting them with the script if
// needed, and fails the test if they cannot run.
func Ensure(t testing.TB) {
	t.Helper()
	if err := Start(); err != nil {
		t.Fatalf("test mail servers unavailable: %v", err)
	}
}

// HomeDir is the directory holding user's mail on inst (the static
// userdb of scripts/test-servers.sh).
func HomeDir(inst Instance, user string) string {
	return filepath.Join(Dir(), inst.Name, "home", user)
}

// RemoveUser deletes user's mail on inst from disk. Call it only when no
// session of the user is open; the next login starts with an empty
// mailbox.
func RemoveUser(inst Instance, user string) error {
	if user == "" || strings.ContainsAny(user, "/\\") || user == "." || user == ".." {
		return fmt.Errorf("remove user %q: bad name", user)
	}
	return os.RemoveAll(HomeDir(inst, user))
}

// User returns a user name no other test has used: each name is a fresh,
// empty mailbox on every instance.
func User(t testing.TB, prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	name := strings.ToLower(strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(prefix))
	if len(name) > 24 {
		name = name[:24]
	}
	user := fmt.Sprintf("%s-%s", name, hex.EncodeToString(b[:]))
	// The mail of a passed test is removed from the Dovecot instances when
	// it ends (a failed test's stays, to look at): the hard corpus holds
	// 25 MiB messages, and a suite that kept every user's mail would fill
	// a CI machine's disk.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, inst := range []Instance{DovecotSrc, DovecotDst, DovecotMaster} {
			RemoveUser(inst, user)
		}
	})
	return user
}
