#!/bin/sh
#
# mailhost.sh -- a whole mail host on loopback for the imapx demo and the
# integration tests: Dovecot (backend IMAP + LMTP), OpenSMTPD (MTA, delivers
# example.test to Dovecot over LMTP) and imapxd, every file under one state
# directory, nothing in /etc touched.  Run as root.
#
#	mailhost.sh users
#		create the system users _imapx (imapxd), _imapxmail (owner
#		of every mailbox), _submitd (submitd) and, for the XEXEC
#		modules (etc/modules), _imapxmod and _imapxpw
#		(changepassword) if they are missing
#	mailhost.sh start DIR
#		start Dovecot and OpenSMTPD; the first start takes the ports
#		from MH_DOVECOT_PORT, MH_LMTP_PORT, MH_SMTP_PORT and, for
#		imapxd, MH_IMAP_PORT, MH_IMAPS_PORT, MH_IMSP_PORT, and keeps
#		them in DIR/mailhost.env; what already runs is left alone
#	mailhost.sh imapxd DIR BINARY
#		start imapxd -d with DIR/imapxd.conf, generated from
#		imapxd.conf.in plus the lines of DIR/imapxd.extra.conf;
#		with execd beside BINARY, the modules of etc/modules (and
#		those of MH_EXECD_EXTRA, see mh_execd) under execd; with
#		submitd beside BINARY, submitd (its file: submitd.conf.in
#		plus DIR/submitd.extra.conf)
#	mailhost.sh stop DIR
#	mailhost.sh status DIR
#
# Users (passwd file DIR/dovecot/auth/passwd): alice/alice-secret,
# bob/bob-secret, load0001..loadNNNN/load-secret (MH_LOAD_USERS, default
# 2000), all in example.test.  Each may log in as "alice" or as
# "alice@example.test"; Dovecot's canonical name is the full address.
# The changepassword module (as _imapxpw) replaces the passwd file: its
# directory is _imapxpw's and setgid to Dovecot's group, which reads it.
# The calendar module (as _imapxmod) keeps its data under DIR/calendar;
# the Sieve modules write in the mail homes, DIR/mail/DOMAIN/LOCAL.
#
# OpenSMTPD compiles in /var/spool/smtpd and /run/smtpd.sock, so each
# instance runs in a private mount namespace with DIR/smtpd/spool mounted
# over /var/spool and DIR/smtpd/run over /run.  Its control socket is
# DIR/smtpd/run/smtpd.sock.
#
# Logs: DIR/dovecot.log, DIR/smtpd.log, DIR/imapxd.log; pids: DIR/*.pid.
# Each daemon runs in its own session (setsid); stop sends TERM to the
# recorded pid, then KILL after 10 s.

MH_TEMPLATES=$(cd "$(dirname "$0")" && pwd)
MH_MAILUSER=_imapxmail
MH_IMAPXUSER=_imapx
MH_MODUSER=_imapxmod
MH_PWUSER=_imapxpw
MH_SUBMITUSER=_submitd
MH_WAIT=${MH_WAIT:-30}

mh_err()
{
	echo "mailhost: $*" >&2
}

# mh_tail LOG...: the end of the logs, for a failure message.
mh_tail()
{
	for l in "$@"; do
		[ -s "$l" ] || continue
		echo "--- tail of $l" >&2
		tail -n 25 "$l" >&2
	done
}

mh_user()
{
	id -u "$1" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$1" >/dev/null 2>&1
	# Another test may have created it meanwhile.
	id -u "$1" >/dev/null 2>&1 || { mh_err "cannot create user $1"; return 1; }
}

mh_users()
{
	mh_user "$MH_IMAPXUSER" && mh_user "$MH_MAILUSER" &&
	mh_user "$MH_MODUSER" && mh_user "$MH_PWUSER" &&
	mh_user "$MH_SUBMITUSER"
}

