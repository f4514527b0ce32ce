# fixture.sh -- the one fixture of the atf-sh integration tests.
#
# Source it in a test's body and in its cleanup part:
#
#	atf_test_case foo cleanup
#	foo_body() {
#		. "$(atf_get_srcdir)/fixture.sh"
#		fixture_start 'limit sessions per-user 3'
#		imapc --starttls 127.0.0.1 "$FX_IMAP_PORT" <<-EOF
#		> a LOGIN alice alice-secret
#		< ^a OK
#		EOF
#	}
#	foo_cleanup() {
#		. "$(atf_get_srcdir)/fixture.sh"
#		fixture_stop
#	}
#
# fixture_start [LINE...]	Dovecot, OpenSMTPD and imapxd; each LINE (or,
#				with "-", each line of stdin) is added to
#				imapxd.conf.  With FX_EXECD_EXTRA=DIR, execd
#				also gets the test modules and policies of
#				DIR/modules and DIR/execd.d (and the users of
#				DIR/users): mailhost.sh's MH_EXECD_EXTRA.  The
#				lines of $FX_SUBMITD_CONF (if set) are added
#				to submitd.conf
# fixture_start_backend		Dovecot and OpenSMTPD only
# fixture_stop			stop all of it and remove the state directory
#				(kept if FX_KEEP is set)
# imapc ARGS...			the scripted client, imapc.py
# fx_sendmail FROM RCPT... <MSG	send MSG through the MTA
# fx_wait_messages USER PASS N [MAILBOX]
#				wait until MAILBOX (INBOX) holds N messages
# fx_log_wait LOG ERE [N]	wait until $FX_DIR/LOG has N (1) lines that
#				match ERE; the test fails after a minute
# fx_log_none LOG ERE		the test fails if $FX_DIR/LOG has such a line
#
# What Dovecot did with a message for USER (a local part of example.test),
# by its Message-ID MSGID (an ERE, without the <>), waited for in
# dovecot.log; TO is a local part too:
# fx_delivered USER MSGID	stored in INBOX
# fx_discarded USER MSGID	discarded by USER's Sieve script
# fx_forwarded USER MSGID TO	redirected to TO
# fx_replied USER MSGID TO	a vacation reply sent to TO
# fx_mta_done FROM RCPT [N]	the MTA's Nth delivery of mail from FROM to
#				RCPT (whole addresses) was taken by Dovecot:
#				its Sieve actions are done, and the mail
#				Dovecot sent meanwhile (forwards, vacation
#				replies) is in the MTA's hands
#
# Set for the test (and kept in $FX_DIR/env): FX_DIR, FX_DOVECOT_PORT,
# FX_LMTP_PORT, FX_SMTP_PORT, FX_IMAP_PORT (imapxd, STARTTLS),
# FX_IMAPS_PORT, FX_IMSP_PORT, FX_IMAPXD_PID.  Users: alice/alice-secret,
# bob/bob-secret, load0001..load2000/load-secret, all @example.test.
# The logs are $FX_DIR/dovecot.log, smtpd.log, imapxd.log.
#
# Tests pick their own free ports in 20000-31999, away from the demo's and
# from the kernel's ephemeral range, and reserve them under
# /tmp/imapx-ports so that tests running in parallel never share one.

FX_PORTDIR=/tmp/imapx-ports

# The mail host generator and the client sit next to this file in the tests
# directory, or in the source tree two levels above it (build/$V/tests).
_fx_find()
{
	for _f in "$@"; do
		[ -f "$_f" ] && { echo "$_f"; return 0; }
	done
	return 1
}
_fx_src=$(atf_get_srcdir 2>/dev/null || dirname "$0")
FX_MAILHOST=$(_fx_find "$_fx_src/mailhost/mailhost.sh" \
    "$_fx_src/../../../etc/demo/mailhost.sh")
FX_IMAPC=$(_fx_find "$_fx_src/imapc.py" \
    "$_fx_src/../../../regress/integration/imapc.py")
FX_IMAPXD=${FX_IMAPXD:-$_fx_src/../bin/imapxd}

_fx_fail()
{
	if type atf_fail >/dev/null 2>&1; then
		atf_fail "$*"
	fi
	echo "fixture: $*" >&2
	exit 1
}

_fx_skip()
{
	if type atf_skip >/dev/null 2>&1; then
		atf_skip "$*"
	fi
	echo "fixture: skipped: $*" >&2
	exit 0
}

imapc()
{
	python3 "$FX_IMAPC" "$@"
}

