#! /usr/bin/env atf-sh
#
# imapxctl over the control socket: status lists the workers with the
# connections they hold, reload takes a good file and refuses a broken
# one, and only root may connect.

. "$(atf_get_srcdir)/fixture.sh"

ctl()
{
	"$(atf_get_srcdir)/../bin/imapxctl" -s "$FX_DIR/imapxd.sock" "$@"
}

atf_test_case status cleanup
status_head()
{
	atf_set "descr" "status shows each worker, its pid and its sessions"
}
status_body()
{
	fixture_start
	ctl status >status.out || atf_fail "imapxctl status failed"
	cat status.out
	[ "$(grep -c '^frontend' status.out)" -eq 2 ] ||
	    atf_fail "expected two frontend workers"
	for pid in $(awk '/^frontend/ {print $4}' status.out); do
		[ "$(ps -o user= -p "$pid")" = "_imapx" ] ||
		    atf_fail "pid $pid is not a worker running as _imapx"
	done
	# a configured service is listed too, with its own pid
	for pid in $(awk '/^execd/ {print $4}' status.out); do
		ps -o args= -p "$pid" | grep -q execd ||
		    atf_fail "pid $pid is not execd"
	done
	# a logged-in session is counted by its worker
	python3 - <<-PY &
	import imaplib, time
	m = imaplib.IMAP4("127.0.0.1", $FX_IMAP_PORT)
	m.login("alice", "alice-secret")
	time.sleep(3)
	m.logout()
	PY
	sleep 1
	ctl status >status2.out || atf_fail "imapxctl status failed"
	cat status2.out
	[ "$(awk '{s += $8} END {print s}' status2.out)" -ge 1 ] ||
	    atf_fail "the open session is not counted"
	wait
	stat -c %a "$FX_DIR/imapxd.sock" | grep -qx 600 ||
	    atf_fail "control socket is not mode 0600"
}
status_cleanup()
{
	fixture_stop
}

atf_test_case reload cleanup
reload_head()
{
	atf_set "descr" "reload takes a good file, refuses a broken one"
}
reload_body()
{
	fixture_start
	ctl reload || atf_fail "reload of an unchanged file failed"
	grep -q "configuration reloaded" "$FX_DIR/imapxd.log" ||
	    atf_fail "no reload in the log"
	echo "this is not a statement" >>"$FX_DIR/imapxd.conf"
	if ctl reload 2>reload.err; then
		atf_fail "a broken file was taken"
	fi
	cat reload.err
	grep -q "errors" reload.err || atf_fail "no reason given"
	# the old configuration still serves
	python3 - <<-PY || atf_fail "login after a refused reload failed"
	import imaplib
	m = imaplib.IMAP4("127.0.0.1", $FX_IMAP_PORT)
	m.login("bob", "bob-secret")
	m.logout()
	PY
}
reload_cleanup()
{
	fixture_stop
}

atf_test_case unprivileged cleanup
unprivileged_head()
{
	atf_set "descr" "a user other than root cannot reach the socket"
}
unprivileged_body()
{
	fixture_start
	if su -s /bin/sh nobody -c "'$(atf_get_srcdir)/../bin/imapxctl' \
	    -s '$FX_DIR/imapxd.sock' status" 2>err.out; then
		atf_fail "nobody used the control socket"
	fi
	grep -q "Permission denied" err.out || { cat err.out;
	    atf_fail "expected permission denied"; }
}
unprivileged_cleanup()
{
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case status
	atf_add_test_case reload
	atf_add_test_case unprivileged
}
