#! /usr/bin/env atf-sh
#
# Privilege separation as an operator sees it: who runs what and where,
# a worker killed and restarted, SIGHUP reload, SIGTERM, and the -n
# configuration check.

# The shared helpers (imapt.py, it_start, it_fresh, ...).
. "$(atf_get_srcdir)/itlib.sh"

# it_workers: the pids of the parent's children (its frontend workers).
it_workers()
{
	pgrep -P "$FX_IMAPXD_PID" -f '^imapxd: frontend' | sort -n |
	    tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
}

# it_status PID FIELD: a field of /proc/PID/status.
it_status()
{
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"
}

atf_test_case processes cleanup
processes_head()
{
	it_head "the parent runs as root; each frontend worker runs as" \
	    "_imapx, chrooted to the configured directory, with a seccomp" \
	    "filter, no_new_privs and no root uid, gid or capability"
}
processes_body()
{
	it_start
	chroot=$(sed -n 's/^chroot "\(.*\)"$/\1/p' "$FX_DIR/imapxd.conf" |
	    tail -n 1)
	[ -n "$chroot" ] || atf_fail "no chroot in the generated imapxd.conf"
	[ "$chroot" = "$FX_DIR/empty" ] ||
	    atf_fail "the fixture's chroot is $chroot, not $FX_DIR/empty"
	nworkers=$(sed -n 's/^prefork \([0-9]*\)$/\1/p' \
	    "$FX_DIR/imapxd.conf" | tail -n 1)
	uid=$(id -u _imapx) gid=$(id -g _imapx)

	# A worker sandboxes itself after it got its configuration; a
	# client served means at least one is there, give the others a
	# moment.
	it_py <<-'EOF' || atf_fail "no greeting"
	from imapt import *
	run(lambda: Client().close())
	EOF
	i=0
	while :; do
		ok=0
		for p in $(it_workers); do
			grep -q '^Seccomp:[[:space:]]*2' /proc/$p/status && ok=$((ok + 1))
		done
		[ $ok -ge "$nworkers" ] && break
		i=$((i + 1))
		[ $i -lt 50 ] || break
		sleep 0.1
	done

	echo "--- ps -o user=,pid=,ppid=,args="
	ps -o user=,pid=,ppid=,args= -p "$FX_IMAPXD_PID" --ppid "$FX_IMAPXD_PID"
	set -- $(ps -o user= -p "$FX_IMAPXD_PID")
	[ "$1" = root ] || atf_fail "the parent runs as '$1', not root"
	# execd keeps root to change uids (DESIGN.md), with a filter of its own
	for p in $(pgrep -P "$FX_IMAPXD_PID" -f 'execd -f'); do
		set -- $(ps -o user= -p "$p")
		[ "$1" = root ] || atf_fail "execd runs as '$1'"
		grep -q '^Seccomp:[[:space:]]*2' "/proc/$p/status" ||
		    atf_fail "execd $p has no seccomp filter"
	done

	n=0
	for p in $(it_workers); do
		n=$((n + 1))
		set -- $(ps -o user=,args= -p "$p")
		echo "--- worker $p: $*"
		[ "$1" = _imapx ] || atf_fail "worker $p runs as '$1', not _imapx"
		root=$(readlink "/proc/$p/root")
		[ "$root" = "$chroot" ] ||
		    atf_fail "worker $p: root is '$root', not '$chroot'"
		grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|CapPrm|CapEff):' \
		    "/proc/$p/status"
		[ "$(it_status "$p" Seccomp)" = 2 ] ||
		    atf_fail "worker $p: Seccomp: $(it_status "$p" Seccomp), not 2"
		[ "$(it_status "$p" NoNewPrivs)" = 1 ] ||
		    atf_fail "worker $p: NoNewPrivs: $(it_status "$p" NoNewPrivs), not 1"
		for f in $(it_status "$p" Uid); do
			[ "$f" = "$uid" ] ||
			    atf_fail "worker $p: Uid: $(it_status "$p" Uid), not all $uid"
		done
		for f in $(it_status "$p" Gid); do
			[ "$f" = "$gid" ] ||
			    atf_fail "worker $p: Gid: $(it_status "$p" Gid), not all $gid"
		done
		for f in $(it_status "$p" Groups); do
			[ "$f" != 0 ] || atf_fail "worker $p: in group 0"
		done
		[ "$(it_status "$p" CapPrm)" = 0000000000000000 ] &&
		    [ "$(it_status "$p" CapEff)" = 0000000000000000 ] ||
		    atf_fail "worker $p keeps capabilities"
	done
	[ $n -eq "$nworkers" ] ||
	    atf_fail "$n workers run, prefork is $nworkers"

	# And they serve.
	it_fresh alice alice-secret
}
processes_cleanup()
{
	it_cleanup
}

