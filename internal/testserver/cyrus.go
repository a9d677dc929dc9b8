package testserver

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/ternmail/tern/internal/corpus"
)

// The administrators of the Cyrus instances (scripts/cyrus.sh), the same
// on both.
const (
	// CyrusAdmin is in imapd.conf's admins and proxyservers: it sees and
	// manages every mailbox and logs in as any user with SASL PLAIN,
	// itself as authcid and the user as authzid. The referee logs in that
	// way (Instance.ProxyAdmin).
	CyrusAdmin         = "cyrusadmin"
	CyrusAdminPassword = "adminsecret"
	// CyrusNoProxyAdmin is an administrator account that may not act for
	// users: its authzid logins are refused. Cyrus lets every member of
	// admins act for any user, so this account is not in admins; instead
	// AddCyrusUser grants it the rights "lr" (lookup, read) on each user's
	// mailboxes, so it lists them (LIST "" "user/%") as an admin would.
	CyrusNoProxyAdmin         = "noproxyadmin"
	CyrusNoProxyAdminPassword = "adminsecret2"
	// CyrusPlainAdmin is in admins but not in proxyservers. Cyrus 3.6
	// lets it act for users all the same (mysasl_proxy_policy: an admin
	// or a proxy server may): proxyservers only matters for non-admins.
	CyrusPlainAdmin         = "plainadmin"
	CyrusPlainAdminPassword = "adminsecret3"
)

// The Cyrus IMAP 3.6 instances (Debian's packages, scripts/cyrus.sh). Both
// use the traditional namespace: a user's folders live below INBOX, users'
// mailboxes are "user/NAME" or "user.NAME" to an administrator. Users
// exist only once added (AddCyrusUser), each with a password in the
// instance's sasldb; the referee logs in as CyrusAdmin for the user.
// Special-use attributes come from CREATE-SPECIAL-USE (SpecialUseOnCreate).
var (
	// Cyrus has unixhierarchysep: yes, separator "/": folders "INBOX/Sent".
	Cyrus = Instance{Name: "cyrus", Host: "127.0.0.1", Port: 13143, TLSPort: 13993, Separator: "/", Prefix: "INBOX/",
		ProxyAdmin: CyrusAdmin, ProxyAdminPassword: CyrusAdminPassword, SpecialUseOnCreate: true}
	// CyrusDot has unixhierarchysep: no, separator ".": folders "INBOX.Sent".
	CyrusDot = Instance{Name: "cyrusdot", Host: "127.0.0.1", Port: 14143, TLSPort: 14993, Separator: ".", Prefix: "INBOX.",
		ProxyAdmin: CyrusAdmin, ProxyAdminPassword: CyrusAdminPassword, SpecialUseOnCreate: true}
)

// Cyruses lists the Cyrus instances.
var Cyruses = []Instance{Cyrus, CyrusDot}

// CyrusMailbox is the name of user's INBOX as administrators see it:
// "user/NAME" on Cyrus, "user.NAME" on CyrusDot. With "." as separator
// (unixhierarchysep: no) Cyrus writes a "." in a user name as "^":
// john.doe's INBOX is "user.john^doe" there, and "user/john.doe" on Cyrus.
func (i Instance) CyrusMailbox(user string) string {
	if i.Separator == "." {
		user = strings.ReplaceAll(user, ".", "^")
	}
	return "user" + i.Separator + user
}

