// Package userlist reads the user lists admins upload (the console's
// "import users", `tern migrate --users`) and imports them into a project.
//
// Parse reads a file into a Result: the valid lines as Entry values and
// every bad line as a LineError with its line number and reason, so the
// console can show a preview. Import then writes the valid entries into a
// project.Store. The two are separate so that a preview writes nothing.
//
// # Formats
//
// The format is detected from the first line that is not blank or a
// comment, or forced with Options.Format.
//
// Tern's own CSV (FormatTern) has a header naming its columns, in any
// order and any case: source_user (required; aliases source, user,
// username), target_user (target, email, emailaddress), source_password
// (password) and target_password. Lines starting with # are comments.
// An empty target is the source login (or source@DefaultTargetDomain, if
// set and the login has no @); a target without @ is a login, for
// migrations between IMAP servers, and one with @ must be an address.
//
//	source_user,target_user,source_password,target_password
//	# passwords may be left empty: the connector's credentials are used
//	alice,alice@new.example,,
//	bob,bob@new.example,"pa,ss",
//
// Exchange Online's IMAP migration CSV (FormatExchange) has the header
// EmailAddress,UserName,Password[,UserRoot], in any order and case.
// EmailAddress is the target and must be an address; UserName is the
// source login, kept as written (contoso\terry, terry*mailadmin,
// #terry@old.example#mailadmin#); Password is the source password;
// UserRoot is kept in the entry. Exchange knows no comments, so after the
// header a line starting with # is data (a Mirapoint UserName starts so).
// A UserName may repeat with different UserRoots (an administrator login
// with one root per user); Parse accepts that, Import refuses all but the
// first, since a Tern user is one source login.
//
//	EmailAddress,UserName,Password,UserRoot
//	terry@new.example,terry*mailadmin,AdminPass,
//	ann@new.example,mailadmin,AdminPass,/users/ann
//
// imapsync's batch file (FormatImapsync, see imapsync's FAQ.Massive) has
// no header; each line is host1;user1;password1;host2;user2;password2,
// usually with a trailing ; (an empty last field that keeps a CR out of
// password2). Fields are taken verbatim (no quoting: imapsync's shell loop
// has none); # comments and blank lines are skipped. host1 and host2 are
// kept as SourceHost and TargetHost for the caller to compare with the
// project's connectors; Parse does not judge them.
//
//	# host1;user1;password1;host2;user2;password2;
//	imap.old.example;alice;secret1;imap.new.example;alice@new.example;secret2;
//
// The CSV formats may be delimited by commas, semicolons (what Excel
// writes in much of Europe) or tabs (Excel's "Unicode Text"); the
// delimiter is the one under which the header has the most known names.
//
// # Encoding and whole-file errors
//
// A UTF-8 byte-order mark is dropped; UTF-16 with a byte-order mark
// (Excel's "Unicode Text") is decoded. Anything else must be UTF-8: the
// first line that is not (Latin-1 or Windows-1252 from Excel's plain
// "CSV") is named and the admin is told to save the file as UTF-8.
// Workbooks (.xlsx, .xls), PDFs and other binary files are refused as
// such. Parse returns an error, and no Result, for a file larger than
// Options.MaxBytes (10 MiB by default), with more data lines than
// Options.MaxEntries (50,000), empty, not text or not UTF-8, of no known
// format, or with unknown, repeated or missing required columns. Each
// wraps one of ErrTooLarge, ErrTooManyEntries, ErrEmpty, ErrNotText,
// ErrEncoding and ErrFormat, and says what to do.
//
// # Line errors
//
// A bad line is left out, listed, and the others go on: a wrong number of
// fields, bad CSV quoting, an empty source login, a target that is not a
// bare address (net/mail, and the address must be the whole field),
// white space or control characters in a login, a CR, LF or NUL in any
// field, a field longer than MaxField (320) bytes, and a source login or
// target (any case) already on an earlier line ("duplicate: … is already
// on line N"). An empty password where the column exists is fine: the
// connector's credentials are used for that user. Blank lines, lines of
// empty fields (Excel writes ",,," for empty rows) and comments are
// skipped and not counted.
//
// Line numbers are the file's physical lines, 1-based, the header
// included, as an editor shows them: a record whose quoted field spans
// lines is numbered by the line it starts on.
//
// Passwords are taken as written, except that (as in CSV) white space
// before a field is dropped; quote a password that starts with a space.
//
// # Secrets
//
// No password appears in a LineError (Reason names columns, logins and
// addresses; Text masks every password field with Mask), in an error, or
// in the fmt, slog or JSON output of an Entry or a Result. A line that
// cannot be split into the header's columns shows only its first field,
// and only when the first column is not a password, since which field is
// the password is then unknown. The JSON of an Entry therefore lacks its
// passwords: keep the Result in memory, or parse the upload again,
// between the preview and the import. Parse does not register passwords
// with logx.Redact (thousands of them would slow every log line); callers
// that pass them on to connectors do.
//
// # Import
//
// Import checks every entry against the project's users before it writes
// anything: a source login already there with the same target (any case)
// gets the list's passwords, if any (Updated, else Unchanged); one with
// another target, or a target another source login has, is listed in
// ImportSummary.Errors with the reason and left out, like the lines Parse
// refused. The rest are added with Origin "csv" and their passwords are
// stored in the secrets layer. A user whose passwords cannot be stored is
// deleted again, so none is left half-created; a storage error stops the
// import and says how many users were written.
package userlist
