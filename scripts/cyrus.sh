#!/usr/bin/env bash
# Real Cyrus IMAP 3.6 (Debian's packages) for the tests, next to the
# Dovecot instances of scripts/test-servers.sh, which calls this script.
#
#   scripts/cyrus.sh install   download and unpack the packages, install their
#                              libraries (idempotent; run by install-deps.sh)
#   scripts/cyrus.sh start     configure and start both instances (idempotent)
#   scripts/cyrus.sh stop      stop them
#   scripts/cyrus.sh status    show what runs
#   scripts/cyrus.sh passwd INSTANCE USER   set USER's password (read from
#                              standard input) in INSTANCE's SASL database
#
# Debian's cyrus-imapd conflicts with dovecot-imapd (both provide
# imap-server), so the packages are never installed: `apt-get download`
# fetches cyrus-common, cyrus-imapd and sasl2-bin, `dpkg -x` unpacks them
# into $ROOT, and only their shared libraries are installed as packages.
# No system service is used or touched; master runs from $ROOT with its own
# imapd.conf and cyrus.conf and drops root for the system user "cyrus"
# (group mail, as Debian's package would create it), made here if missing.
#
# Instances (127.0.0.1; plain port offers STARTTLS, the other implicit TLS):
#   cyrus     13143/13993  unixhierarchysep: yes, separator "/"
#   cyrusdot  14143/14993  unixhierarchysep: no,  separator "."
# Both use the traditional namespace (altnamespace: no, Debian's default):
# a user's folders live below INBOX ("INBOX/Sent", "INBOX.Sent") and an
# administrator sees users' mailboxes as "user/NAME" or "user.NAME".
#
# Logins are real: PLAIN and LOGIN against a sasldb per instance
# (sasl_pwcheck_method: auxprop), plaintext allowed (loopback only). Users:
#   cyrusadmin    adminsecret   in admins and proxyservers: may log in as
#                               any user with SASL PLAIN authzid
#   noproxyadmin  adminsecret2  NOT an admin, so its authzid logins are
#                               refused; the tests grant it lookup and read
#                               rights on their users' mailboxes, so it can
#                               list them (LIST "" "user/%")
#   plainadmin    adminsecret3  in admins only: Cyrus lets every admin act
#                               for users, proxyservers or not
# Test users are added with `passwd` plus an administrator's CREATE (see
# internal/testserver/cyrus.go).
#
# Paths: packages in TERN_CYRUS_ROOT (default /opt/tern-test/cyrus); state
# in $TERN_TEST_SERVERS_DIR/<instance> (default /tmp/tern-test-servers),
# whose TLS certificate (server.pem, server.key, signed by ca.pem) is made
# by scripts/test-servers.sh. Cyrus logs to syslog; master's own output goes
# to <instance>/log/master.log. To see one user's IMAP traffic, create
# <instance>/config/log/<user>/ (owned by cyrus): imapd writes a protocol
# log there.
set -euo pipefail

ROOT=${TERN_CYRUS_ROOT:-/opt/tern-test/cyrus}
DIR=${TERN_TEST_SERVERS_DIR:-/tmp/tern-test-servers}
BIN=$ROOT/usr/lib/cyrus/bin
# The multiarch directory of the unpacked libraries (x86_64-linux-gnu…).
LIBDIR=$ROOT/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")
SASLPASSWD=$ROOT/usr/sbin/saslpasswd2
PACKAGES=(cyrus-common cyrus-imapd sasl2-bin)
# Libraries of binaries the tests never run: cyr_virusscan (libclamav12)
# and notifyd (libzephyr4).
SKIP_LIBS=" libclamav12 libzephyr4 "
CYRUS_USER=cyrus
CYRUS_GROUP=mail
# SASL realm: imapd passes servername as the default realm.
SERVERNAME=localhost

ADMIN=cyrusadmin ADMIN_PASSWORD=adminsecret
NOPROXY=noproxyadmin NOPROXY_PASSWORD=adminsecret2
PLAINADMIN=plainadmin PLAINADMIN_PASSWORD=adminsecret3