// LoginPlain connects to inst's plain port, upgrades with STARTTLS and
// authenticates with SASL PLAIN: authcid and password, acting for authzid
// ("" for authcid itself). The caller closes the client.
func LoginPlain(inst Instance, authzid, authcid, password string) (*imapclient.Client, error) {
	tc, err := TLSConfig()
	if err != nil {
		return nil, err
	}
	c, err := imapclient.DialStartTLS(inst.Addr(), &imapclient.Options{TLSConfig: tc})
	if err != nil {
		return nil, fmt.Errorf("dial %s (%s): %w", inst.Name, inst.Addr(), err)
	}
	if err := c.Authenticate(sasl.NewPlainClient(authzid, authcid, password)); err != nil {
		c.Close()
		if authzid != "" {
			return nil, fmt.Errorf("authenticate %s for %s on %s: %w", authcid, authzid, inst.Name, err)
		}
		return nil, fmt.Errorf("authenticate %s on %s: %w", authcid, inst.Name, err)
	}
	return c, nil
}

// AddCyrusUser creates user with password on a Cyrus instance: the
// password in its sasldb (saslpasswd2, through scripts/cyrus.sh passwd),
// the mailbox user/NAME created by CyrusAdmin, and the rights "lr" on it
// for CyrusNoProxyAdmin. The user has an empty INBOX and no other folder.
// Pick a fresh name with User; a name may hold a "." (see CyrusMailbox),
// but one holding "/", "^", a space or '@' is refused.
func AddCyrusUser(t testing.TB, inst Instance, user, password string) {
	t.Helper()
	Ensure(t)
	if err := AddCyrusUserErr(inst, user, password); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}

// AddCyrusUserErr is AddCyrusUser returning an error.
func AddCyrusUserErr(inst Instance, user, password string) error {
	if inst.ProxyAdmin == "" {
		return fmt.Errorf("add Cyrus user %q: %s is not a Cyrus instance", user, inst.Name)
	}
	if user == "" || strings.ContainsAny(user, "/^ @\"\\\r\n\x00") || strings.HasPrefix(user, ".") || strings.HasSuffix(user, ".") || strings.Contains(user, "..") || password == "" || strings.ContainsAny(password, "\r\n\x00") {
		return fmt.Errorf("add Cyrus user %q on %s: a name or password Cyrus cannot take", user, inst.Name)
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "cyrus.sh"), "passwd", inst.Name, user)
	cmd.Stdin = strings.NewReader(password)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("add Cyrus user %q on %s: scripts/cyrus.sh passwd: %v\n%s", user, inst.Name, err, out.Bytes())
	}
	c, err := LoginPlain(inst, "", CyrusAdmin, CyrusAdminPassword)
	if err != nil {
		return fmt.Errorf("add Cyrus user %q: %w", user, err)
	}
	defer func() { c.Logout().Wait(); c.Close() }()
	mbox := inst.CyrusMailbox(user)
	if err := c.Create(mbox, nil).Wait(); err != nil {
		return fmt.Errorf("add Cyrus user %q on %s: create %s: %w", user, inst.Name, mbox, err)
	}
	// Folders created later inherit the ACL of their parent.
	if err := c.SetACL(mbox, imap.RightsIdentifier(CyrusNoProxyAdmin), imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		return fmt.Errorf("add Cyrus user %q on %s: setacl %s: %w", user, inst.Name, mbox, err)
	}
	return nil
}

// What Cyrus IMAP 3.6 does with a message on APPEND, with Debian's
// defaults (reject8bit: no, munge8bit: yes), as message_copy_strict in
// its imap/message.c does it and as TestCyrusStoresModel checks against
// the real server for the hard corpus and more:
//
//   - a NUL byte anywhere: refused, "Message contains NUL characters";
//   - a bare LF (an LF not preceded by CR) anywhere, header or body:
//     refused, "Message contains bare newlines" (corpus cases bare-lf and
//     mixed-line-ends). Unlike Dovecot, Cyrus never stores them, so
//     a migration must turn them into CRLF or report the message;
//   - a header line that is not a continuation, does not start with
//     "From " and has a control character or space before its colon (or
//     no colon at all, or starts with one), or a last header line without
//     a line end: refused, "Message contains invalid header" (case
//     headers-only-no-eol; headers-only, whose last line ends in CRLF, is
//     stored);
//   - every byte >= 0x80 in the top-level header (up to the first empty
//     line) is replaced by 'X', one for one, so the size stays the same
//     (cases 8bit-header-utf8, 8bit-header-latin1, and folder-name-umlaut,
//     folder-name-cyrillic and folder-name-cyrillic-nested, whose Subject
//     has raw UTF-8); 8-bit bytes in the body and in MIME part headers are
//     stored as they are. A migration into Cyrus that must keep such a
//     header has to encode it (RFC 2047) before APPEND;
//   - everything else is stored byte for byte: broken MIME, header lines
//     over 998 characters, a bare CR, no Message-ID, a 25 MiB message,
//     identical copies; INTERNALDATE (to the second) and every flag and
//     keyword ($Forwarded, $Junk, $MDNSent, Work, todo_later, $label1,
//     \Deleted without expunge) are kept.