# _fx_ports N: reserve N free loopback ports and print them.
_fx_ports()
{
	python3 - "$1" "$FX_PORTDIR" "$FX_DIR" <<-'EOF'
	import os, random, socket, sys
	n, portdir, owner = int(sys.argv[1]), sys.argv[2], sys.argv[3]
	os.makedirs(portdir, mode=0o755, exist_ok=True)
	got = []
	for port in random.sample(range(20000, 32000), 2000):
	    if len(got) == n:
	        break
	    slot = os.path.join(portdir, str(port))
	    try:
	        os.mkdir(slot)
	    except FileExistsError:
	        # A reservation whose test directory is gone is stale.
	        try:
	            with open(os.path.join(slot, "owner")) as f:
	                if os.path.isdir(f.read().strip()):
	                    continue
	        except OSError:
	            continue
	    with open(os.path.join(slot, "owner"), "w") as f:
	        f.write(owner + "\n")
	    s = socket.socket()
	    try:
	        s.bind(("127.0.0.1", port))
	        got.append(port)
	    except OSError:
	        # In use by something else: give the slot back.
	        os.remove(os.path.join(slot, "owner"))
	        os.rmdir(slot)
	    finally:
	        s.close()
	print(" ".join(map(str, got)))
	sys.exit(0 if len(got) == n else 1)
	EOF
}

_fx_release()
{
	[ -d "$FX_PORTDIR" ] || return 0
	for _p in $FX_DOVECOT_PORT $FX_LMTP_PORT $FX_SMTP_PORT $FX_IMAP_PORT \
	    $FX_IMAPS_PORT $FX_IMSP_PORT; do
		if [ "$(cat "$FX_PORTDIR/$_p/owner" 2>/dev/null)" = "$FX_DIR" ]
		then
			rm -rf "$FX_PORTDIR/$_p"
		fi
	done
}

_fx_writeenv()
{
	cat >"$FX_DIR/env" <<-EOF
	FX_DIR=$FX_DIR
	FX_DOVECOT_PORT=$FX_DOVECOT_PORT
	FX_LMTP_PORT=$FX_LMTP_PORT
	FX_SMTP_PORT=$FX_SMTP_PORT
	FX_IMAP_PORT=$FX_IMAP_PORT
	FX_IMAPS_PORT=$FX_IMAPS_PORT
	FX_IMSP_PORT=$FX_IMSP_PORT
	FX_IMAPXD_PID=$FX_IMAPXD_PID
	FX_MAILHOST=$FX_MAILHOST
	EOF
}

