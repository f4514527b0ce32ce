#!/bin/sh
#
# demo.sh -- the imapx demo mail host on loopback (make demo, make
# demo-stop).  Run as root on Debian; the system's own configuration is
# left alone and its dovecot and opensmtpd services are stopped.
#
#	demo.sh deps	install the Debian packages that are missing
#	demo.sh start	deps, system users, Dovecot, OpenSMTPD and imapxd
#	demo.sh stop	stop what start started
#	demo.sh status	show what runs
#
# State, configuration and logs live in $IMAPX_DEMO_DIR (/tmp/imapx-demo).
# imapxd is build/normal/bin/imapxd of this source tree, or $IMAPX_DEMO_IMAPXD.
# SUBMIT keeps a copy of each message in the user's mailbox
# $IMAPX_DEMO_SENT ("Sent"); set it empty for none (regress/bench does).

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${IMAPX_DEMO_DIR:-/tmp/imapx-demo}
IMAPXD=${IMAPX_DEMO_IMAPXD:-$ROOT/build/normal/bin/imapxd}
SENT=${IMAPX_DEMO_SENT-Sent}
MAILHOST=$HERE/mailhost.sh

PACKAGES="dovecot-imapd dovecot-lmtpd dovecot-sieve dovecot-managesieved
opensmtpd libtls-dev libevent-dev libsodium-dev libbsd-dev libseccomp-dev
byacc pkg-config make gcc openssl python3"

# The demo's fixed ports (DESIGN.md, "The demo mail host").
MH_DOVECOT_PORT=10143
MH_LMTP_PORT=10024
MH_SMTP_PORT=10025
MH_IMAP_PORT=1143
MH_IMAPS_PORT=1993
MH_IMSP_PORT=1406
export MH_DOVECOT_PORT MH_LMTP_PORT MH_SMTP_PORT MH_IMAP_PORT \
    MH_IMAPS_PORT MH_IMSP_PORT

die()
{
	echo "demo: $*" >&2
	exit 1
}

demo_deps()
{
	missing=
	for p in $PACKAGES; do
		dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' ||
		    missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "demo: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || die "apt-get update failed"
	# shellcheck disable=SC2086
	apt-get install -q -y --no-install-recommends $missing ||
	    die "apt-get install failed"
}

# Debian starts dovecot and opensmtpd when they are installed.  Ours use
# other ports, paths and mount namespaces, but the demo runs alone.
# Without systemd, "running" is judged by the service's own pid file: the
# init scripts' status looks for any smtpd, ours included.
demo_stop_service()
{
	if [ -d /run/systemd/system ]; then
		systemctl is-active --quiet "$1" 2>/dev/null || return 0
	else
		pid=$(cat "$2" 2>/dev/null) && [ -n "$pid" ] &&
		    kill -0 "$pid" 2>/dev/null || return 0
	fi
	echo "demo: stopping the system's $1 service"
	invoke-rc.d "$1" stop >/dev/null 2>&1 || service "$1" stop
}

demo_dir()
{
	if [ -L "$DIR" ] || { [ -e "$DIR" ] && [ "$(stat -c %u "$DIR")" != 0 ]; }
	then
		die "$DIR exists and is not a directory of root's"
	fi
	mkdir -p "$DIR" && chmod 0755 "$DIR" || die "cannot make $DIR"
}

# imapxd is started on its own: the rest of the mail host is useful
# without it, and it can be started again once it is built.
demo_imapxd()
{
	if [ ! -x "$IMAPXD" ]; then
		echo "demo: imapxd is missing ($IMAPXD): run make, then" \
		    "sh etc/demo/demo.sh start" >&2
		return 1
	fi
	# the demo keeps a copy of what SUBMIT sends in the Sent mailbox
	case $SENT in
	*[!A-Za-z0-9._-]*) die "IMAPX_DEMO_SENT: a plain mailbox name" ;;
	"")	: >"$DIR/submitd.extra.conf" ;;
	*)	echo "sent \"$SENT\"" >"$DIR/submitd.extra.conf" ;;
	esac
	sh "$MAILHOST" imapxd "$DIR" "$IMAPXD"
}

demo_start()
{
	[ "$(id -u)" = 0 ] || die "run me as root"
	demo_deps
	demo_stop_service dovecot /run/dovecot/master.pid
	demo_stop_service opensmtpd /run/smtpd.pid
	sh "$MAILHOST" users || die "cannot create the system users"
	demo_dir
	sh "$MAILHOST" start "$DIR" || die "the mail host did not start"
	demo_imapxd
	rc=$?
	cat <<-EOF

	imapx demo mail host, state and logs in $DIR:
	  imapxd     IMAP (STARTTLS) 127.0.0.1:$MH_IMAP_PORT, IMAPS 127.0.0.1:$MH_IMAPS_PORT, IMSP 127.0.0.1:$MH_IMSP_PORT
	  Dovecot    IMAP 127.0.0.1:$MH_DOVECOT_PORT, LMTP 127.0.0.1:$MH_LMTP_PORT
	  OpenSMTPD  SMTP 127.0.0.1:$MH_SMTP_PORT
	  users      alice / alice-secret, bob / bob-secret,
	             load0001..load2000 / load-secret (all @example.test;
	             log in as "alice" or "alice@example.test")
	connect:
	  openssl s_client -quiet -starttls imap -connect 127.0.0.1:$MH_IMAP_PORT
	  openssl s_client -quiet -connect 127.0.0.1:$MH_IMAPS_PORT
	  python3 regress/integration/imapc.py --starttls 127.0.0.1 $MH_IMAP_PORT
	  then: a LOGIN alice alice-secret
	status: sh etc/demo/demo.sh status    stop: make demo-stop
	EOF
	[ $rc -eq 0 ] || echo "(imapxd is not running: see above)"
	return 0
}

case $1 in
deps)
	[ "$(id -u)" = 0 ] || die "run me as root"
	demo_deps ;;
start)
	demo_start ;;
stop)
	[ -d "$DIR" ] || { echo "demo: nothing in $DIR"; exit 0; }
	sh "$MAILHOST" stop "$DIR" ;;
status)
	[ -d "$DIR" ] || { echo "demo: not started ($DIR is missing)"; exit 1; }
	sh "$MAILHOST" status "$DIR" ;;
*)
	echo "usage: $0 deps | start | stop | status" >&2
	exit 2 ;;
esac
