// Package cyrusconn is tern-connector-cyrus: a Cyrus IMAP server as a
// migration source (or target). It is the IMAP connector of
// plugins/internal/imapconn with the [Profile] below; sessions, folders,
// copies and connection tests are that package's. What is Cyrus's own:
// who may act for users, how users are found, and what Cyrus does with
// user names. Everything here was checked against Cyrus IMAP 3.6
// (scripts/cyrus.sh: the instances cyrus, separator "/", and cyrusdot,
// separator ".").
//
// # Credentials
//
// The preferred mode is connector.ModeAdminAuthzid: the administrator
// authenticates with SASL PLAIN, itself as authentication identity and
// the user as authorization identity, and gets the user's session. Cyrus
// allows that to every account in admins (imapd.conf) and to every
// account in proxyservers (mysasl_proxy_policy), no matter the other
// setting. ModePassword serves users' own passwords (per-user,
// self-service). There are no master users and no PROXYAUTH in Cyrus, so
// those modes are refused without a login.
//
// Cyrus answers "authentication failure" both to a wrong password and to
// an account that may not act for users, so a refused authzid login gets
// the profile's advice (Profile.LoginAdvice): who may act for users, and
// that self-service is the way without such an administrator. A
// connection test tells the two cases apart with the administrator's own
// login (see Connection tests).
//
// Cyrus lets an administrator act for any name, even one without a
// mailbox: the login works, and the session would list no folders. So the
// open checks INBOX (Profile.CheckInbox): a user without one is
// connector.KindNotFound, not an empty mailbox.
//
// # Hierarchy and namespaces
//
// With unixhierarchysep: yes the separator is "/" (INBOX/Sent), without
// it "." (INBOX.Sent). A user's folders live below INBOX, the personal
// namespace ("INBOX/" or "INBOX."); an administrator sees every user's
// mailbox in the other users' namespace, "user/" or "user." ("Other
// Users/" with altnamespace: yes), and top-level shared folders in the
// shared namespace. The connector reads all of it from NAMESPACE, never
// from the settings.
//
// Under unixhierarchysep: no, Cyrus writes a "." in a user name as "^" in
// the other users' namespace: john.doe's INBOX is user.john^doe. Worse,
// it then lists such a user none of their own folders, not even INBOX,
// though SELECT and STATUS by name work (checked on cyrusdot: LIST "" "*"
// answers nothing). A session for such a user would look like an empty
// mailbox, and a migration would copy nothing without a word; so Folders
// fails with KindPermanent and the reason (Profile.InboxUnlisted), the
// user listing notes such users, and a connection test with such a
// sample user says so. Cyrus needs unixhierarchysep: yes for user names
// with a "."; under it they are ordinary mailboxes (user/john.doe).
// Reading the folder list through the administrator (LIST
// "user.john^doe.*" on an own login, names mapped back to INBOX.*) would
// work around it; it is not done (the test referee cannot read such
// mailboxes either).
//
// # Listing users
//
// ListUsers (connector.UserLister) logs in as the administrator itself,
// never for a user (the request's Mode is how users' mailboxes will be
// opened, not how they are listed), asks NAMESPACE for the other users'
// namespace (without NAMESPACE: "user" and the separator of LIST "" ""),
// and lists LIST "" "<prefix>%": one mailbox per user, the user's INBOX.
// A name maps back to a login by dropping the prefix and, under ".",
// turning "^" into "."; with virtual domains Cyrus shows
// user/john.doe@example.com (user.john^doe@example.com), and the login
// keeps the domain, which is also the address. Names below a user's
// INBOX ("%" does not cross the separator; anything with the separator
// left in the local part is dropped), outside the prefix, or \NonExistent
// are no users. A \Noselect entry (the administrator sees folders of the
// user but not the INBOX) is kept, with a note; so is the administrator's
// own mailbox, if it has one.
//
// The listing is collected, then handed to the callback in pages of
// imapconn.UsersPageSize (500): LIST has no paging, and calling back in
// the middle of a LIST response would hold the connection while core
// works. Even 100,000 users are a few megabytes.
//
// What an account sees is what its rights allow: an account in admins
// sees every user; another one (noproxyadmin in the tests, which has the
// lookup right "l" on the test users' mailboxes) sees the users it may
// look up, and may list them even though it may not act for them. An
// account that sees no user's mailbox gets KindPermanent with the reason
// (not in admins, no lookup right) rather than an empty list: an empty
// listing is indistinguishable from a permission problem, and a server
// without users has nothing to migrate anyway. A wrong administrator
// password is KindAuth, naming the administrator.
//
// # Connection tests
//
// imapconn tries the administrator's own login and then authzid (the only
// administrator mode offered), and the user's own password when given.
// The profile adds: the separator and what it means for folder and user
// names (from NAMESPACE); for an administrator that acts for users, that
// migrations need no user's password and users can be listed; for one
// that logs in but may not act for users, to add it to admins or to use
// self-service, the way for a server without such an administrator; for
// a wrong password (the own login fails too), that the password is wrong
// or the account is not in Cyrus's SASL database; without SASL PLAIN,
// the settings that offer it; for a dotted sample user under ".", that
// the user cannot be migrated as it is.
//
// # 8-bit headers
//
// Cyrus (munge8bit, its default) replaces every 8-bit byte of a
// message's top-level header with 'X' on APPEND, also under BINARY
// (literal8). As a source this does not matter: the connector copies
// what Cyrus serves. As a target, such a message is stored changed;
// the connector does not (yet) add a note to the append result. The SDK's
// conformance suite, which compares bytes, therefore runs in a child
// process, and the test accepts exactly the differences
// testserver.CyrusStores predicts (see conformance_test.go).
package cyrusconn