# mh_subst TEMPLATE OUT: replace @NAME@ by the values below.
mh_subst()
{
	sed -e "s|@DIR@|$DIR|g" -e "s|@ID@|$(basename "$DIR")|g" \
	    -e "s|@MAILUSER@|$MH_MAILUSER|g" \
	    -e "s|@MAILGROUP@|$(id -gn "$MH_MAILUSER")|g" \
	    -e "s|@MAILUID@|$(id -u "$MH_MAILUSER")|g" \
	    -e "s|@MAILGID@|$(id -g "$MH_MAILUSER")|g" \
	    -e "s|@DOVECOT_PORT@|$MH_DOVECOT_PORT|g" \
	    -e "s|@LMTP_PORT@|$MH_LMTP_PORT|g" \
	    -e "s|@SMTP_PORT@|$MH_SMTP_PORT|g" \
	    -e "s|@IMAP_PORT@|$MH_IMAP_PORT|g" \
	    -e "s|@IMAPS_PORT@|$MH_IMAPS_PORT|g" \
	    -e "s|@IMSP_PORT@|$MH_IMSP_PORT|g" \
	    "$MH_TEMPLATES/$1" >"$2"
}

# mh_env: the ports, from DIR/mailhost.env or, the first time, from the
# environment.
mh_env()
{
	if [ -f "$DIR/mailhost.env" ]; then
		. "$DIR/mailhost.env"
		return 0
	fi
	for v in MH_DOVECOT_PORT MH_LMTP_PORT MH_SMTP_PORT MH_IMAP_PORT \
	    MH_IMAPS_PORT MH_IMSP_PORT; do
		eval "[ -n \"\$$v\" ]" || { mh_err "$v is not set"; return 1; }
	done
	cat >"$DIR/mailhost.env" <<-EOF
	MH_DOVECOT_PORT=$MH_DOVECOT_PORT
	MH_LMTP_PORT=$MH_LMTP_PORT
	MH_SMTP_PORT=$MH_SMTP_PORT
	MH_IMAP_PORT=$MH_IMAP_PORT
	MH_IMAPS_PORT=$MH_IMAPS_PORT
	MH_IMSP_PORT=$MH_IMSP_PORT
	EOF
}

# mh_starttime PID: the process's start time (field 22 of stat), which
# tells our process from a later one that got the same pid.
mh_starttime()
{
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# mh_pid NAME: the pid of our running NAME (dovecot, smtpd, imapxd), or
# fail.  A zombie does not count.
mh_pid()
{
	_pid=$(cat "$DIR/$1.pid" 2>/dev/null) && [ -n "$_pid" ] || return 1
	[ "$(mh_starttime "$_pid")" = "$(cat "$DIR/$1.start")" ] || return 1
	case "$(sed 's/.*) //' "/proc/$_pid/stat" 2>/dev/null)" in
	Z*|X*|"")
		return 1 ;;
	esac
	echo "$_pid"
}

# mh_wait NAME LOG PORT...: wait until NAME's ports accept connections;
# fail early if it dies.
mh_wait()
{
	_name=$1 _log=$2
	shift 2
	_pid=$(cat "$DIR/$_name.pid")
	python3 - "$_pid" "$MH_WAIT" "$@" <<-'EOF' && return 0
	import socket, sys, time
	pid, secs = sys.argv[1], float(sys.argv[2])
	ports = [int(p) for p in sys.argv[3:]]
	end = time.time() + secs
	while ports and time.time() < end:
	    try:
	        with open("/proc/%s/stat" % pid) as f:
	            if f.read().rsplit(")", 1)[1].split()[0] in "ZX":
	                break
	    except OSError:
	        break
	    try:
	        socket.create_connection(("127.0.0.1", ports[0]), 1).close()
	        ports.pop(0)
	    except OSError:
	        time.sleep(0.1)
	if ports:
	    print("port %d not open" % ports[0], file=sys.stderr)
	sys.exit(1 if ports else 0)
	EOF
	mh_err "$_name did not start"
	mh_tail "$_log"
	return 1
}

# mh_spawn NAME LOG COMMAND...: run COMMAND in a session of its own with
# output to LOG; record its pid in DIR/NAME.pid and its start time in
# DIR/NAME.start.  setsid does not fork here: a background job of a
# non-interactive shell is not a group leader, so $! is the daemon.
mh_spawn()
{
	_name=$1 _log=$2
	shift 2
	setsid "$@" </dev/null >>"$_log" 2>&1 &
	echo $! >"$DIR/$_name.pid"
	mh_starttime $! >"$DIR/$_name.start"
}

