package cyrusconn

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ternmail/tern/plugins/internal/imapconn"
	"github.com/ternmail/tern/sdk/connector"
)

// ID is the connector's ID.
const ID = "cyrus"

// Profile is tern-connector-cyrus's profile.
var Profile = &imapconn.Profile{
	ID:      ID,
	Version: "1.0.0",
	Summary: "Cyrus IMAP, as source or target: an administrator acts for every user (SASL PLAIN authzid), users listed from the server, either hierarchy separator",
	Title:   "Cyrus IMAP",
	Description: "A Cyrus IMAP server. Its hierarchy separator is \"/\" with unixhierarchysep: yes (folders INBOX/Sent) and \".\" without it " +
		"(INBOX.Sent); Tern reads it and the namespaces from the server (NAMESPACE) and maps folder names itself. A user's folders live " +
		"below INBOX, the personal namespace. An administrator sees every user's mailbox in the \"Other Users\" namespace, as user/NAME " +
		"or user.NAME (with unixhierarchysep: no, a \".\" in a user name shows as \"^\": user.john^doe), and Tern lists the users from " +
		"there. Give an administrator account listed in admins in imapd.conf: Cyrus lets it log in for each user with SASL PLAIN " +
		"and the user as authorization identity (authzid), so no user's password is needed, and shows it every user's mailbox, so " +
		"Tern can list the users. An account listed only in proxyservers may act for users too, but sees only the mailboxes its " +
		"rights allow. Without such an administrator, self-service is the way: each user enters their own password (per-user " +
		"passwords work the same way).",
	SettingDescriptions: map[string]string{
		"host": "Host name or IP address of the Cyrus IMAP server (or of its Murder frontend), without port or scheme, e.g. " +
			"mail.example.com. With TLS, Cyrus's certificate (tls_server_cert) must be valid for this name.",
		"auth_mechanism": "auto: AUTHENTICATE PLAIN when Cyrus offers it, else LOGIN. plain: always AUTHENTICATE PLAIN. login: always " +
			"the IMAP LOGIN command. Applies to users' own passwords and the administrator's own login (to list users); the " +
			"administrator acting for a user always uses AUTHENTICATE PLAIN, which Cyrus offers when sasl_mech_list includes PLAIN " +
			"(without TLS only with allowplaintext: yes).",
		"master_user_separator": "Not used by Cyrus, which has no master users: its administrators act for users with SASL PLAIN authzid.",
		"max_connections": "How many IMAP connections one mailbox session may open, so that several messages are fetched or stored " +
			"in parallel. Cyrus runs one imapd process per connection; mind maxlogins_per_user if it is set.",
	},
	CredentialModes: []string{connector.ModeAdminAuthzid, connector.ModePassword},
	ListUsers:       listUsers,
	DetectionNotes:  notes,
	LoginAdvice:     advice,
	CheckInbox:      true,
	InboxUnlisted:   inboxUnlisted,
}

// dottedHidden says why a Cyrus with "." as separator shows a user whose
// name holds a "." none of their folders.
const dottedHidden = "with unixhierarchysep: no (separator \".\"), Cyrus lists a user whose name holds a \".\" none of their own folders, " +
	"not even INBOX (an administrator sees them as user.john^doe, user.john^doe.Sent), though they exist"

// dotted reports whether user's folders are hidden from them on a Cyrus
// whose separator is delim.
func dotted(user, delim string) bool {
	local, _, _ := strings.Cut(user, "@")
	return delim == "." && strings.Contains(local, ".")
}

// inboxUnlisted is the profile's InboxUnlisted: the mailbox exists (the
// open checked INBOX), so a LIST without it is no empty mailbox.
func inboxUnlisted(user string, h *connector.Hierarchy) error {
	if dotted(user, h.Delimiter) {
		return connector.Errorf(connector.KindPermanent, "Cyrus shows %q no folder: %s. Tern cannot read this mailbox's folder list; "+
			"turn unixhierarchysep on (Cyrus needs it for user names with a \".\") and migrate the user then", user, dottedHidden)
	}
	return connector.Errorf(connector.KindPermanent, "Cyrus lists no folder for %q, not even INBOX, though INBOX exists: the mailbox's folders cannot be read; "+
		"check the user's rights on their own mailboxes (lookup, l)", user)
}

// New returns the connector; log is as for imapconn.New.
func New(log *slog.Logger) *imapconn.Connector { return imapconn.New(Profile, log) }

