#!/usr/bin/env bash
# Starts, stops and describes the mail servers the tests and benchmarks run
# against: separate Dovecot instances on loopback ports, each with its own
# configuration, TLS certificate, state and mail directories. The system's
# Dovecot service is never used or touched.
#
#   scripts/test-servers.sh start    start every instance (idempotent)
#   scripts/test-servers.sh stop     stop them
#   scripts/test-servers.sh status   show what runs
#   scripts/test-servers.sh env      print the environment the tests read
#
# Instances (ports on 127.0.0.1; plain port offers STARTTLS, +850 is implicit TLS):
#   src    10143/10993  Maildir++ layout, hierarchy separator "."; also LMTP on
#                       10024 (RCPT TO:<user@any.domain> delivers into user's
#                       INBOX: the domain is dropped), which scripts/postfix.sh
#                       delivers to (when dovecot-lmtpd is installed)
#   dst    11143/11993  Maildir fs layout, hierarchy separator "/"
#   master 12143/12993  Maildir++ with the personal namespace under "INBOX."
#                       and separator "." (as a Postfix/Courier-style server),
#                       per-user passwords and a Dovecot master user
# On src and dst every user logs in with the password in TERN_TEST_PASSWORD
# (default "secret": the "magic password" servers); any user name works and
# gets a fresh mailbox, so each test picks unique names instead of cleaning
# up.
#
# On master only users listed in $DIR/master/users (a passwd-file, one
# "user:{PLAIN}password::::::" line each) exist; Dovecot re-reads the file
# when it changes, so tests add users at run time (testserver.AddUser).
# The master user "admin" (password TERN_TEST_MASTER_PASSWORD, default
# "master-secret", in $DIR/master/masters) opens every mailbox, as
# "user*admin" with LOGIN or PLAIN, or as authcid with authzid = the user in
# SASL PLAIN (auth_master_user_separator = *, a passdb with master = yes and
# pass = yes, as Dovecot's documentation on master users says).
#
# Other servers plug in as scripts of their own, listed in EXTRA_SERVERS
# below and run after the Dovecot instances with the same argument (start,
# stop, status); scripts/cyrus.sh runs the Cyrus instances,
# scripts/vaultserver.sh a real HashiCorp Vault (HTTP 18200, HTTPS 18201;
# its env is printed with ours) and scripts/postfix.sh a real Postfix (SMTP
# 10025, submissions 10465) delivering into src over LMTP. A failure of one of them fails this
# script, after everything else was started.
#
# Root of all state: TERN_TEST_SERVERS_DIR (default /tmp/tern-test-servers).
# The TLS certificates are signed by a CA made here: $DIR/ca.pem.
set -euo pipefail

DIR=${TERN_TEST_SERVERS_DIR:-/tmp/tern-test-servers}
PASSWORD=${TERN_TEST_PASSWORD:-secret}
MASTER_PASSWORD=${TERN_TEST_MASTER_PASSWORD:-master-secret}
HERE=$(cd "$(dirname "$0")" && pwd)

need() {
	command -v "$1" >/dev/null 2>&1 || { echo "test-servers: $1 not found; run scripts/install-deps.sh" >&2; exit 1; }
}

make_ca() {
	[ -f "$DIR/ca.pem" ] && return
	mkdir -p "$DIR"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Tern test CA" \
		-keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$DIR/server.ext"
	openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
		-days 3650 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null
	chmod 0644 "$DIR/server.key"
}

# auth_static DIR: every user exists and logs in with $PASSWORD.
auth_static() {
	local d=$1
	cat <<EOF
passdb {
  driver = static
  args = password=$PASSWORD
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$d/home/%u
}
EOF
}

# auth_master DIR: per-user passwords from a passwd-file that tests append
# to, and a master user. The users file is created empty and never
# truncated, so users added by earlier runs stay valid.
auth_master() {
	local d=$1
	touch "$d/users"
	printf 'admin:{PLAIN}%s::::::\n' "$MASTER_PASSWORD" >"$d/masters"
	chmod 0644 "$d/users" "$d/masters"
	cat <<EOF
auth_master_user_separator = *
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/masters
  master = yes
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/users
  default_fields = uid=dovecot gid=dovecot home=$d/home/%u
}
EOF
}

# lmtp PORT: an LMTP listener on PORT ("-" for none) that looks users up
# without their domain, so user@test.example is the IMAP user "user".
# Skipped without dovecot-lmtpd (scripts/install-deps.sh installs it).
lmtp() {
	[ "$1" != - ] && [ -x /usr/lib/dovecot/lmtp ] || return 0
	cat <<EOF
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $1
  }
}
protocol lmtp {
  auth_username_format = %n
}
EOF
}

