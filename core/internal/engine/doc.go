// Package engine migrates one mailbox: it maps folders, diffs the source
// against the ledger, streams missing messages from source to target and
// records every outcome. "Run one mailbox job" ([Engine.Run]) does not know
// where the job came from (the CLI, the console's scheduler, or one day a
// work queue), so the engine can move behind a distributed queue unchanged.
//
// # A pass
//
//  1. Open the source and target sessions with the job's credentials,
//     fetched through Endpoint.Request at that moment.
//  2. List both hierarchies and make a [Plan]: include/exclude, rename
//     rules, hierarchy delimiters and namespace prefixes translated,
//     special-use folders mapped onto the target's folders of the same use.
//  3. Per folder: status, create the target folder (its watermark marks
//     the pass), reconcile entries left in flight by an earlier pass, then
//     list the source in pages — since the last checkpoint when the folder's
//     validity is unchanged — and compare each message with the ledger.
//  4. Missing messages are marked in flight (one durable write per page)
//     and copied by a pool of workers shared by the mailbox's folders. When
//     both sessions live in one plugin process, small messages go in
//     batches through connector.SourceCopier and bodies never leave the
//     plugin (IMAP → IMAP: one FETCH and one MULTIAPPEND per batch); a batch
//     that fails is retried message by message, each looked up first if it
//     may have landed. Otherwise each copy streams the body from Fetch into
//     Append through core, never holding it whole.
//  5. The target's acknowledgement commits the entry. When a folder
//     finished without failures its new checkpoint is stored; otherwise the
//     next pass lists from the old one and retries.
//
// # Exactly once
//
// See package ledger for the protocol. An append that failed in a way that
// does not prove it was refused (a dropped connection, a crashed plugin) is
// looked up on the target before it is retried. After a change of
// UIDVALIDITY the folder's messages are matched by fingerprint against the
// old entries, as a multiset, and only unmatched ones are copied.
//
// # Errors
//
// Errors are judged by kind (connector.KindOf), never by text. Per message:
// temporary errors are retried with exponential backoff (or the server's
// retry-after hint); throttling is waited for as long as the server asks
// (up to a day per wait: a daily limit pauses the mailbox, and its
// progress says until when) without using up the message's attempts;
// too-large and permanent refusals make the message
// skipped, with the reason in the report and the ledger; a message deleted
// on the source meanwhile is counted as vanished. A refused login ends the
// job. ErrUnavailable reopens the session that failed (a restarted plugin
// gets new sessions). No error ends a job because of one message.
//
// # Memory
//
// The engine's byte budget (Config.MemoryBudget) is shared by all jobs: a
// transfer acquires the memory its chunks need (not the message's size),
// so memory stays bounded whatever the message sizes and however many
// mailboxes run.
//
// # Secrets
//
// Credentials pass through the engine only on their way to a connector's
// open call. Error texts that reach reports and logs are scrubbed of every
// credential seen, in case a connector quotes one.
package engine