mh_passwd()
{
	[ -s "$DIR/dovecot/auth/passwd" ] && return 0
	mkdir -p "$DIR/dovecot/auth" &&
	chown "$MH_PWUSER:dovecot" "$DIR/dovecot/auth" &&
	chmod 2750 "$DIR/dovecot/auth" || return 1
	# Hash each password once; the load users share one hash.
	_conf=$DIR/dovecot/dovecot.conf
	_a=$(doveadm -c "$_conf" pw -s SHA512-CRYPT -p alice-secret) &&
	_b=$(doveadm -c "$_conf" pw -s SHA512-CRYPT -p bob-secret) &&
	_l=$(doveadm -c "$_conf" pw -s SHA512-CRYPT -p load-secret) || {
		mh_err "doveadm pw failed"
		return 1
	}
	{
		echo "alice@example.test:$_a"
		echo "bob@example.test:$_b"
		awk -v n="${MH_LOAD_USERS:-2000}" -v h="$_l" 'BEGIN {
			for (i = 1; i <= n; i++)
				printf("load%04d@example.test:%s\n", i, h)
		}'
	} >"$DIR/dovecot/auth/passwd.tmp" &&
	chown "$MH_PWUSER:dovecot" "$DIR/dovecot/auth/passwd.tmp" &&
	chmod 0640 "$DIR/dovecot/auth/passwd.tmp" &&
	mv "$DIR/dovecot/auth/passwd.tmp" "$DIR/dovecot/auth/passwd"
}

mh_start_dovecot()
{
	if mh_pid dovecot >/dev/null; then
		echo "dovecot already running (pid $(mh_pid dovecot))"
		return 0
	fi
	# the domain's directory too: execd makes a new user's mail home for
	# the Sieve modules, but only its last component
	mkdir -p "$DIR/dovecot/run" "$DIR/dovecot/state" \
	    "$DIR/mail/example.test" "$DIR/calendar/example.test" &&
	chown "$MH_MAILUSER:" "$DIR/mail" "$DIR/mail/example.test" &&
	chmod 0700 "$DIR/mail" "$DIR/mail/example.test" &&
	chown "$MH_MODUSER:" "$DIR/calendar" "$DIR/calendar/example.test" &&
	chmod 0700 "$DIR/calendar" "$DIR/calendar/example.test" &&
	mh_subst dovecot.conf.in "$DIR/dovecot/dovecot.conf" &&
	mh_passwd || return 1
	# The master holds descriptors for thousands of imap processes.
	(ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	 mh_spawn dovecot "$DIR/dovecot.log" \
	    dovecot -F -c "$DIR/dovecot/dovecot.conf") || return 1
	mh_wait dovecot "$DIR/dovecot.log" "$MH_DOVECOT_PORT" "$MH_LMTP_PORT"
}

mh_start_smtpd()
{
	if mh_pid smtpd >/dev/null; then
		echo "smtpd already running (pid $(mh_pid smtpd))"
		return 0
	fi
	mkdir -p "$DIR/smtpd/spool" "$DIR/smtpd/run" &&
	chmod 0755 "$DIR/smtpd" "$DIR/smtpd/spool" "$DIR/smtpd/run" &&
	mh_subst smtpd.conf.in "$DIR/smtpd/smtpd.conf" &&
	chmod 0644 "$DIR/smtpd/smtpd.conf" &&
	sed "s/:.*/ $MH_MAILUSER/" "$DIR/dovecot/auth/passwd" \
	    >"$DIR/smtpd/users" ||
	    return 1
	# OpenSMTPD's resolver asks DNS before the hosts file ("lookup bind
	# file"), also for the reverse name of a client on 127.0.0.1: where
	# the name server drops a query now and then, that connection's
	# greeting waits 5 s.  Its own resolv.conf, in its namespace, asks
	# the hosts file first.
	{ grep -v '^lookup' /etc/resolv.conf 2>/dev/null
	  echo "lookup file bind"; } >"$DIR/smtpd/resolv.conf" || return 1
	if ! smtpd -n -f "$DIR/smtpd/smtpd.conf" >"$DIR/smtpd.log" 2>&1; then
		mh_err "bad smtpd.conf"
		mh_tail "$DIR/smtpd.log"
		return 1
	fi
	# /var/run is a link to /run on Debian; mount over what it names.
	mh_spawn smtpd "$DIR/smtpd.log" \
	    unshare -m --propagation private sh -c '
		mount --bind "$1" /var/spool &&
		{ mount --bind "$4" /etc/resolv.conf 2>/dev/null || :; } &&
		mount --bind "$2" "$(readlink -f /var/run)" &&
		exec smtpd -d -f "$3"' sh \
	    "$DIR/smtpd/spool" "$DIR/smtpd/run" "$DIR/smtpd/smtpd.conf" \
	    "$DIR/smtpd/resolv.conf"
	mh_wait smtpd "$DIR/smtpd.log" "$MH_SMTP_PORT"
}

