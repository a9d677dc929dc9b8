package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// TLSConfig returns a TLS configuration that trusts the test CA.
func TLSConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(CAFile())
	if err != nil {
		return nil, fmt.Errorf("read test CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", CAFile())
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Login connects to the instance's plain port, upgrades with STARTTLS
// (verified against the test CA) and logs in as user with Password, or,
// on an instance with a master user, with the login string
// "user*master" and MasterPassword, or, on an instance with a proxy
// administrator (Cyrus), with SASL PLAIN as that administrator for user.
// The caller closes the client.
func Login(inst Instance, user string) (*imapclient.Client, error) {
	tc, err := TLSConfig()
	if err != nil {
		return nil, err
	}
	c, err := imapclient.DialStartTLS(inst.Addr(), &imapclient.Options{
		TLSConfig: tc,
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s (%s): %w", inst.Name, inst.Addr(), err)
	}
	login, password := user, Password()
	if inst.MasterUser != "" {
		login, password = user+MasterSeparator+inst.MasterUser, MasterPassword()
	}
	if inst.ProxyAdmin != "" {
		err = c.Authenticate(sasl.NewPlainClient(user, inst.ProxyAdmin, inst.ProxyAdminPassword))
	} else {
		err = c.Login(login, password).Wait()
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s on %s: %w", user, inst.Name, err)
	}
	return c, nil
}

// Dial ensures the servers run and returns a client logged in as user on
// inst over STARTTLS. It is logged out and closed when the test ends.
func Dial(t testing.TB, inst Instance, user string) *imapclient.Client {
	t.Helper()
	Ensure(t)
	c, err := Login(inst, user)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() {
		logout := c.Logout()
		done := make(chan struct{})
		go func() { logout.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		c.Close()
	})
	return c
}

// ServerName turns a logical folder name ("/"-separated UTF-8, "INBOX")
// into the instance's name (its separator and prefix; go-imap encodes
// modified UTF-7). It fails for a name with the instance's separator
// inside a level, which the instance cannot represent, and on an instance
// with the prefix "INBOX." for children of INBOX, which would be the same
// folders as top-level ones.
func (i Instance) ServerName(folder string) (string, error) {
	if strings.EqualFold(folder, "INBOX") {
		return "INBOX", nil
	}
	levels := strings.Split(folder, "/")
	if i.Prefix != "" && strings.EqualFold(levels[0], "INBOX") {
		return "", fmt.Errorf("folder %q: %s keeps every folder under %q, so INBOX has no children of its own", folder, i.Name, i.Prefix)
	}
	for _, l := range levels {
		if l == "" {
			return "", fmt.Errorf("folder %q has an empty level", folder)
		}
		if i.Separator != "/" && strings.Contains(l, i.Separator) {
			return "", fmt.Errorf("folder %q: %s cannot hold %q in a name", folder, i.Name, i.Separator)
		}
	}
	return i.Prefix + strings.Join(levels, i.Separator), nil
}

// LogicalName turns a name of the instance's (as LIST shows it, with
// delimiter delim) into the logical form, without the instance's prefix.
func (i Instance) LogicalName(name string, delim rune) string {
	if i.Prefix != "" && strings.HasPrefix(name, i.Prefix) && len(name) > len(i.Prefix) {
		name = name[len(i.Prefix):]
	}
	return LogicalName(name, delim)
}

// LogicalName turns a server name with delimiter delim into the logical
// form: "/" as separator, "INBOX" (and its children) upper-case.
func LogicalName(name string, delim rune) string {
	if delim != 0 && delim != '/' {
		name = strings.ReplaceAll(name, string(delim), "/")
	}
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == '/') {
		name = "INBOX" + name[5:]
	}
	return name
}

// CreateFolder creates folder (logical name) and each missing parent on c,
// which is logged in to inst. Existing folders are left alone.
func CreateFolder(c *imapclient.Client, inst Instance, folder string) error {
	if strings.EqualFold(folder, "INBOX") {
		return nil
	}
	levels := strings.Split(folder, "/")
	for n := 1; n <= len(levels); n++ {
		name, err := inst.ServerName(strings.Join(levels[:n], "/"))
		if err != nil {
			return err
		}
		if name == "INBOX" {
			continue
		}
		err = c.Create(name, createOptions(inst, levels[:n])).Wait()
		var ie *imap.Error
		if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeAlreadyExists || exists(c, name)) {
			// Cyrus says "NO Mailbox already exists" without the code.
			err = nil
		}
		if err != nil {
			return fmt.Errorf("create %q: %w", name, err)
		}
	}
	return nil
}

// exists reports whether LIST finds the mailbox name on c.
func exists(c *imapclient.Client, name string) bool {
	l, err := c.List("", name, nil).Collect()
	return err == nil && len(l) == 1 && l[0].Mailbox == name
}

// specialUse maps the top-level folder names that get a special-use
// attribute (RFC 6154) to it: the names the Dovecot instances configure.
var specialUse = map[string]imap.MailboxAttr{
	"Sent":    imap.MailboxAttrSent,
	"Drafts":  imap.MailboxAttrDrafts,
	"Trash":   imap.MailboxAttrTrash,
	"Junk":    imap.MailboxAttrJunk,
	"Archive": imap.MailboxAttrArchive,
}

// createOptions asks for the special-use attribute of a top-level folder
// named in specialUse on an instance that does not assign it by name.
func createOptions(inst Instance, levels []string) *imap.CreateOptions {
	if !inst.SpecialUseOnCreate || len(levels) != 1 {
		return nil
	}
	if a, ok := specialUse[levels[0]]; ok {
		return &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{a}}
	}
	return nil
}
