#!/usr/bin/env bash
# Benchmarks Tern against mbsync on the loopback Dovecot instances of
# scripts/test-servers.sh: seeds a realistic corpus (default 4 users ×
# 2,000 messages, about 0.8 GB) into "src", migrates it to fresh users on
# "dst" with `bin/tern migrate` and with mbsync, measures wall time,
# throughput, CPU and peak RSS of each, re-runs both with nothing changed,
# and verifies the targets message by message. See scripts/bench/doc.go.
#
#   scripts/bench.sh                     full run, table on stdout
#   scripts/bench.sh -json               results as JSON
#   scripts/bench.sh -only mbsync        one side only (also: tern, seed)
#   scripts/bench.sh -users 2 -per-user 200 -keep
#   scripts/bench.sh -tern-args "--concurrency 8"
#
# Progress goes to stderr. The exit status is 0 when Tern migrated
# everything exactly (mbsync's inexactness is reported, not fatal).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench "$@"
