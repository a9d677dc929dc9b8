// Package gmailtest is a Gmail API emulator for tests: an httptest server speaking the subset of the Gmail API,
// the Admin SDK Directory API and Google's OAuth2 token endpoint that the Gmail connector uses. The real service
// cannot be reached from here, so every rule below comes from the documentation gathered in
// /work/shared/reference/target-apis.md (cited as §n), and each is shown by a test of this package.
//
// # Use
//
//	srv := gmailtest.New(t)                       // closed by t.Cleanup; a VirtualClock at DefaultStart
//	srv.AddUser("alice@example.com")               // a mailbox with the system labels, and a Directory entry
//	srv.AddUser("admin@example.com", gmailtest.Admin())
//	sa := srv.AddServiceAccount(gmailtest.ServiceAccountConfig{Domains: []string{"example.com"}})
//	key := sa.KeyJSON()                            // the key file; token_uri is srv.TokenURL()
//
//	cfg, _ := google.JWTConfigFromJSON(key, gmail.GmailInsertScope, gmail.GmailLabelsScope)
//	cfg.Subject = "alice@example.com"
//	svc, _ := gmail.NewService(ctx, option.WithEndpoint(srv.Endpoint()), option.WithHTTPClient(cfg.Client(ctx)))
//
//	srv.RawMessage("alice@example.com", id)        // the exact stored bytes
//	srv.Messages("alice@example.com")              // labels, internalDate, threadId, the parameters sent
//	srv.AddFault(gmailtest.ResetAfterCommit("messages.import"))
//	srv.Advance(time.Minute)                       // quota refill, token expiry
//	srv.Requests(); srv.MaxInFlight("alice@example.com")
//
// golang.org/x/oauth2/jwt leaves oauth2.RetrieveError.ErrorCode empty: read "error" from RetrieveError.Body
// to tell unauthorized_client (a permanent configuration error) from the rest.
//
// # Rules
//
// Auth (§1.1, §5.1.8):
//   - POST /token takes grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer only (else 400
//     unsupported_grant_type). The assertion must be RS256-signed by the service account's key (kid, if present,
//     = private_key_id), iss a known client_email, aud the key's token_uri (or https://oauth2.googleapis.com/token),
//     exp in the future, exp−iat ≤ 1 h, a non-empty scope; else 400 invalid_grant / invalid_scope with Google's
//     error_description. The assertion's times are checked against real time (the client stamps them so).
//   - Domain-wide delegation: sub must be a user of the server in a domain the account is delegated for, and every
//     requested scope must be in the account's allowed set; else 401 unauthorized_client. SetDelegation changes
//     both mid-test.
//   - Access tokens are bound to (subject, scopes, project) and expire on the server's clock (WithTokenLifetime,
//     default 1 h). No or unknown or expired bearer → 401 (required / authError "Invalid Credentials").
//   - A scope that covers the method (the per-method lists of the discovery documents) is required → else 403
//     insufficientPermissions. gmail.metadata alone cannot use format=raw|full or q → 403.
//   - {userId} must be "me" or the token's subject → else 403 "Delegation denied for <subject>". A token without
//     subject, a suspended user or one without a mailbox → 400 failedPrecondition.
//
// Messages (§1.2, §5.1.1–§5.1.5):
//   - users.messages.import and insert on /upload/… and /resumable/upload/… with uploadType=multipart
//     (multipart/related: JSON metadata, then the message/* part, read raw), media (bytes only, so no labelIds) and
//     resumable (200 + Location with upload_id; chunks by PUT or POST with Content-Range; 308 + Range until the
//     last byte, or 200 + X-HTTP-Status-Code-Override: 308 when the client sends X-GUploader-No-308: yes; status
//     query "bytes */*"; chunks other than the last must be multiples of 256 KiB; a resent chunk must carry the same
//     bytes); and the JSON endpoint with raw in base64url — '+', '/' and '=' padding are refused (the strict reading
//     of a [U] rule: what passes here passes Gmail). An /upload path without uploadType → 400.
//   - Media Content-Type must be message/* → else 400 "Media type '…' is not supported. Valid media types:
//     [message/*]" (the Go client sniffs text/plain unless given googleapi.ContentType).
//   - More than 52,428,800 bytes (MaxMessageSize, WithMaxMessageSize) → 413 uploadTooLarge with Google's error
//     body, also when a resumable session declares it in X-Upload-Content-Length. Nothing is stored.
//   - The bytes are stored exactly (sha256-equal); RawMessage returns them.
//   - internalDateSource defaults to dateHeader for import and receivedTime for insert; dateHeader with a missing
//     or unparseable Date: → the clock's now (Message.DateFallback records it, §1.9). internalDate and historyId
//     are JSON strings. Other values of internalDateSource → 400.
//   - labelIds: an unknown id, SENT or DRAFT → 400 invalidArgument "Invalid label: X", nothing stored. Import
//     applies exactly the given labels (none if none); insert adds SENT when From: is the user; import's
//     classification (WithSpamMarker) puts a matching message in SPAM instead of INBOX unless neverMarkSpam=true.
//     neverMarkSpam, processForCalendar and deleted are recorded in Message.Params; deleted=true messages are
//     hidden from list/get/history (Vault-only).
//   - Responses: the Message resource (id, threadId, labelIds, internalDate, historyId, sizeEstimate).
//
// Reading (§1.4, §1.7, §5.1.9):
//   - messages.list: q with rfc822msgid:<id> (angle brackets optional, case-insensitive), label:name (Gmail's
//     folding: case, '/', ' ' and '-' alike), in:, is:unread|read|starred|important; labelIds (all must match);
//     SPAM and TRASH left out unless includeSpamTrash, in:spam|trash|anywhere or labelIds name them; newest
//     internalDate first; maxResults default 100, at most 500; pageToken/nextPageToken; resultSizeEstimate. A q
//     operator the emulator does not know fails the test (t.Errorf) and answers 400, so that no search silently
//     matches nothing.
//   - messages.get: format=raw (padded base64url), minimal, metadata (metadataHeaders), full (headers and size
//     only, see below); unknown id → 404.
//   - messages.modify and batchModify (at most 1000 ids, 204): unknown labels, adding SENT/DRAFT → 400.
//   - getProfile: emailAddress, messagesTotal, threadsTotal, historyId.
//   - history.list: startHistoryId required; messageAdded, labelAdded, labelRemoved records (historyTypes,
//     labelId filters), paging; an id older than what is kept (ExpireHistory) → 404.
//   - Threads: a message joins the thread of a message its In-Reply-To/References name.
//
// Labels (§1.3, §5.1.4): the system labels exist in every mailbox and cannot be renamed or deleted (400). Names
// with leading or trailing blanks, and reserved names compared case-insensitively (the system label names plus
// GYB's list: inbox spam trash unread starred important sent draft drafts chat chats migrated todo todos buzz bin
// allmail archive archived muted, and WithReservedLabelNames for localized ones) → 400 "Invalid label name". A
// name equal to an existing one case-insensitively → 409 aborted "Label name exists or conflicts". "a/b" needs no
// "a". labels.list has no paging; delete takes the label off its messages.
//
// Directory (§1.8, §5.1.10): GET /admin/directory/v1/users with customer=my_customer (or CustomerID) or
// domain=…, maxResults 1–500 (default 100), nextPageToken; every user is listed, suspended and archived ones
// with their flags; the subject must be an admin (else 403); scope admin.directory.user[.readonly].
//
// Quotas (§1.5, §5.1.6), on the server's Clock (VirtualClock, or ScaledClock for real-time end-to-end tests):
//   - per user: a bucket of 15,000 units per minute (WithUserQuota), refilled continuously; costs from the quota
//     page: import/insert 25, messages.list/get/modify 5, batchModify 50, labels.create/patch/update/delete 5,
//     labels.list/get 1, getProfile 1, history.list 2. Over it → 403 userRateLimitExceeded
//     {"error":{"code":403,"message":"User Rate Limit Exceeded","errors":[{"domain":"usageLimits",
//     "reason":"userRateLimitExceeded","message":"User Rate Limit Exceeded"}],"status":"PERMISSION_DENIED"}}.
//   - per project (the service account's project_id): 1,200,000 units per minute (WithProjectQuota) → 403
//     rateLimitExceeded. A daily budget per project (WithDailyLimit, reset at midnight Pacific) → 403
//     dailyLimitExceeded.
//   - WithUserConcurrency(n): request n+1 of a user → 429 rateLimitExceeded "Too many concurrent requests for
//     user" with Retry-After. Refused requests are not charged.
//
// Faults (§5 cross-cutting, §5.1.7): AddFault(Fault{…}) matches by Op, Method, PathContains, User, from the Nth
// matching request, Times times (Always); effects: a status with Google's error body (503 backendError, 429,
// …, with Retry-After), a Delay (slow response), Reset (TCP reset, nothing done) and ResetAfterCommit (the message
// is stored, then the connection is reset without a response; only committing requests count). A resumable
// upload's chunks match their session's op.
//
// Observation: Requests() is the log (time, method, path, query, op, user, credential, status — 0 for a reset —,
// fault, duration); InFlight/MaxInFlight per user and CredentialInFlight/MaxCredentialInFlight per client_email.
//
// # Not emulated
//
//   - The batch endpoint (/batch/gmail/v1, §1.6): absent (the Go client has no batch support); a request to it, or
//     to any other path, fails the test.
//   - Gmail's own threading by subject, its re-threading, CATEGORY_*/IMPORTANT classification, snippets, MIME
//     parsing for format=full (payload has the headers and size, no parts), drafts, send, trash/untrash/delete,
//     threads.*, settings, watch/push, attachments.get.
//   - Message-ID de-duplication by Gmail ([U] in §1.4): every import stores a new message.
//   - Any validation of the message itself (Gmail may refuse malformed headers, §1.9): all bytes are accepted.
//   - The real size ceiling is uncertain: target-apis.md keeps 50 MiB, but the discovery document of
//     google.golang.org/api v0.313.0 says maxSize 157286400 (150 MiB), like the localized page in §1.2. The error
//     body of a 413 (reason uploadTooLarge) is not documented.
//   - Exact texts marked [U] in the reference: unauthorized_client for an unknown user (Google may answer
//     invalid_grant "Invalid email or User ID"), the 429 reasons, whether 403 rate limits carry Retry-After (they
//     do not here).
//   - Upload session expiry, the Directory API's own quotas, IMAP, per-user bandwidth and daily upload limits, and
//     the "at least a week" retention of history ids (ExpireHistory instead).
package gmailtest