# dovecot_instance NAME PORT TLSPORT SEPARATOR LAYOUT AUTH PREFIX LMTPPORT
#   LAYOUT: maildir (Maildir++) or fs; AUTH: static or master (see the
#   auth_* functions); PREFIX: the personal namespace's prefix, "-" for none;
#   LMTPPORT: see lmtp, "-" for none.
dovecot_instance() {
	local name=$1 port=$2 tlsport=$3 sep=$4 layout=$5 auth=$6 prefix=$7 lmtpport=$8
	[ "$prefix" = - ] && prefix=
	local d="$DIR/$name"
	mkdir -p "$d/run" "$d/state" "$d/log" "$d/home"
	chown dovecot:dovecot "$d/home" 2>/dev/null || true
	local location="maildir:~/Maildir"
	[ "$layout" = fs ] && location="maildir:~/Maildir:LAYOUT=fs"
	local authconf lmtpconf protocols=imap old=
	authconf=$("auth_$auth" "$d")
	lmtpconf=$(lmtp "$lmtpport")
	[ -z "$lmtpconf" ] || protocols="imap lmtp"
	[ ! -f "$d/dovecot.conf" ] || old=$(cat "$d/dovecot.conf")
	cat >"$d/dovecot.conf" <<EOF
# Generated by scripts/test-servers.sh; instance "$name".
base_dir = $d/run
instance_name = tern-$name
state_dir = $d/state
log_path = $d/log/dovecot.log
protocols = $protocols
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DIR/server.pem
ssl_key = <$DIR/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no failure delay, and no
# auth penalty (see service anvil), which would otherwise slow every later
# login from 127.0.0.1 for up to 15 s.
auth_failure_delay = 0
first_valid_uid = 1
mail_fsync = never
$authconf
mail_location = $location
namespace inbox {
  inbox = yes
  separator = $sep
  prefix = $prefix
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
protocol imap {
  mail_max_userip_connections = 500
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tlsport
    ssl = yes
  }
  process_min_avail = 2
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
$lmtpconf
EOF
	# Start it; one that already runs reloads a changed configuration (a
	# new listener too).
	if ! dovecot -c "$d/dovecot.conf" 2>/dev/null && [ "$old" != "$(cat "$d/dovecot.conf")" ]; then
		dovecot -c "$d/dovecot.conf" reload 2>/dev/null || true
	fi
	# Wait until it accepts connections.
	local lmtpmsg=
	[ -z "$lmtpconf" ] || lmtpmsg=", LMTP $lmtpport"
	for _ in $(seq 1 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
			{ [ -z "$lmtpconf" ] || (exec 3<>"/dev/tcp/127.0.0.1/$lmtpport") 2>/dev/null; }; then
			echo "test-servers: dovecot $name on 127.0.0.1:$port (TLS $tlsport$lmtpmsg, separator '$sep')"
			return 0
		fi
		sleep 0.1
	done
	echo "test-servers: dovecot $name did not start; see $d/log/dovecot.log" >&2
	tail -20 "$d/log/dovecot.log" >&2 || true
	return 1
}

instances() {
	echo "src 10143 10993 . maildir static - 10024"
	echo "dst 11143 11993 / fs static - -"
	echo "master 12143 12993 . maildir master INBOX. -"
}

# The scripts of the other servers (in scripts/), each taking start, stop
# and status. Add yours here.
EXTRA_SERVERS=(cyrus.sh vaultserver.sh postfix.sh)

# extra_servers ARG runs them; a missing script is skipped.
extra_servers() {
	local s rc=0
	for s in "${EXTRA_SERVERS[@]}"; do
		[ -x "$HERE/$s" ] || continue
		"$HERE/$s" "$1" || rc=$?
	done
	return $rc
}

cmd=${1:-start}
case "$cmd" in
start)
	need dovecot
	need openssl
	make_ca
	while read -r name port tlsport sep layout auth prefix lmtpport; do
		dovecot_instance "$name" "$port" "$tlsport" "$sep" "$layout" "$auth" "$prefix" "$lmtpport"
	done < <(instances)
	extra_servers start
	;;
stop)
	while read -r name _; do
		[ -f "$DIR/$name/dovecot.conf" ] && dovecot -c "$DIR/$name/dovecot.conf" stop 2>/dev/null || true
	done < <(instances)
	extra_servers stop
	;;
status)
	while read -r name port _; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$name: up on $port"
		else
			echo "$name: down"
		fi
	done < <(instances)
	extra_servers status
	;;
env)
	echo "TERN_TEST_SERVERS_DIR=$DIR"
	echo "TERN_TEST_PASSWORD=$PASSWORD"
	echo "TERN_TEST_MASTER_PASSWORD=$MASTER_PASSWORD"
	echo "TERN_TEST_CA=$DIR/ca.pem"
	[ ! -x "$HERE/vaultserver.sh" ] || "$HERE/vaultserver.sh" env
	;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