fixture_start_backend()
{
	[ "$(id -u)" = 0 ] || _fx_skip "the mail host needs root"
	for _c in dovecot smtpd unshare python3 openssl; do
		command -v $_c >/dev/null 2>&1 || _fx_skip "$_c is not installed"
	done
	[ -n "$FX_MAILHOST" ] || _fx_fail "mailhost.sh not found near $_fx_src"
	[ -n "$FX_IMAPC" ] || _fx_fail "imapc.py not found near $_fx_src"

	# Dovecot's unprivileged processes must traverse it: not 0700.
	FX_DIR=$(mktemp -d /tmp/imapx-fx.XXXXXXXX) || _fx_fail "mktemp failed"
	chmod 0755 "$FX_DIR"
	# The cleanup part runs in a new shell in this work directory.
	echo "$FX_DIR" >fixture.dir

	set -- $(_fx_ports 6)
	[ $# -eq 6 ] || _fx_fail "no free loopback ports"
	FX_DOVECOT_PORT=$1 FX_LMTP_PORT=$2 FX_SMTP_PORT=$3
	FX_IMAP_PORT=$4 FX_IMAPS_PORT=$5 FX_IMSP_PORT=$6
	FX_IMAPXD_PID=
	export FX_DIR FX_DOVECOT_PORT FX_LMTP_PORT FX_SMTP_PORT FX_IMAP_PORT \
	    FX_IMAPS_PORT FX_IMSP_PORT FX_IMAPXD_PID
	_fx_writeenv

	MH_DOVECOT_PORT=$FX_DOVECOT_PORT MH_LMTP_PORT=$FX_LMTP_PORT \
	MH_SMTP_PORT=$FX_SMTP_PORT MH_IMAP_PORT=$FX_IMAP_PORT \
	MH_IMAPS_PORT=$FX_IMAPS_PORT MH_IMSP_PORT=$FX_IMSP_PORT \
	    sh "$FX_MAILHOST" start "$FX_DIR" >"$FX_DIR/start.log" 2>&1 || {
		cat "$FX_DIR/start.log" >&2
		_fx_fail "Dovecot or OpenSMTPD did not start (see stderr)"
	}
}

fixture_start()
{
	fixture_start_backend
	: >"$FX_DIR/imapxd.extra.conf"
	if [ "$1" = - ]; then
		cat >>"$FX_DIR/imapxd.extra.conf"
	else
		for _l in "$@"; do
			echo "$_l" >>"$FX_DIR/imapxd.extra.conf"
		done
	fi
	if [ -n "$FX_SUBMITD_CONF" ]; then
		printf '%s\n' "$FX_SUBMITD_CONF" >"$FX_DIR/submitd.extra.conf"
	fi
	[ -x "$FX_IMAPXD" ] || _fx_fail "no imapxd binary at $FX_IMAPXD"
	# The sanitizer build's sandboxed children cannot run LeakSanitizer.
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	export ASAN_OPTIONS
	MH_EXECD_EXTRA=$FX_EXECD_EXTRA \
	    sh "$FX_MAILHOST" imapxd "$FX_DIR" "$FX_IMAPXD" \
	    >>"$FX_DIR/start.log" 2>&1 || {
		cat "$FX_DIR/start.log" >&2
		_fx_fail "imapxd did not start (see stderr)"
	}
	FX_IMAPXD_PID=$(cat "$FX_DIR/imapxd.pid")
	_fx_writeenv
}

fixture_stop()
{
	if [ -z "$FX_DIR" ] && [ -f fixture.dir ]; then
		FX_DIR=$(cat fixture.dir)
	fi
	case $FX_DIR in
	/tmp/imapx-fx.*) ;;
	*) return 0 ;;
	esac
	[ -f "$FX_DIR/env" ] && . "$FX_DIR/env"
	if [ -f "$FX_DIR/mailhost.env" ]; then
		sh "$FX_MAILHOST" stop "$FX_DIR" >/dev/null
	fi
	# mailhost.sh removes the pid file of what it stopped; kill what is
	# left, if it is still the process that was started.
	for _pf in "$FX_DIR"/*.pid; do
		[ -f "$_pf" ] || continue
		_pid=$(cat "$_pf")
		[ "$(sed 's/.*) //' "/proc/$_pid/stat" 2>/dev/null |
		    cut -d' ' -f20)" = "$(cat "${_pf%.pid}.start")" ] &&
		    kill -KILL "$_pid"
	done
	_fx_release
	if [ -n "$FX_KEEP" ]; then
		echo "fixture: state kept in $FX_DIR" >&2
	else
		rm -rf "$FX_DIR"
	fi
	rm -f fixture.dir
}

fx_sendmail()
{
	# The message is on stdin, so the script goes in -c.
	python3 -c '
import smtplib, sys
port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
msg = sys.stdin.buffer.read()
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, rcpts, msg)
except (OSError, smtplib.SMTPException) as e:
    print("fx_sendmail: %s" % e, file=sys.stderr)
    sys.exit(1)
' "$FX_SMTP_PORT" "$@"
}

fx_wait_messages()
{
	_i=0
	while [ $_i -lt 60 ]; do
		imapc 127.0.0.1 "$FX_DOVECOT_PORT" >fx_status.out 2>&1 <<-EOF
		< ^\* OK
		> a LOGIN $1 $2
		< ^a OK
		> b STATUS ${4:-INBOX} (MESSAGES)
		< ^b OK
		EOF
		grep -q "MESSAGES $3)" fx_status.out && return 0
		sleep 0.5
		_i=$((_i + 1))
	done
	cat fx_status.out >&2
	return 1
}

fx_log_wait()
{
	_i=0
	until [ "$(grep -cE -- "$2" "$FX_DIR/$1" 2>/dev/null)" -ge "${3:-1}" ]
	do
		_i=$((_i + 1))
		if [ $_i -gt 600 ]; then
			tail -20 "$FX_DIR/$1" >&2
			_fx_fail "$1 has not ${3:-1} line(s) matching: $2"
		fi
		sleep 0.1
	done
}

fx_log_none()
{
	! grep -E -- "$2" "$FX_DIR/$1" >&2 ||
	    _fx_fail "$1 has a line it should not have: $2"
}

fx_delivered()
{
	fx_log_wait dovecot.log "lmtp\($1@example.test\).*msgid=<$2>: (stored mail into mailbox 'INBOX'|saved mail to INBOX)"
}

fx_discarded()
{
	fx_log_wait dovecot.log "lmtp\($1@example.test\).*msgid=<$2>: discard action"
}

fx_forwarded()
{
	fx_log_wait dovecot.log "lmtp\($1@example.test\).*msgid=<$2>: redirect action: forwarded to <$3@example.test>"
}

fx_replied()
{
	fx_log_wait dovecot.log "lmtp\($1@example.test\).*msgid=<$2>: vacation action: sent vacation response to <$3@example.test>"
}

# OpenSMTPD logs a delivery once the LMTP transaction has ended, and
# Dovecot ends it only after the Sieve actions, which hand the mail they
# send to the MTA before they return.
fx_mta_done()
{
	fx_log_wait smtpd.log "mda delivery .* from=<$1> to=<$2> .*result=Ok" \
	    "${3:-1}"
}
