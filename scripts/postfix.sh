#!/usr/bin/env bash
# A real Postfix (Debian's package) for the tests: a private instance on
# loopback ports that delivers into the Dovecot "src" instance of
# scripts/test-servers.sh, which calls this script, so a message sent to
# <user>@test.example lands in the INBOX of the IMAP user <user> on
# 127.0.0.1:10143 (password "secret", as every src user).
#
#   scripts/postfix.sh install   install postfix and dovecot-lmtpd (idempotent;
#                                run by install-deps.sh); the system's own
#                                Postfix stays unconfigured, stopped, disabled
#   scripts/postfix.sh start     configure and start the instance (idempotent)
#   scripts/postfix.sh stop      stop it
#   scripts/postfix.sh status    show what runs
#
# Listeners (127.0.0.1 only):
#   10025  SMTP: plain, STARTTLS offered
#   10465  submissions: implicit TLS; only authenticated clients may send
# The certificate is the test CA's server certificate (ca.pem, server.pem of
# scripts/test-servers.sh: localhost and 127.0.0.1).
#
# SMTP AUTH (PLAIN, LOGIN; allowed without TLS too, as on the Dovecot
# instances: loopback only) checks the account
#   tern-mailer   mailer-secret
# through a Dovecot auth socket (smtpd_sasl_type = dovecot) of a small
# Dovecot of its own (no protocols, a passwd-file passdb), not src's
# "every user, one password" passdb.
#
# Mail for test.example (and for a bare local part, which gets @test.example)
# is accepted from anyone (on 10025) and goes at once over LMTP to src's
# listener on 127.0.0.1:10024, which drops the domain: bob@test.example is
# src's "bob" (Dovecot drops a "+detail" too). Postfix adds its Received
# line, Dovecot a Return-Path and its own Received; the rest arrives byte
# for byte. Other domains are refused at RCPT TO: without AUTH as a relay
# ("554 5.7.1 ... Relay access denied"), with AUTH because nothing leaves
# the machine (the default transport is an error transport: "550 5.7.1 ...
# the Tern test Postfix delivers only to test.example"). No DNS is used,
# and no connection leaves 127.0.0.1. The queue is retried every second,
# so a deferred LMTP delivery (src down) goes on as soon as src is back.
#
# Paths: everything in $TERN_TEST_SERVERS_DIR/postfix (default
# /tmp/tern-test-servers/postfix): config/ (main.cf, master.cf; postfix -c),
# queue/, data/, log/postfix.log (Postfix's log, by postlogd), auth/ (the
# SASL Dovecot: dovecot.conf, users, its socket sasl, log/dovecot.log).
set -euo pipefail

DIR=${TERN_TEST_SERVERS_DIR:-/tmp/tern-test-servers}
P=$DIR/postfix
CONF=$P/config
PORT=10025
TLSPORT=10465
LMTP=127.0.0.1:10024
DOMAIN=test.example
MAILER=tern-mailer MAILER_PASSWORD=mailer-secret
PACKAGES=(postfix dovecot-lmtpd)