atf_test_case worker_kill cleanup
worker_kill_head()
{
	it_head "with prefork 2, a worker killed with SIGKILL costs only its" \
	    "own sessions: the other's go on, new connections log in at once," \
	    "and the parent starts a new worker and logs the signal"
}
worker_kill_body()
{
	it_start 'prefork 2'
	it_py <<-'EOF' || { it_showlog; atf_fail "worker kill (see stdout)"; }
	import os, signal, time
	from imapt import *
	parent = int(os.environ["FX_IMAPXD_PID"])
	def sandboxed(pid):
	    try:
	        return status(pid).get("Seccomp") == "2"
	    except OSError:
	        return False
	def workers(n, timeout=5):
	    deadline = time.monotonic() + timeout
	    while True:
	        w = frontends(parent)
	        if len(w) == n and all(sandboxed(p) for p in w):
	            return w
	        if time.monotonic() > deadline:
	            raise Fail("workers %s, not %d sandboxed ones" % (w, n))
	        time.sleep(0.1)
	def t():
	    w = workers(2)
	    print("workers: %s" % w)
	    sessions = []
	    on = {}
	    for i in range(24):
	        c = Client(name="s%d" % i)
	        c.login(*(("alice", "alice-secret") if i % 2 else
	                  ("bob", "bob-secret")))
	        sessions.append(c)
	        owners = conn_owners(w)
	        on = {p: [s for s in sessions if owners.get(s.lport) == p]
	              for p in w}
	        if len(sessions) >= 6 and all(on[p] for p in w):
	            break
	    # Both workers wait on one listening socket and which one accepts
	    # is the kernel's choice: if one took them all, stop it for a
	    # moment so that the other one must take the next.
	    if not all(on[p] for p in w):
	        busy = [p for p in w if on[p]][0]
	        os.kill(busy, signal.SIGSTOP)
	        try:
	            c = Client(name="s%d" % len(sessions))
	            c.login("alice", "alice-secret")
	            sessions.append(c)
	        finally:
	            os.kill(busy, signal.SIGCONT)
	        owners = conn_owners(w)
	        on = {p: [s for s in sessions if owners.get(s.lport) == p]
	              for p in w}
	    for p in w:
	        print("worker %d: %s" % (p, [s.name for s in on[p]]))
	    if not all(on[p] for p in w):
	        raise Fail("sessions did not spread over both workers")
	    victim, other = w
	    os.kill(victim, signal.SIGKILL)
	    print("killed worker %d" % victim, flush=True)
	    for s in on[victim]:
	        s.closed(5)
	    for i, s in enumerate(on[other]):
	        s.cmd("n%d" % i, "NOOP")
	    t0 = time.monotonic()
	    fresh("alice", "alice-secret")
	    took = time.monotonic() - t0
	    print("a new connection logged in after %.2f s" % took)
	    if took > 2:
	        raise Fail("a new login took %.1f s" % took)
	    nw = workers(2)
	    if victim in nw or other not in nw:
	        raise Fail("workers after the kill: %s" % nw)
	    print("workers now: %s" % nw)
	    log_wait(r"\(pid %d\) killed by signal 9" % victim)
	    # The new worker serves too, and the other's sessions still go.
	    (new,) = set(nw) - {other}
	    for i in range(24):
	        c = Client(name="t%d" % i)
	        c.login("bob", "bob-secret")
	        mine = conn_owners([new]).get(c.lport) == new
	        if mine:
	            c.cmd("x", "SELECT INBOX")
	        c.cmd("z", "LOGOUT")
	        c.closed()
	        if mine:
	            break
	    else:
	        raise Fail("no session landed on the new worker %d" % new)
	    for i, s in enumerate(on[other]):
	        s.cmd("m%d" % i, "SELECT INBOX")
	        s.cmd("z%d" % i, "LOGOUT")
	run(t)
	EOF
}
worker_kill_cleanup()
{
	it_cleanup
}

