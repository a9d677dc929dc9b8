// Package gmailconn is the Google Workspace connector (tern-connector-gmail):
// Gmail as a migration target and source through the Gmail API
// (google.golang.org/api/gmail/v1), and user listing through the Admin SDK
// Directory API. The rules it follows are in
// /work/shared/reference/target-apis.md §1; the emulator its tests run
// against is plugins/gmail/gmailtest.
//
// # Credentials
//
// A service account with domain-wide delegation opens every mailbox. Its
// JSON key is the connector's "magic password" (administrator password
// without an administrator user), so it lives in the secrets layer and
// arrives as Credential{Mode: password, Username: <mailbox>, Secret: <key
// JSON>}. The connector signs a JWT-bearer grant with Subject = the
// mailbox, to the key's token_uri (tests point it at the emulator), and
// caches one token source per key, mailbox and scope. Scopes, as narrow
// as each role allows:
//
//   - target: gmail.modify. Import alone would need gmail.insert (+
//     gmail.labels), but look-ups by rfc822msgid: need read access and
//     adding a label to a message imported from another folder needs
//     modify; gmail.modify is the one scope that covers all of it.
//   - source: gmail.readonly.
//   - user listing: admin.directory.user.readonly, impersonating the
//     administrator of the admin_email setting.
//
// A refused delegation or scope (unauthorized_client), an unknown user
// (invalid_grant) or a deleted key (invalid_client) is ErrAuth naming the
// client ID and the scope to authorise in the Admin console; it is never
// retried. A 401 from the API gets one fresh token, then ErrAuth.
//
// # Target
//
// Append imports with users.messages.import: the raw bytes unchanged,
// internalDateSource=dateHeader, neverMarkSpam=true,
// processForCalendar=false and explicit labelIds. The body is spooled
// first (memory up to 8 MiB, then an unlinked temporary file), so its size
// is checked and a rate-limited import can be sent again. The Go client
// sends one multipart request when the message fits in one chunk
// (resumable_above, 5 MiB by default) and a resumable upload in chunks of
// that size otherwise. Messages over 52,428,800 bytes are ErrTooLarge
// before anything is read (the engine skips them with the reason), and so
// is Gmail's own 413.
//
// Folders are labels (see [LabelName] for the exact rule): INBOX; \Junk →
// SPAM; \Trash → TRASH; \Sent and \Drafts → the user labels of the
// sent_label and drafts_label settings ("Sent (imported)", "Drafts
// (imported)"), because an import cannot set SENT or DRAFT; other names
// are user labels nested with "/", each component trimmed, empty ones
// "_", and a component that is a reserved name (inbox, spam, trash, sent,
// draft(s), archive, …) suffixed " (imported)". Parents are created
// first. A name that matches an existing label case-insensitively is that
// label (Gmail compares names that way), and a 409 on create makes the
// connector list the labels again and use the one found. The target's
// folder list shows SPAM, TRASH and the sent and drafts labels with their
// special uses, so the engine maps special-use folders onto them.
//
// Flags: no \Seen → UNREAD, \Flagged → STARRED; with keyword_labels,
// keywords → labels under keyword_label_prefix; everything else
// (\Answered, \Draft, \Deleted, keywords otherwise) is in
// AppendResult.DroppedFlags, which the engine reports per message.
//
// Fidelity notes (AppendResult.Notes, one report line per message): a
// message in the sent or drafts label (SENT/DRAFT not settable); Gmail's
// date (taken from the Date: header, or the import time without a valid
// one) differing from the source's INTERNALDATE by more than
// date_note_tolerance (an hour); a merge with a message imported from
// another folder.
//
// One message in several folders is one Gmail message with several
// labels: before importing, Append searches rfc822msgid:<Message-ID>
// (5 units) and fetches each candidate's raw content once per session to
// compare size and fingerprint; a match that lacks this folder's label
// gets it (messages.modify, merging flags: read if any copy was read,
// starred if any was flagged) instead of a second import. A match that
// already has the label is a different copy: identical messages in one
// folder stay separate messages, as a mailbox is a multiset. Messages
// without Message-ID are always imported.
//
// # Exactly once
//
// Ref is the Gmail message ID. EnsureFolder's watermark is the mailbox's
// historyId. Lookup finds a message in a folder by rfc822msgid: (or,
// without Message-ID, among the messages history.list shows added to or
// labelled with the folder's label since the watermark), keeping those
// with the folder's label, the exact size and fingerprint and a message
// historyId after the watermark. So after a connection reset that
// followed Gmail's commit, the engine's look-up finds the message and
// nothing is imported twice.
//
// # Quotas and errors
//
// The split between the connector and the engine:
//
//   - Pacing is the connector's: a token bucket per mailbox (shared by its
//     sessions in the plugin process) at units_per_minute (15,000) with the
//     documented cost of each call (import 25, list/get/modify 5, labels 1
//     or 5, history 2). It refills at (ceiling − burst)/60 a second with a
//     burst of 100 units, so no minute ever exceeds the ceiling and the
//     connector does not provoke 403s in the first place.
//   - Answers that prove nothing happened — 403 userRateLimitExceeded or
//     rateLimitExceeded, 429 — are retried in the connector with
//     exponential backoff (1 s doubling to 60 s, plus up to 1 s of jitter,
//     at least the Retry-After), up to max_retries; then ErrThrottled with
//     a retry-after of a minute goes to the engine.
//   - Server errors (5xx) and dropped connections are retried in the
//     connector only for calls that are safe to repeat (reads, label
//     look-ups, modify). For an import they go to the engine as
//     ErrTemporary, which looks the message up before it tries again: a
//     503 may come after Gmail stored the message.
//   - dailyLimitExceeded blocks the mailbox until the next midnight
//     Pacific time: ErrThrottled with a retry-after until then, and every
//     call before that fails at once without a request. (The engine caps
//     retry-after hints at its MaxRetryAfter and gives up a message after
//     MaxAttempts; such messages stay in flight and the next pass takes
//     them. A pause of the whole mailbox until the hint is a change for
//     the engine.)
//   - Other refusals are not retried: 400 → ErrPermanent (ErrTooLarge
//     when it says the message is too large), 401/403 → ErrAuth, 404 →
//     ErrNotFound.
//
// # Source
//
// Folders are INBOX, SENT, DRAFT, SPAM, TRASH (with special uses), the
// user labels, and a virtual "Archive" folder (\Archive) for messages
// without any folder label. STARRED and UNREAD are flags; IMPORTANT and
// CATEGORY_* are Gmail's classification, not folders. Each message is
// listed once, in its primary folder: TRASH, then SPAM, INBOX, SENT,
// DRAFT, then its first user label by name, else Archive — unless
// list_in_every_label lists it in each label (one copy per folder, like
// Gmail's IMAP). Listing takes the IDs with messages.list (500 a page),
// sorts them ascending, and gets each message with format=raw, decoding
// the base64 as it streams and keeping only the header section, because
// the exact size and fingerprint need the bytes; Fetch gets it again into
// a spool so its size is known before the first byte. Validity is the
// label ID; the checkpoint is the mailbox's historyId, and a delta lists
// what history.list shows since then (new or moved messages in full,
// flag changes as FlagsOnly); a history too old (404) lists everything.
//
// # Users
//
// ListUsers pages through Directory users.list (customer my_customer,
// 500 a page), leaves suspended users out and notes archived users and
// mailboxes not set up yet.
//
// # Settings for tests
//
// endpoint and directory_endpoint point the connector at an emulator;
// the key's token_uri points the token requests there; ca_file and
// insecure_skip_verify cover an emulator on TLS. Options.Clock lets tests
// run the limiter and backoff on the emulator's virtual clock.
package gmailconn
