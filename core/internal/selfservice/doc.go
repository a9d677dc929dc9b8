// Package selfservice lets users migrate their own mailbox when no
// administrator account exists on the source: an administrator sends
// them an invitation e-mail with a link; each user opens it, enters their
// own password (verified by a live login on the source), and the
// migration runs on the appliance under the project's self-service
// schedule, whether or not the browser stays open. The user gets an
// e-mail when it is done or failed, and the password is deleted some time
// after the migration ended.
//
// # The flow
//
//  1. Send (console: users page, "Send invitations"; API POST
//     /projects/:p/invitations): for each selected user a random
//     invitation id and an expiry (Settings.LinkDays, default 14 days)
//     make a signed link, rendered into the project's invitation
//     template and sent with the mailer. Sending again makes a new link
//     (the old one stops working) with a new expiry.
//  2. Open (GET /s/<token>): the page names the source server and asks
//     for the password (and the login, if Settings.AllowLogin).
//  3. Submit (POST /s/<token>): the password is checked by opening the
//     mailbox on the project's source connector (runner.VerifyLogin: the
//     connector's plugin and settings, a plain password login, through
//     the login guard if one is given). A refused password says so and
//     may be retried; a server that cannot be reached says "try again
//     later". An accepted password goes to the secrets layer
//     (project.Store.SetUserPasswords: secrets.MailboxSource(user)), a
//     login of the user's own to User.SourceLogin, and the user joins the
//     project's standing batch "self-service" (scheduler.AddToBatch).
//  4. The pass runs under the batch's schedule (Settings.Windows,
//     Settings.Concurrency; default any time). The status page polls the
//     user's own progress. When the pass ends (scheduler
//     Options.OnPassEnd → [Service.PassEnded]) the invitation is done or
//     failed and the user gets the done or failed e-mail, once.
//  5. The retention sweeper ([Service.Start]) deletes the password
//     Settings.RetentionHours after the migration ended (default a week,
//     so that an administrator's delta passes still work; 0 deletes it
//     at once). After that another pass needs a new invitation: the user
//     enters the password again and the user's pass runs again in the
//     self-service batch (a delta: the ledger knows what was copied).
//
// # States
//
//	sent ──open──▶ opened ──password verified──▶ credentials ──queued──▶ migrating
//	                 ▲                                                     │
//	                 │ password entered again        pass ended: done ◀────┤
//	               failed ◀────────────────────────── pass failed ◀────────┘
//	any ──Revoke──▶ revoked          any but migrating ──Send──▶ sent (a new link)
//
// "credentials" is brief: the password is stored and the user is being
// queued; it stays only when queuing failed (the user is asked to try
// again later). A failed migration's page asks for the password again
// (the failed e-mail says so). Revoking stops the link only: a running
// migration goes on (without an e-mail), and a re-send makes a new link.
//
// # The link
//
// The token is
//
//	base64url(id ‖ expiry) "." base64url(HMAC-SHA256(key, version, project, user, id, expiry))
//
// with a 128-bit random id, the expiry in Unix seconds (8 bytes, big
// endian), and each signed field length-prefixed. The 32-byte key lives in
// the secrets layer at [KeyPath] (secrets.Key("selfservice-signing")),
// made on first use; it never goes to the state store or a log. The
// state store holds the invitation (v1/invitation/<project>/<user>) and
// an index from the id to it (v1/invitationid/<id>): a copy of the state
// store makes no link. [Service.Verify] checks, in constant time, the
// signature, then that the id is the user's current one (not superseded
// by a re-send), that the token's expiry is the record's and has not
// passed, that the invitation is not revoked and the user still exists.
// Every failure is the one error [ErrInvalidLink], and the public page
// shows one page (same status, same body) for all of them, so that no
// one can tell an expired link from a forged one or learn whether a user
// exists. The id is not a secret on its own; the signature is what makes
// a link.
//
// # Templates
//
// Each project has three editable e-mails (invitation, done, failed),
// Go text/template over [TemplateData]: .Login (the source login), .Address
// (the target address), .Server (the source connector's host), .Link,
// .Expires (the link's expiry, written out), .Project (the project's
// name), .Copied (messages copied, for done and failed) and .Reason
// (why it failed, in plain words). Templates are validated on save by
// parsing and executing them with [SampleData]; the invitation must
// contain the link; the subject is one line. English defaults:
// [DefaultTemplates].
//
// # Recipient
//
// Invitations go to the user's source login when it is an e-mail
// address, else to the target address ([RecipientSource], the default:
// before the move the user reads the source mailbox); [RecipientTarget]
// always uses the target address. A user with neither is reported and
// left out.
//
// # Security decisions
//
//   - The password is checked by a live login before it is accepted, and
//     only then stored, in the secrets layer only. It is registered with
//     logx.Redact, never logged, never echoed back to a page, never in a
//     record, report or error.
//   - Refused passwords are limited per link (Options.LinkAttempts,
//     default 5 per 15 minutes) and per client address
//     (Options.AddressAttempts, default 20 per 15 minutes), in memory;
//     the runner's login guard, when given, adds its per-account and
//     per-server limits, so that the public page cannot be used to lock
//     an account or get the appliance banned by the source server.
//   - The public page needs no login but carries the console's CSRF
//     check (the csrf cookie of visitors without a session) and strict
//     CSP, and shows nothing of the console; its status shows only the
//     link's user's own numbers.
//   - Self-service passwords are deleted after the retention; deleting
//     the user deletes them at once (project.Store.DeleteUser).
//
// # Standing batch
//
// A project has one self-service batch (Settings.Batch), made on first
// use with the self-service schedule and submitted; users join its
// current pass one by one (scheduler.AddToBatch reopens it when it was
// done, without re-running the users that finished). When an
// administrator cancels or deletes it, the next user gets a new one.
// Changing the schedule on the settings page changes the batch's.
package selfservice