atf_test_case sighup_reload cleanup
sighup_reload_head()
{
	it_head "SIGHUP reloads: established sessions go on, new" \
	    "connections get the new limits; a broken file is refused with" \
	    "file:line in the log and the running configuration stays"
}
sighup_reload_body()
{
	it_start
	it_py <<-'EOF' || { it_showlog; atf_fail "SIGHUP reload (see stdout)"; }
	import os, signal, time
	from imapt import *
	parent = int(os.environ["FX_IMAPXD_PID"])
	conf = os.path.join(os.environ["FX_DIR"], "imapxd.conf")
	def count_limit(n):
	    """The (n+1)th command before login gets BYE."""
	    c = Client(name="new")
	    for i in range(n):
	        c.cmd("c%d" % i, "NOOP")
	    c.send("c%d NOOP\r\n" % n)
	    ln = c.expect(r"^(\* BYE|c%d )" % n)
	    if not ln.startswith("* BYE"):
	        raise Fail("command %d before login got %s, not BYE" %
	                   (n + 1, ln))
	    c.closed()
	def t():
	    s = Client(name="established")
	    s.login("alice", "alice-secret")
	    s.cmd("a", "SELECT INBOX")
	    w = frontends(parent)

	    with open(conf, "a") as f:
	        f.write("limit login-commands 3\n")
	    off = log_size()
	    os.kill(parent, signal.SIGHUP)
	    log_wait(r"(?i)reloaded", off)
	    s.cmd("b", "NOOP")
	    s.cmd("c", "SELECT INBOX")
	    count_limit(3)
	    fresh()
	    if frontends(parent) != w:
	        raise Fail("workers changed on reload: %s, then %s" %
	                   (w, frontends(parent)))

	    with open(conf, "a") as f:
	        f.write("limit login-commands 5 and more\n")
	    with open(conf) as f:
	        lineno = len(f.readlines())
	    off = log_size()
	    os.kill(parent, signal.SIGHUP)
	    log_wait(r"imapxd\.conf:%d:" % lineno, off)
	    log_wait(r"(?i)reload failed|keeping", off)
	    time.sleep(0.3)
	    if not alive(parent) or frontends(parent) != w:
	        raise Fail("processes changed on a failed reload")
	    s.cmd("d", "NOOP")
	    s.cmd("e", "EXAMINE INBOX")
	    count_limit(3)
	    fresh()
	    s.cmd("z", "LOGOUT")
	run(t)
	EOF
}
sighup_reload_cleanup()
{
	it_cleanup
}