mh_start()
{
	mkdir -p "$DIR" && chmod 0755 "$DIR" && mh_env && mh_users &&
	mh_start_dovecot && mh_start_smtpd
}

# mh_policies SRCDIR: copy SRCDIR/modules/* and SRCDIR/execd.d/*.conf
# into DIR, the policies with the paths of this mail host.
mh_policies()
{
	if [ -d "$1/modules" ]; then
		cp "$1"/modules/* "$DIR/modules/" || return 1
	fi
	for _f in "$1"/execd.d/*.conf; do
		sed -e "s|/usr/local/libexec/imapx/modules|$DIR/modules|g" \
		    -e "s|/tmp/imapx-demo|$DIR|g" "$_f" \
		    >"$DIR/execd.d/$(basename "$_f")" || return 1
	done
}

# mh_execd BINARY: the XEXEC modules and their policies, under DIR and
# root-owned as execd demands, with the paths of this mail host.  With
# MH_EXECD_EXTRA=XDIR, the modules and policies of XDIR/modules and
# XDIR/execd.d are added (tests' own modules), and the users named in
# XDIR/users, one per line, are created for them.
mh_execd()
{
	_src=$MH_TEMPLATES/..
	rm -rf "$DIR/modules" "$DIR/execd.d"
	mkdir -p "$DIR/modules" "$DIR/execd.d" || return 1
	mh_policies "$_src" || return 1
	if [ -n "$MH_EXECD_EXTRA" ]; then
		[ -d "$MH_EXECD_EXTRA/execd.d" ] || {
			mh_err "no directory $MH_EXECD_EXTRA/execd.d"
			return 1
		}
		if [ -f "$MH_EXECD_EXTRA/users" ]; then
			for _u in $(cat "$MH_EXECD_EXTRA/users"); do
				mh_user "$_u" || return 1
			done
		fi
		mh_policies "$MH_EXECD_EXTRA" || return 1
	fi
	printf 'domain "example.test"\ninclude "%s/execd.d/*.conf"\n' \
	    "$DIR" >"$DIR/execd.conf"
	chown -R root:root "$DIR/modules" "$DIR/execd.d" "$DIR/execd.conf"
	chmod 0755 "$DIR/modules" "$DIR/execd.d" "$DIR/modules"/*
	chmod 0644 "$DIR/execd.d"/*.conf "$DIR/execd.conf" \
	    "$DIR/modules/README" 2>/dev/null
	"$1" -n -f "$DIR/execd.conf" >"$DIR/execd-check.log" 2>&1 || {
		mh_err "execd refuses its configuration"
		mh_tail "$DIR/execd-check.log"
		return 1
	}
}

# mh_submitd BINARY: its configuration, secret to root as submitd demands.
mh_submitd()
{
	(umask 077
	 mh_subst submitd.conf.in "$DIR/submitd.conf" &&
	 if [ -f "$DIR/submitd.extra.conf" ]; then
		cat "$DIR/submitd.extra.conf" >>"$DIR/submitd.conf"
	 fi) || return 1
	"$1" -n -f "$DIR/submitd.conf" >"$DIR/submitd-check.log" 2>&1 || {
		mh_err "submitd refuses its configuration"
		mh_tail "$DIR/submitd-check.log"
		return 1
	}
}

# mh_imapxd BINARY: certificate, chroot and configuration, then imapxd in
# the foreground (-d) in its own session, logging to DIR/imapxd.log.
mh_imapxd()
{
	_bin=$1
	if mh_pid imapxd >/dev/null; then
		echo "imapxd already running (pid $(mh_pid imapxd))"
		return 0
	fi
	if [ ! -x "$_bin" ]; then
		mh_err "no imapxd binary at $_bin"
		return 1
	fi
	mh_env && mh_users || return 1
	mkdir -p "$DIR/empty" && chown root:root "$DIR/empty" &&
	    chmod 0755 "$DIR/empty" || return 1
	if [ ! -s "$DIR/key.pem" ]; then
		(umask 077; openssl req -x509 -newkey ec \
		    -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		    -subj "/CN=mail.example.test" \
		    -addext "subjectAltName=DNS:mail.example.test,DNS:localhost,IP:127.0.0.1" \
		    -keyout "$DIR/key.pem" -out "$DIR/cert.pem") \
		    >"$DIR/openssl.log" 2>&1 || {
			mh_err "cannot make a certificate"
			mh_tail "$DIR/openssl.log"
			return 1
		}
		chmod 0644 "$DIR/cert.pem"
	fi
	(umask 077
	 mh_subst imapxd.conf.in "$DIR/imapxd.conf" &&
	 if [ -f "$DIR/imapxd.extra.conf" ]; then
		cat "$DIR/imapxd.extra.conf" >>"$DIR/imapxd.conf"
	 fi) || return 1
	# execd beside imapxd, with the modules, when both are there
	_execd=$(dirname "$_bin")/execd
	if [ -x "$_execd" ] && [ -d "$MH_TEMPLATES/../execd.d" ]; then
		mh_execd "$_execd" || return 1
		echo "service execd program \"$_execd\" config \"$DIR/execd.conf\"" \
		    >>"$DIR/imapxd.conf"
	fi
	_submitd=$(dirname "$_bin")/submitd
	if [ -x "$_submitd" ]; then
		mh_submitd "$_submitd" || return 1
		echo "service submitd program \"$_submitd\" config \"$DIR/submitd.conf\"" \
		    >>"$DIR/imapxd.conf"
	fi
	# Sandboxed children of the sanitizer build cannot run LeakSanitizer.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
	export ASAN_OPTIONS
	mh_spawn imapxd "$DIR/imapxd.log" "$_bin" -d -f "$DIR/imapxd.conf"
	mh_wait imapxd "$DIR/imapxd.log" \
	    "$MH_IMAP_PORT" "$MH_IMAPS_PORT" "$MH_IMSP_PORT"
}

# mh_kill NAME: TERM, wait up to 10 s, then KILL.
mh_kill()
{
	_pid=$(mh_pid "$1") || { rm -f "$DIR/$1.pid" "$DIR/$1.start"; return 0; }
	kill -TERM "$_pid" 2>/dev/null
	_i=0
	while mh_pid "$1" >/dev/null && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if mh_pid "$1" >/dev/null; then
		mh_err "$1 (pid $_pid) ignored TERM, killing it"
		kill -KILL "$_pid" 2>/dev/null
	fi
	rm -f "$DIR/$1.pid" "$DIR/$1.start"
	echo "stopped $1 (pid $_pid)"
}

mh_stop()
{
	mh_kill imapxd
	mh_kill smtpd
	mh_kill dovecot
}

mh_status()
{
	[ -f "$DIR/mailhost.env" ] && . "$DIR/mailhost.env"
	_rc=0
	for _n in dovecot smtpd imapxd; do
		case $_n in
		dovecot) _p="imap $MH_DOVECOT_PORT, lmtp $MH_LMTP_PORT" ;;
		smtpd) _p="smtp $MH_SMTP_PORT" ;;
		imapxd) _p="imap $MH_IMAP_PORT, imaps $MH_IMAPS_PORT, imsp $MH_IMSP_PORT" ;;
		esac
		if _pid=$(mh_pid $_n); then
			printf '%-8s running, pid %s (127.0.0.1: %s)\n' \
			    $_n "$_pid" "$_p"
		else
			printf '%-8s not running\n' $_n
			_rc=1
		fi
	done
	return $_rc
}

case $1 in
users)
	mh_users ;;
start|stop|status|imapxd)
	[ -n "$2" ] || { echo "usage: $0 $1 DIR" >&2; exit 2; }
	[ "$1" = start ] && { mkdir -p "$2" || exit 1; }
	DIR=$(cd "$2" 2>/dev/null && pwd) || { echo "no $2" >&2; exit 1; }
	case $1 in
	start)	mh_start ;;
	stop)	mh_stop ;;
	status)	mh_status ;;
	imapxd)	mh_imapxd "$3" ;;
	esac ;;
*)
	echo "usage: $0 users | start|stop|status DIR | imapxd DIR BINARY" >&2
	exit 2 ;;
esac