// adminAdvice says who may act for users on Cyrus, and what to do without
// such an administrator.
const adminAdvice = "On Cyrus an account may act for users only if it is listed in admins (or proxyservers) in imapd.conf; " +
	"without such an administrator, self-service is the way: each user gives their own password"

// advice is the profile's LoginAdvice: a refused authzid login on Cyrus
// is a wrong administrator password or an account that may not act for
// users, and Cyrus does not say which ("authentication failure").
func advice(mode string, _ error) string {
	if mode == connector.ModeAdminAuthzid {
		return "Cyrus answers the same to a wrong password and to an account that may not act for users. " + adminAdvice + "."
	}
	return ""
}

// notes adds Cyrus-specific advice to a connection test.
func notes(d *imapconn.Detection) []string {
	var out []string
	rep := d.Report
	if p := rep.Server.Product; p != "" && !strings.HasPrefix(p, "Cyrus") {
		out = append(out, fmt.Sprintf("The server looks like %s, not Cyrus IMAP: the generic IMAP connector may suit it better.", p))
	}
	if d.NamespaceKnown {
		users := "user" + d.Delimiter
		if d.OtherUsersKnown && d.OtherUsersPrefix != "" {
			users = d.OtherUsersPrefix
		}
		switch d.Delimiter {
		case "/":
			out = append(out, fmt.Sprintf("Cyrus runs with unixhierarchysep: yes: folders are separated by \"/\" (%sSent), and an administrator sees users' mailboxes as %sNAME (the other users' namespace), where Tern lists users.", d.Prefix, users))
		case ".":
			out = append(out, fmt.Sprintf("Cyrus runs with unixhierarchysep: no: folders are separated by \".\" (%sSent), and an administrator sees users' mailboxes as %sNAME (the other users' namespace), where Tern lists users; there a \".\" in a user name shows as \"^\" (%sjohn^doe is john.doe), which Tern maps back.", d.Prefix, users, users))
		}
	}
	if d.NamespaceKnown && dotted(d.SampleUser, d.Delimiter) {
		out = append(out, fmt.Sprintf("%q cannot be migrated from this server as it is: %s. Turn unixhierarchysep on (Cyrus needs it for user names with a \".\").", d.SampleUser, dottedHidden))
	}
	authzid := attempt(rep, connector.ModeAdminAuthzid)
	admin := strconv.Quote(d.Admin)
	switch {
	case d.Admin == "":
		if len(rep.Attempts) > 0 && rep.Recommended != connector.ModeAdminAuthzid {
			out = append(out, "Without an administrator, Tern needs each user's password. Give an account listed in admins in imapd.conf as administrator: it acts for every user, and Tern can list the users.")
		}
	case authzid != nil && authzid.OK:
		out = append(out, fmt.Sprintf("The administrator %s acts for users with SASL PLAIN authzid (it is listed in admins or proxyservers): migrations need no user's password, and tern users discover lists the users it may see.", admin))
	case authzid != nil && strings.Contains(authzid.Error, "INBOX does not open"):
		// imapconn's note says to check the sample user.
	case authzid != nil && d.AdminOwn != nil && d.AdminOwn.OK:
		out = append(out, fmt.Sprintf("Cyrus lets an account act for users only if it is listed in admins or proxyservers in imapd.conf (admins also shows it every user's mailbox, for listing users): "+
			"add %s to admins and restart Cyrus, or migrate with self-service (each user gives their own password), the way for a Cyrus server without such an administrator. "+
			"%s may still list users (tern users discover) where it has the lookup right on their mailboxes.", admin, admin))
	case authzid != nil && d.AdminOwn != nil:
		out = append(out, fmt.Sprintf("Cyrus also refused the administrator %s's own login (it says only \"authentication failure\"): the password is wrong, or %s is not in Cyrus's SASL database (saslpasswd2, or whatever sasl_pwcheck_method uses).", admin, admin))
	case authzid == nil && !hasMech(rep, "PLAIN"):
		out = append(out, "Cyrus offers SASL PLAIN, which the administrator needs to act for users, when sasl_mech_list includes PLAIN; without TLS only with allowplaintext: yes.")
	}
	return out
}

func attempt(rep *connector.TestReport, mode string) *connector.LoginAttempt {
	for i := range rep.Attempts {
		if rep.Attempts[i].Mode == mode {
			return &rep.Attempts[i]
		}
	}
	return nil
}

func hasMech(rep *connector.TestReport, mech string) bool {
	for _, m := range rep.Server.AuthMechanisms {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}