atf_test_case sigterm cleanup
sigterm_head()
{
	it_head "SIGTERM to the parent stops it and every worker within a" \
	    "few seconds; sessions are closed and the ports refuse"
}
sigterm_body()
{
	it_start
	it_py <<-'EOF' || { it_showlog; atf_fail "SIGTERM (see stdout)"; }
	import os, signal, socket, time
	from imapt import *
	parent = int(os.environ["FX_IMAPXD_PID"])
	def t():
	    s = Client(name="established")
	    s.login("alice", "alice-secret")
	    s.cmd("a", "SELECT INBOX")
	    idle = Client(name="prelogin")
	    pids = [parent] + children(parent)
	    print("processes: %s" % pids)
	    t0 = time.monotonic()
	    os.kill(parent, signal.SIGTERM)
	    while any(alive(p) for p in pids):
	        if time.monotonic() - t0 > 5:
	            raise Fail("still running 5 s after SIGTERM: %s" %
	                       [p for p in pids if alive(p)])
	        time.sleep(0.05)
	    print("all stopped after %.2f s" % (time.monotonic() - t0))
	    s.closed(2)
	    idle.closed(2)
	    for name in ("FX_IMAP_PORT", "FX_IMAPS_PORT", "FX_IMSP_PORT"):
	        try:
	            socket.create_connection(("127.0.0.1",
	                                      int(os.environ[name])), 2).close()
	        except ConnectionRefusedError:
	            continue
	        raise Fail("port %s still accepts connections" %
	                   os.environ[name])
	run(t)
	EOF
	it_log stopping || { it_showlog; atf_fail "imapxd.log does not say it stopped"; }
	return 0
}
sigterm_cleanup()
{
	it_cleanup
}

atf_test_case config_check cleanup
config_check_head()
{
	it_head "imapxd -n checks a file: OK and 0 for a good one, non-zero" \
	    "with file:line for a bad one; -D sets and overrides macros"
}
config_check_body()
{
	it_start
	imapxd=$FX_IMAPXD

	"$imapxd" -n -f "$FX_DIR/imapxd.conf" >good.out 2>&1 ||
	    { cat good.out; atf_fail "the fixture's imapxd.conf is refused"; }
	cat good.out
	grep -q OK good.out || atf_fail "imapxd -n does not say OK"

	(umask 077; cp "$FX_DIR/imapxd.conf" bad.conf)
	echo 'limit login-commands 5 and more' >>bad.conf
	n=$(wc -l <bad.conf)
	"$imapxd" -n -f "$PWD/bad.conf" >bad.out 2>&1 &&
	    { cat bad.out; atf_fail "a syntax error passed imapxd -n"; }
	cat bad.out
	grep -q "bad.conf:$n:" bad.out ||
	    atf_fail "the error does not name bad.conf:$n"
	grep -q OK bad.out && atf_fail "imapxd -n says OK for a bad file"

	# A macro the file defines, one it only uses; -D sets the second
	# and overrides the first.
	(umask 077; cp "$FX_DIR/imapxd.conf" macro.conf)
	cat >>macro.conf <<-'EOF'
	workers = "100"
	prefork $workers
	limit login-commands $logincmds
	EOF
	n=$(wc -l <macro.conf)
	"$imapxd" -n -D workers=3 -D logincmds=5 -f "$PWD/macro.conf" \
	    >macro.out 2>&1 ||
	    { cat macro.out; atf_fail "-D workers=3 -D logincmds=5 refused"; }
	grep -q OK macro.out || atf_fail "imapxd -n -D does not say OK"
	"$imapxd" -n -D workers=3 -f "$PWD/macro.conf" >nomacro.out 2>&1 &&
	    { cat nomacro.out; atf_fail "an undefined macro passed"; }
	cat nomacro.out
	grep -q "macro.conf:$n:" nomacro.out ||
	    atf_fail "the undefined macro is not reported at macro.conf:$n"
	"$imapxd" -n -D logincmds=5 -f "$PWD/macro.conf" >file.out 2>&1 &&
	    { cat file.out; atf_fail "prefork 100 from the file passed"; }
	cat file.out
	grep -q "macro.conf:$((n - 1)):" file.out ||
	    atf_fail "prefork 100 is not reported at macro.conf:$((n - 1))"
	return 0
}
config_check_cleanup()
{
	it_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case processes
	atf_add_test_case worker_kill
	atf_add_test_case sighup_reload
	atf_add_test_case sigterm
	atf_add_test_case config_check
}