# name port tlsport unixhierarchysep
instances() {
	echo "cyrus 13143 13993 yes"
	echo "cyrusdot 14143 14993 no"
}

log() { echo "cyrus: $*"; }
die() { echo "cyrus: $*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root (master drops to the user $CYRUS_USER itself)"
}

run() { LD_LIBRARY_PATH=$LIBDIR "$@"; }

# The binaries the tests run, and whether all their libraries resolve.
binaries() { echo "$BIN/master $BIN/imapd $BIN/ctl_cyrusdb $BIN/mbpath $SASLPASSWD $ROOT/usr/sbin/sasldblistusers2"; }
libs_ok() {
	local b
	for b in $(binaries); do
		[ -x "$b" ] || return 1
		if LD_LIBRARY_PATH=$LIBDIR ldd "$b" 2>/dev/null | grep 'not found' >/dev/null; then
			return 1
		fi
	done
}

ensure_user() {
	id -u "$CYRUS_USER" >/dev/null 2>&1 && return
	getent group "$CYRUS_GROUP" >/dev/null || groupadd --system "$CYRUS_GROUP"
	useradd --system --gid "$CYRUS_GROUP" --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "Cyrus IMAP (Tern tests)" "$CYRUS_USER"
}

# Library packages the downloaded packages need that are missing or too
# old: the first alternative of each dependency whose name starts with lib
# (with its version constraint), without SKIP_LIBS, plus the sasldb auxprop
# plugin (sasl_auxprop_plugin: sasldb). Installed libraries that satisfy
# the constraint are left alone, never upgraded.
missing_libs() {
	local deb line name op ver status
	{
		for deb in "$ROOT"/debs/*.deb; do
			dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//'
		done
		echo libsasl2-modules-db
	} | sed -e 's/:any//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep '^lib' | sort -u |
		while read -r line; do
			name=${line%% *}
			case "$SKIP_LIBS" in *" $name "*) continue ;; esac
			op= ver=
			if [[ $line =~ \(([<>=]+)[[:space:]]*([^\)]+)\) ]]; then
				op=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
			fi
			status=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
			if [[ $status != "install ok installed "* ]]; then
				echo "$name"
			elif [ -n "$op" ] && ! dpkg --compare-versions "${status##* }" "$op" "$ver"; then
				echo "$name"
			fi
		done | sort -u
}

install() {
	need_root install
	if [ -f "$ROOT/.installed" ] && libs_ok; then
		ensure_user
		log "already installed in $ROOT ($(cat "$ROOT/.installed"))"
		return
	fi
	export DEBIAN_FRONTEND=noninteractive
	mkdir -p "$ROOT/debs"
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		compgen -G "$ROOT/debs/${p}_*.deb" >/dev/null || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "downloading ${missing[*]}"
		# apt-get download writes to the current directory; as root it
		# would warn that the _apt sandbox user cannot write there.
		if ! (cd "$ROOT/debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}"); then
			apt-get update -qq
			(cd "$ROOT/debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}")
		fi
	fi
	local deb
	for deb in "$ROOT"/debs/*.deb; do
		dpkg -x "$deb" "$ROOT"
	done
	local libs
	mapfile -t libs < <(missing_libs)
	if [ ${#libs[@]} -gt 0 ]; then
		log "installing libraries: ${libs[*]}"
		if ! apt-get install -y -qq --no-install-recommends "${libs[@]}" >"$ROOT/apt.log" 2>&1; then
			apt-get update -qq
			apt-get install -y -qq --no-install-recommends "${libs[@]}" >"$ROOT/apt.log" 2>&1 ||
				{ cat "$ROOT/apt.log" >&2; die "apt-get install failed"; }
		fi
	fi
	if ! libs_ok; then
		for deb in $(binaries); do LD_LIBRARY_PATH=$LIBDIR ldd "$deb" | grep 'not found' | sed "s|^|$deb: |" >&2 || true; done
		die "unresolved libraries after install"
	fi
	ensure_user
	(cd "$ROOT/debs" && ls ./*.deb | sed 's|^\./||' | tr '\n' ' ') >"$ROOT/.installed"
	log "installed in $ROOT ($(cat "$ROOT/.installed"))"
}

port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

master_pid() {
	local pidfile="$DIR/$1/run/master.pid" pid
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] || return 1
	echo "$pid"
}

# saslpasswd INSTANCE USER: password on standard input. Serialised with
# flock: tests add users in parallel and sasldb has no locking of its own.
saslpasswd() {
	local d="$DIR/$1"
	(
		flock 9
		run "$SASLPASSWD" -p -c -f "$d/sasldb2" -u "$SERVERNAME" "$2"
		chown "$CYRUS_USER:$CYRUS_GROUP" "$d/sasldb2"
		chmod 0640 "$d/sasldb2"
	) 9>"$d/sasldb2.lock"
}

# write_config NAME PORT TLSPORT UNIXSEP writes imapd.conf.new and
# cyrus.conf.new into the instance's directory.
write_config() {
	local name=$1 port=$2 tlsport=$3 unixsep=$4 d="$DIR/$1"
	cat >"$d/imapd.conf.new" <<EOF
# Generated by scripts/cyrus.sh; instance "$name".
configdirectory: $d/config
defaultpartition: default
partition-default: $d/spool
proc_path: $d/config/proc
mboxname_lockpath: $d/config/lock
sievedir: $d/config/sieve
idlesocket: $d/config/socket/idle
notifysocket: $d/config/socket/notify
lmtpsocket: $d/config/socket/lmtp
servername: $SERVERNAME
syslog_prefix: tern-$name
cyrus_user: $CYRUS_USER
cyrus_group: $CYRUS_GROUP
umask: 077
hashimapspool: true

# Namespace: the traditional one (Debian's default), separator per instance.
altnamespace: no
unixhierarchysep: $unixsep
virtdomains: off

# Administrators. Every admin may act for any user (SASL authzid);
# proxyservers lets a non-admin do so too. See the header of scripts/cyrus.sh.
admins: $ADMIN $PLAINADMIN
proxyservers: $ADMIN

# Authentication: sasldb with real passwords.
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/sasldb2
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
# Tests log in with wrong passwords on purpose: no 3 s pause after each.
failedloginpause: 0

# TLS with the test CA's server certificate.
tls_server_cert: $DIR/server.pem
tls_server_key: $DIR/server.key
tls_client_ca_file: $DIR/ca.pem
EOF
	cat >"$d/cyrus.conf.new" <<EOF
# Generated by scripts/cyrus.sh; instance "$name".
START {
  recover cmd="$BIN/ctl_cyrusdb -C $d/imapd.conf -r"
}
SERVICES {
  imap  cmd="$BIN/imapd -C $d/imapd.conf" listen="127.0.0.1:$port" prefork=2
  imaps cmd="$BIN/imapd -s -C $d/imapd.conf" listen="127.0.0.1:$tlsport" prefork=1
}
EVENTS {
  checkpoint cmd="$BIN/ctl_cyrusdb -C $d/imapd.conf -c" period=30
}
EOF
}

start_instance() {
	local name=$1 port=$2 tlsport=$3 unixsep=$4 d="$DIR/$1" pid
	mkdir -p "$d"
	write_config "$name" "$port" "$tlsport" "$unixsep"
	if pid=$(master_pid "$name"); then
		if port_up "$port" && port_up "$tlsport" &&
			cmp -s "$d/imapd.conf.new" "$d/imapd.conf" && cmp -s "$d/cyrus.conf.new" "$d/cyrus.conf"; then
			rm -f "$d/imapd.conf.new" "$d/cyrus.conf.new"
			log "instance $name already runs (master $pid) on 127.0.0.1:$port (TLS $tlsport)"
			return
		fi
		log "instance $name: restarting master $pid (configuration changed, or not answering)"
		stop_instance "$name"
	fi
	mv "$d/imapd.conf.new" "$d/imapd.conf"
	mv "$d/cyrus.conf.new" "$d/cyrus.conf"
	# The equivalent of Debian's mkimap: configdirectory and its
	# subdirectories, the partition, the sockets and the locks.
	mkdir -p "$d/run" "$d/log" "$d/spool"
	local sub
	for sub in db socket proc lock log msg quota user sieve ptclient; do
		mkdir -p "$d/config/$sub"
	done
	echo "$ADMIN_PASSWORD" | saslpasswd "$name" "$ADMIN"
	echo "$NOPROXY_PASSWORD" | saslpasswd "$name" "$NOPROXY"
	echo "$PLAINADMIN_PASSWORD" | saslpasswd "$name" "$PLAINADMIN"
	chown "$CYRUS_USER:$CYRUS_GROUP" "$d" "$d/config" "$d/spool" "$d/log"
	chown -R "$CYRUS_USER:$CYRUS_GROUP" "$d/config/"{db,socket,proc,lock,log,msg,quota,user,sieve,ptclient}
	rm -f "$d/run/master.pid"
	# master recovers the databases (START: ctl_cyrusdb -r) before it
	# listens, switches to the cyrus user and detaches (-d).
	run "$BIN/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/run/master.pid" -L "$d/log/master.log" -d
	local _
	for _ in $(seq 1 100); do
		if port_up "$port" && port_up "$tlsport"; then
			log "instance $name: Cyrus $(cyrus_version) on 127.0.0.1:$port (TLS $tlsport, separator '$(sep_of "$unixsep")'), master $(master_pid "$name" || echo ?), state in $d"
			return 0
		fi
		sleep 0.1
	done
	echo "cyrus: $name did not start; see $d/log/master.log (and syslog)" >&2
	tail -20 "$d/log/master.log" >&2 || true
	return 1
}

sep_of() { [ "$1" = yes ] && echo / || echo .; }
cyrus_version() { dpkg-deb -f "$(compgen -G "$ROOT/debs/cyrus-imapd_*.deb" | head -1)" Version 2>/dev/null || echo "?"; }

stop_instance() {
	local name=$1 pid
	pid=$(master_pid "$name") || return 0
	kill -TERM "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { log "instance $name stopped"; return 0; }
		sleep 0.1
	done
	echo "cyrus: $name (master $pid) did not stop in 10 s" >&2
	return 1
}

cmd=${1:-start}
case "$cmd" in
install)
	install
	;;
start)
	need_root start
	[ -f "$ROOT/.installed" ] && libs_ok || die "not installed in $ROOT; run scripts/install-deps.sh (or scripts/cyrus.sh install)"
	[ -f "$DIR/server.pem" ] || die "no TLS certificate in $DIR; start through scripts/test-servers.sh"
	ensure_user
	while read -r name port tlsport unixsep; do
		start_instance "$name" "$port" "$tlsport" "$unixsep"
	done < <(instances)
	;;
stop)
	while read -r name _; do
		stop_instance "$name"
	done < <(instances)
	;;
status)
	while read -r name port tlsport _; do
		if pid=$(master_pid "$name") && port_up "$port"; then
			echo "$name: up on $port/$tlsport (master $pid)"
		else
			echo "$name: down"
		fi
	done < <(instances)
	;;
passwd)
	[ $# -eq 3 ] || die "usage: $0 passwd INSTANCE USER (password on standard input)"
	[ -n "$(instances | awk -v n="$2" '$1 == n')" ] || die "no instance $2"
	[ -f "$DIR/$2/imapd.conf" ] || die "instance $2 was never started"
	saslpasswd "$2" "$3"
	;;
*)
	echo "usage: $0 install|start|stop|status|passwd INSTANCE USER" >&2
	exit 2
	;;
esac
