// Package corpus generates the mail that tests and the benchmark put into
// test servers: the hard corpus of awkward cases (Hard) and a realistic,
// large benchmark corpus (Bench). Both are deterministic: the same call
// always yields the same bytes, flags and dates, so a failure can be
// reproduced and two runs can be compared.
//
// # Messages are generated on demand
//
// A Message carries its flags, INTERNALDATE and exact Size, and produces
// its bytes only when Open is called, as a stream. The 25 MiB message of
// the hard corpus and the 0.8 GB of the benchmark corpus are therefore
// never held in memory whole; a planned message costs a few hundred bytes
// (its header). Bytes reads a message into memory for tests of small ones.
//
// Folder names are UTF-8 with "/" as the logical hierarchy separator and
// "INBOX" for the inbox; seeders translate them to the server's separator
// and to modified UTF-7. Folder.SpecialUse names the RFC 6154 role a folder
// plays (`\Sent`, `\Drafts`, `\Trash`, `\Archive`).
//
// # The hard corpus
//
// Hard returns one mailbox (about 45 small messages and one of 25 MiB)
// whose folders and messages cover these cases; Message.Case names them:
//
//   - Folders: INBOX; Sent, Drafts, Trash, Archive with their special-use
//     meaning; "Entwürfe" (non-ASCII, and a German word for drafts that is
//     not the Drafts folder); "Входящие" and its child "Входящие/Отчёты"
//     (Cyrillic, nested); "日本語" (CJK); "Projects & Plans" and
//     "Projects & Plans/Q1 2024" (spaces, "&", which modified UTF-7 escapes
//     as "&-", nesting). Parents are real folders with a message each.
//   - large-25mib (Archive): exactly LargeSize (25 MiB) bytes, a text part
//     and a base64 PDF attachment, \Seen \Flagged.
//   - bare-lf: every line ends in a bare LF. mixed-line-ends: a CRLF header,
//     LF body lines and a stray CR. Dovecot stores these as given but serves
//     them with CRLF; "byte for byte" compares what servers serve.
//   - no-message-id: no Message-ID field.
//   - dup-message-id-a and -b (INBOX) and -c (Archive): three different
//     messages with the same Message-ID. A tool that deduplicates by
//     Message-ID loses two of them.
//   - 8bit-header-utf8: raw UTF-8 in From, To and Subject, no RFC 2047.
//     8bit-header-latin1: raw ISO-8859-1 bytes (invalid UTF-8) in headers.
//   - mime-bad-boundary (parts use an undeclared boundary),
//     mime-truncated-multipart (cut inside a base64 part, no closing
//     delimiter, no final line end), mime-bad-base64 (invalid characters
//     and padding).
//   - headers-only: header lines and no empty line; headers-only-no-eol:
//     the same with no line end after the last field.
//   - long-header-line: a References field of about 2,500 characters on one
//     line, beyond RFC 5322's 998.
//   - identical-copy: two byte-identical messages with the same flags and
//     date in INBOX; both must arrive.
//   - Flags: flags-none, flag-seen, flag-answered, flag-flagged, flag-draft
//     (outside Drafts), flag-deleted (\Deleted, not expunged), keyword-forwarded
//     ($Forwarded), keyword-junk ($Junk), keywords-custom (Work, todo_later,
//     $label1), flags-all (all five system flags and six keywords).
//   - Special-use contents: sent (one with a Bcc field), draft-no-date
//     (\Draft, no Date field), trash-deleted and trash, archive-old.
//   - folder-name-cjk: an ISO-2022-JP message (RFC 2047 subject, escape
//     sequences in the body).
//   - Dates: INTERNALDATEs walk from January 2015 to 2025 in steps of about
//     97 days, at varied times, in eight zones from -0800 to +1345.
//
// Every other small message (plain, sent, archive-old, folder-name-*) is a
// short plain-text message.
//
// # The benchmark corpus
//
// Bench(users, perUser, seed) plans one mailbox per user with folders INBOX,
// Sent, Archive, Archive/2023, Archive/2024, Projects/Tern, Newsletters and
// Trash (INBOX holds about 45%). Messages have realistic headers (Received
// chains, DKIM-Signature, Cc, In-Reply-To, List-Id, X-Mailer) and dates over
// six years in several zones. Flags: about 80% \Seen, 12% \Answered, 5%
// \Flagged, 4% $Forwarded, 3% $label1; Sent is all \Seen; a third of Trash
// is \Deleted. Sizes: 10% of the messages carry one base64 attachment of
// 100 KB–2 MB, 0.15% (at least one per user of 20 or more) one of
// 10–25 MB, the rest are text of 2–50 KB, log-uniform in each class.
// Attachment bytes are pseudo-random (incompressible, as real PDFs and
// JPEGs are). Four users of 2,000 messages come to about 0.78 GB.
package corpus
