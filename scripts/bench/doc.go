// Command bench measures Tern against mbsync (isync) on the loopback
// Dovecot instances of scripts/test-servers.sh. Run it as
// scripts/bench.sh (or `make bench`); flags are listed by -h.
//
// # What it does
//
//  1. Starts the test servers (idempotent) and builds bin/tern and
//     bin/tern-connector-imap if they are missing (-build rebuilds).
//  2. Seeds corpus.Bench(-users, -per-user, -seed) into fresh users on "src"
//     over -seed-conns APPEND connections per user, and reports the time.
//     -reuse PREFIX skips this and uses users kept by an earlier -keep run.
//  3. Snapshots the source (testserver.TakeSnapshot: SHA-256 of every
//     message as served, INTERNALDATE, flags).
//  4. Tern: writes users.csv (source_user,target_user), runs
//     `bin/tern migrate --source imap … --target imap … --users users.csv
//     --state DIR --plugins bin --json` plus -tern-args, with the passwords
//     in TERN_SOURCE_PASSWORD and TERN_TARGET_PASSWORD, into fresh users on
//     "dst"; then runs the same command again (the no-change re-run, same
//     state directory); then compares every target with its source
//     (testserver.Diff). Any difference, or a non-zero exit, fails the run.
//  5. mbsync: one configuration per user (Far = src, Near = dst, Patterns *,
//     Create Near, Sync Pull, Expunge None, CopyArrivalDate yes), one mbsync
//     process per user, -mbsync-parallel (4) at once, into other fresh users
//     on "dst"; the same again as the no-change re-run; then the same
//     comparison with the X-TUID header field (which mbsync adds to every
//     message) ignored. Its differences are reported, not fatal.
//  6. Prints a table of both tools and the tern/mbsync ratios, or JSON
//     (-json); deletes the users and the work directory unless -keep.
//
// -only tern, -only mbsync or -only seed run one part.
//
// # What is measured
//
// Wall time from starting the first process to the end of the last;
// messages/s and MB/s over the source's messages and served bytes; CPU as
// user+sys time of the started processes including their reaped children
// (wait4 rusage). Memory: every -sample (20 ms) the sampler walks /proc to
// find the started processes and all their descendants (tern and its
// tern-connector-* children; the mbsync processes) and sums their VmRSS;
// the largest sum is the peak RSS. It also keeps each process's largest
// VmHWM; their sum is an upper bound (processes peak at different times)
// that also catches peaks shorter than the sampling interval.
//
// Exactness: "messages with other bytes" counts target messages whose
// served bytes differ from the source's (every mbsync message, for its
// X-TUID); "differing" counts, after ignoring X-TUID, messages missing,
// duplicated, foreign, or with another INTERNALDATE or other flags
// (mbsync 1.4 drops keywords other than $Forwarded, for example).
//
// The Dovecot servers share the machine's cores with the tool measured,
// as they would on a 2-core appliance talking to local servers; the
// numbers compare tools under the same conditions rather than measure
// either in isolation.
package main