// Cyrus's refusals of APPEND, as its NO responses word them.
const (
	CyrusRefusesNUL         = "Message contains NUL characters"
	CyrusRefusesBareNewline = "Message contains bare newlines"
	CyrusRefusesHeader      = "Message contains invalid header"
)

// CyrusStores returns the bytes Cyrus 3.6 stores and serves for a message
// appended as raw, or the text of its refusal ("" if it takes it). See
// above for the rules.
func CyrusStores(raw []byte) (stored []byte, refusal string) {
	if bytes.IndexByte(raw, 0) >= 0 {
		return nil, CyrusRefusesNUL
	}
	out := bytes.Clone(raw)
	sawCR, blank, inHeader, bareLF := false, true, true, false
	for i, b := range out {
		switch b {
		case '\n':
			bareLF = bareLF || !sawCR
			sawCR = false
			if blank {
				inHeader = false
			}
			blank = true
		case '\r':
			sawCR = true
		default:
			sawCR, blank = false, false
			if inHeader && b >= 0x80 {
				out[i] = 'X'
			}
		}
	}
	if bareLF {
		return nil, CyrusRefusesBareNewline
	}
	if !cyrusHeaderOK(out) {
		return nil, CyrusRefusesHeader
	}
	return out, ""
}

// cyrusHeaderOK is the second pass of message_copy_strict: it reads the
// message in lines of at most 4096 bytes until a line starting with CR.
func cyrusHeaderOK(msg []byte) bool {
	const chunk = 4096
	sawNL := true
	for len(msg) > 0 {
		n := bytes.IndexByte(msg, '\n') + 1
		if n == 0 || n > chunk {
			n = min(len(msg), chunk)
		}
		line := msg[:n]
		msg = msg[n:]
		if sawNL && line[0] == '\r' {
			return true
		}
		if sawNL && line[0] != ' ' && line[0] != '\t' {
			if line[0] == ':' {
				return false
			}
			if !bytes.HasPrefix(line, []byte("From ")) {
				for _, c := range line {
					if c == ':' {
						break
					}
					if c <= ' ' {
						return false
					}
				}
			}
		}
		sawNL = line[len(line)-1] == '\n'
	}
	return sawNL
}

// CyrusAccepts splits mb into what Cyrus takes and what it refuses (per
// CyrusStores): kept has every folder, with the messages Cyrus stores, so
// SeedMailbox can seed it into a Cyrus user. Messages Cyrus rewrites are
// kept as they are; CyrusStores tells what Cyrus will serve for them.
func CyrusAccepts(mb corpus.Mailbox) (kept corpus.Mailbox, refused []corpus.Message) {
	for _, f := range mb {
		k := corpus.Folder{Name: f.Name, SpecialUse: f.SpecialUse, Messages: []corpus.Message{}}
		for _, m := range f.Messages {
			if _, why := CyrusStores(m.Bytes()); why != "" {
				refused = append(refused, m)
				continue
			}
			k.Messages = append(k.Messages, m)
		}
		kept = append(kept, k)
	}
	return kept, refused
}