log() { echo "postfix: $*"; }
die() { echo "postfix: $*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root (Postfix's master runs as root)"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install() {
	need_root install
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		# "No configuration": no /etc/postfix/main.cf, so the system's
		# Postfix has nothing to run and never listens on port 25.
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		log "installing ${missing[*]}"
		if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/tern-postfix-apt.log 2>&1; then
			apt-get update -qq
			apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/tern-postfix-apt.log 2>&1 ||
				{ cat /tmp/tern-postfix-apt.log >&2; die "apt-get install failed"; }
		fi
	else
		log "already installed (postfix $(dpkg-query -W -f='${Version}' postfix))"
	fi
	# The system's Postfix and Dovecot services are never used.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl stop postfix >/dev/null 2>&1 || true
		systemctl disable postfix >/dev/null 2>&1 || true
	fi
	if [ -f /etc/postfix/main.cf ] && postfix status >/dev/null 2>&1; then
		postfix stop >/dev/null 2>&1 || true
	fi
}

# replace FILE: FILE.new becomes FILE if it differs (Postfix waits two
# seconds at start when main.cf is brand new); false if it did not.
replace() {
	if cmp -s "$1.new" "$1"; then
		rm -f "$1.new"
		return 1
	fi
	mv "$1.new" "$1"
}

port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of PIDFILE COMM: the live process of PIDFILE if its name is COMM.
pid_of() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(tr -d ' \n' <"$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
	echo "$pid"
}
postfix_pid() { pid_of "$P/queue/pid/master.pid" master; }
auth_pid() { pid_of "$P/auth/run/master.pid" dovecot; }

# The SASL Dovecot: no protocols, only an auth service whose socket
# Postfix's smtpd (user postfix) connects to.
write_auth() {
	local a=$P/auth
	printf '%s:{PLAIN}%s::::::\n' "$MAILER" "$MAILER_PASSWORD" >"$a/users"
	chmod 0644 "$a/users"
	cat >"$a/dovecot.conf.new" <<EOF
# Generated by scripts/postfix.sh: SASL for the test Postfix.
base_dir = $a/run
instance_name = tern-postfix-auth
state_dir = $a/state
log_path = $a/log/dovecot.log
protocols = none
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $a/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $a/users
  default_fields = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener $a/sasl {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

start_auth() {
	local a=$P/auth pid
	mkdir -p "$a/run" "$a/state" "$a/log"
	write_auth
	if pid=$(auth_pid); then
		replace "$a/dovecot.conf" || return 0
		dovecot -c "$a/dovecot.conf" reload
	else
		replace "$a/dovecot.conf" || true
		rm -f "$a/sasl"
		# Dovecot keeps its standard error open: never the caller's (go
		# test would wait for it to close).
		dovecot -c "$a/dovecot.conf" 2>>"$a/log/dovecot.log" </dev/null >/dev/null
	fi
	local _
	for _ in $(seq 1 50); do
		[ -S "$a/sasl" ] && return 0
		sleep 0.1
	done
	tail -20 "$a/log/dovecot.log" >&2 || true
	die "the SASL Dovecot did not start; see $a/log/dovecot.log"
}

write_postfix() {
	cat >"$CONF/main.cf.new" <<EOF
# Generated by scripts/postfix.sh: the private test Postfix.
compatibility_level = 3.6
queue_directory = $P/queue
data_directory = $P/data
maillog_file = $P/log/postfix.log
maillog_file_prefixes = $P/log
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
readme_directory = no

# Every <user>@$DOMAIN goes to src's INBOX of <user> over LMTP.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:inet:$LMTP
# Nothing leaves the machine: other domains bounce at once, and no DNS.
relayhost =
relay_domains =
default_transport = error:5.7.1 the Tern test Postfix delivers only to $DOMAIN
relay_transport = \$default_transport
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no

# Fast: no waiting in the queue, no penalties for the tests' errors.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 200
lmtp_connection_cache_on_demand = no

# Only authenticated clients relay; anyone may send to $DOMAIN.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $P/auth/sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_tls_auth_only = no

smtpd_tls_security_level = may
smtpd_tls_cert_file = $DIR/server.pem
smtpd_tls_key_file = $DIR/server.key
smtpd_tls_session_cache_database =
smtp_tls_security_level = none
EOF
	cat >"$CONF/master.cf.new" <<EOF
# Generated by scripts/postfix.sh. Nothing runs chrooted.
# service      type  private unpriv chroot wakeup maxproc command + args
127.0.0.1:$PORT inet n       -      n      -      -       smtpd
127.0.0.1:$TLSPORT inet n       -      n      -      -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
pickup         unix  n       -      n      60     1       pickup
cleanup        unix  n       -      n      -      0       cleanup
qmgr           unix  n       -      n      300    1       qmgr
tlsmgr         unix  -       -      n      1000?  1       tlsmgr
rewrite        unix  -       -      n      -      -       trivial-rewrite
bounce         unix  -       -      n      -      0       bounce
defer          unix  -       -      n      -      0       bounce
trace          unix  -       -      n      -      0       bounce
verify         unix  -       -      n      -      1       verify
flush          unix  n       -      n      1000?  0       flush
proxymap       unix  -       -      n      -      -       proxymap
proxywrite     unix  -       -      n      -      1       proxymap
smtp           unix  -       -      n      -      -       smtp
relay          unix  -       -      n      -      -       smtp
showq          unix  n       -      n      -      -       showq
error          unix  -       -      n      -      -       error
retry          unix  -       -      n      -      -       error
discard        unix  -       -      n      -      -       discard
lmtp           unix  -       -      n      -      -       lmtp
anvil          unix  -       -      n      -      1       anvil
scache         unix  -       -      n      -      1       scache
postlog        unix-dgram n  -      n      -      1       postlogd
EOF
}

wait_up() {
	local _
	for _ in $(seq 1 100); do
		port_up "$PORT" && port_up "$TLSPORT" && return 0
		sleep 0.05
	done
	tail -20 "$P/log/postfix.log" >&2 || true
	die "Postfix does not listen on 127.0.0.1:$PORT and :$TLSPORT; see $P/log/postfix.log"
}

start() {
	need_root start
	command -v postfix >/dev/null 2>&1 && [ -x /usr/lib/dovecot/lmtp ] ||
		die "postfix or dovecot-lmtpd not installed; run scripts/install-deps.sh (or scripts/postfix.sh install)"
	[ -f "$DIR/server.pem" ] || die "no TLS certificate in $DIR; start through scripts/test-servers.sh"
	mkdir -p "$CONF" "$P/log" "$P/queue"
	start_auth
	write_postfix
	local pid changed=
	replace "$CONF/main.cf" && changed=1
	replace "$CONF/master.cf" && changed=1
	if pid=$(postfix_pid); then
		if [ -z "$changed" ] && port_up "$PORT" && port_up "$TLSPORT"; then
			log "already runs (master $pid) on 127.0.0.1:$PORT (submissions $TLSPORT)"
			return
		fi
		log "reloading master $pid (configuration changed, or not answering)"
		postfix -c "$CONF" reload 2>>"$P/log/postfix-script.log"
	else
		# postfix start makes the queue and data directories (post-install
		# create-missing) and checks them.
		postfix -c "$CONF" start 2>>"$P/log/postfix-script.log" ||
			{ tail -20 "$P/log/postfix-script.log" >&2; die "postfix start failed"; }
	fi
	wait_up
	log "Postfix $(postconf -c "$CONF" -h mail_version) on 127.0.0.1:$PORT (STARTTLS), $TLSPORT (submissions), AUTH $MAILER, $DOMAIN to LMTP $LMTP, master $(postfix_pid || echo ?), state in $P"
}

stop() {
	local pid _
	if pid=$(postfix_pid); then
		postfix -c "$CONF" stop 2>>"$P/log/postfix-script.log" || kill -TERM "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "master $pid did not stop in 10 s"
		log "stopped"
	fi
	if auth_pid >/dev/null; then
		dovecot -c "$P/auth/dovecot.conf" stop
	fi
}

cmd=${1:-start}
case "$cmd" in
install) install ;;
start) start ;;
stop) stop ;;
status)
	if pid=$(postfix_pid) && port_up "$PORT"; then
		echo "postfix: up on $PORT/$TLSPORT (master $pid; SASL Dovecot $(auth_pid || echo down))"
	else
		echo "postfix: down"
	fi
	;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
