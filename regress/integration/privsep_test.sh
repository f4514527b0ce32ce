#! /usr/bin/env atf-sh
#
# Privilege separation as an operator sees it: who runs what and where,
# a worker killed and restarted, SIGHUP reload, SIGTERM, and the -n
# configuration check.

# --- The helpers below are the same in limits_test.sh and
# privsep_test.sh; keep the two copies alike.
#
# The clients are small Python scripts on top of imapt.py, which
# it_pylib writes into the test's work directory: imapc.py runs one
# script from start to end, these tests need several connections at once,
# raw bytes, timing and a look at the processes.  A script exits 0 when
# all is well, 1 on a failure and 3 when it saw the symptom of a known
# imapxd bug (the case then states atf_expect_fail with the bug's
# description).

# it_pylib: write imapt.py, the scripted client the cases share.
it_pylib()
{
	cat >imapt.py <<-'EOF'
	"""imapt: scripted IMAP connections for the imapx integration tests."""
	import os, re, socket, sys, time

	PORT = int(os.environ.get("FX_IMAP_PORT", "0"))
	LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")


	class Fail(Exception):
	    pass


	class KnownBug(Exception):
	    pass


	def show(name, way, data):
	    text = data.decode("utf-8", "backslashreplace")
	    for ln in re.split(r"\r?\n", text.rstrip("\r\n")):
	        if len(ln) > 160:
	            ln = ln[:160] + "... (%d characters)" % len(ln)
	        ln = re.sub(r"[\x00-\x1f\x7f-\x9f]",
	                    lambda m: "\\x%02x" % ord(m.group()), ln)
	        print("%s %s: %s" % (name, way, ln), flush=True)


	class Client:
	    count = 0

	    def __init__(self, port=None, name=None, src=None, greet=True,
	                 timeout=10):
	        Client.count += 1
	        self.name = name or "c%d" % Client.count
	        self.timeout = timeout
	        self.buf = b""
	        self.eof = None
	        self.sock = socket.socket()
	        if src is not None:
	            self.sock.bind((src, 0))
	        self.sock.settimeout(timeout)
	        self.sock.connect(("127.0.0.1", port or PORT))
	        self.lport = self.sock.getsockname()[1]
	        self.greeting = None
	        if greet:
	            self.greeting = self.expect(r"^\* (OK|BYE|PREAUTH)")

	    def send(self, data):
	        if isinstance(data, str):
	            data = data.encode()
	        show(self.name, "C", data)
	        self.sock.sendall(data)

	    def fill(self, deadline):
	        if self.eof:
	            raise Fail("connection closed (%s)" % self.eof)
	        left = deadline - time.monotonic()
	        if left <= 0:
	            raise Fail("timeout")
	        self.sock.settimeout(left)
	        try:
	            data = self.sock.recv(65536)
	        except (socket.timeout, TimeoutError):
	            raise Fail("timeout")
	        except ConnectionResetError:
	            self.eof = "reset"
	            raise Fail("connection reset")
	        if not data:
	            self.eof = "eof"
	            raise Fail("connection closed")
	        self.buf += data

	    def _line(self, deadline):
	        while b"\n" not in self.buf:
	            self.fill(deadline)
	        i = self.buf.index(b"\n") + 1
	        ln, self.buf = self.buf[:i], self.buf[i:]
	        return ln

	    def line(self, timeout=None):
	        """One response, literals included, without CRLF."""
	        deadline = time.monotonic() + (self.timeout if timeout is None
	                                       else timeout)
	        ln = part = self._line(deadline)
	        while (m := LITERAL.search(part)):
	            while len(self.buf) < int(m.group(1)):
	                self.fill(deadline)
	            lit = self.buf[:int(m.group(1))]
	            self.buf = self.buf[int(m.group(1)):]
	            part = self._line(deadline)
	            ln += lit + part
	        show(self.name, "S", ln)
	        return ln.rstrip(b"\r\n").decode("utf-8", "replace")

	    def expect(self, regex, timeout=None, seen=None):
	        """Read responses until one matches regex and return it; the
	        ones before it are appended to seen."""
	        deadline = time.monotonic() + (self.timeout if timeout is None
	                                       else timeout)
	        pat = re.compile(regex)
	        while True:
	            try:
	                ln = self.line(max(0.001, deadline - time.monotonic()))
	            except Fail as e:
	                raise Fail("%s: waiting for /%s/: %s" %
	                           (self.name, regex, e))
	            if pat.search(ln):
	                return ln
	            if seen is not None:
	                seen.append(ln)

	    def cmd(self, tag, text, want="OK", timeout=None):
	        """Send a command, wait for its tagged response; check that
	        it starts with want (None: any).  Returns (response, lines
	        before it)."""
	        seen = []
	        self.send("%s %s\r\n" % (tag, text))
	        ln = self.expect(r"^%s (OK|NO|BAD)\b" % re.escape(tag), timeout,
	                         seen)
	        if want is not None and \
	                not re.match(r"%s %s" % (re.escape(tag), want), ln):
	            raise Fail("%s: %s %s: expected %s, got: %s" %
	                       (self.name, tag, text[:40], want, ln))
	        return ln, seen

	    def login(self, user, password, tag="L"):
	        return self.cmd(tag, "LOGIN %s %s" % (user, password))[0]

	    def closed(self, timeout=5):
	        """Wait until the server closes; return what came before."""
	        deadline = time.monotonic() + timeout
	        lines = []
	        while True:
	            try:
	                lines.append(self.line(max(0.001,
	                                           deadline - time.monotonic())))
	            except Fail as e:
	                if self.eof:
	                    return lines
	                raise Fail("%s: not closed within %g s (%s)" %
	                           (self.name, timeout, e))

	    def quiet(self, secs):
	        """The responses that arrive within secs."""
	        deadline = time.monotonic() + secs
	        lines = []
	        while True:
	            try:
	                lines.append(self.line(max(0.001,
	                                           deadline - time.monotonic())))
	            except Fail:
	                return lines

	    def close(self):
	        print("%s: close" % self.name, flush=True)
	        self.sock.close()


	def fresh(user="bob", password="bob-secret", port=None):
	    """A new connection logs in and NOOPs at once."""
	    c = Client(port, name="fresh")
	    if not c.greeting.startswith("* OK"):
	        raise Fail("fresh connection greeted with: %s" % c.greeting)
	    c.login(user, password, "f1")
	    c.cmd("f2", "NOOP")
	    c.cmd("f3", "LOGOUT")
	    c.close()


	def children(ppid):
	    """The live (not zombie) children of ppid."""
	    pids = []
	    for d in os.listdir("/proc"):
	        if not d.isdigit():
	            continue
	        try:
	            with open("/proc/%s/stat" % d) as f:
	                st = f.read().rsplit(")", 1)[1].split()
	        except OSError:
	            continue
	        if int(st[1]) == ppid and st[0] not in "ZX":
	            pids.append(int(d))
	    return sorted(pids)


	def alive(pid):
	    try:
	        with open("/proc/%d/stat" % pid) as f:
	            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
	    except OSError:
	        return False


	def status(pid):
	    """/proc/PID/status as a dict of strings."""
	    d = {}
	    with open("/proc/%d/status" % pid) as f:
	        for ln in f:
	            k, _, v = ln.partition(":")
	            d[k] = v.strip()
	    return d


	def conn_owners(pids, port=None):
	    """Which of pids holds the server side of each client connection
	    to port: {client port: pid}."""
	    port = port or PORT
	    inodes = {}
	    for pid in pids:
	        try:
	            fds = os.listdir("/proc/%d/fd" % pid)
	        except OSError:
	            continue
	        for fd in fds:
	            try:
	                ln = os.readlink("/proc/%d/fd/%s" % (pid, fd))
	            except OSError:
	                continue
	            if ln.startswith("socket:["):
	                inodes[ln[8:-1]] = pid
	    owners = {}
	    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
	        try:
	            with open(tab) as f:
	                rows = f.readlines()[1:]
	        except OSError:
	            continue
	        for row in rows:
	            col = row.split()
	            if col[9] in inodes and int(col[1].split(":")[1], 16) == port:
	                owners[int(col[2].split(":")[1], 16)] = inodes[col[9]]
	    return owners


	def log_wait(regex, offset=0, timeout=5):
	    """Wait for a line matching regex in imapxd.log after offset."""
	    path = os.path.join(os.environ["FX_DIR"], "imapxd.log")
	    deadline = time.monotonic() + timeout
	    while True:
	        with open(path, errors="replace") as f:
	            f.seek(offset)
	            for ln in f:
	                if re.search(regex, ln):
	                    print("log: " + ln.rstrip(), flush=True)
	                    return ln
	        if time.monotonic() > deadline:
	            raise Fail("imapxd.log has no line /%s/" % regex)
	        time.sleep(0.1)


	def log_size():
	    return os.path.getsize(os.path.join(os.environ["FX_DIR"], "imapxd.log"))


	def run(fn):
	    try:
	        fn()
	    except KnownBug as e:
	        print("KNOWN BUG: %s" % e, flush=True)
	        sys.exit(3)
	    except (Fail, OSError) as e:
	        print("FAIL: %s" % e, flush=True)
	        sys.exit(1)
	    sys.exit(0)
	EOF
}

# it_py: run the Python script on stdin with imapt.py at hand.
it_py()
{
	python3 - "$@"
}

# it_fresh [USER PASS]: a fresh connection still logs in and NOOPs, and
# no imapxd process has crashed (the sanitizer build aborts on an error).
it_fresh()
{
	it_py "${1:-bob}" "${2:-bob-secret}" >>fresh.out 2>&1 <<-'EOF' ||
	import sys
	from imapt import *
	run(lambda: fresh(sys.argv[1], sys.argv[2]))
	EOF
	    { cat fresh.out; it_showlog; atf_fail "a fresh connection no" \
	    "longer logs in and NOOPs (see stdout)"; }
	if grep -Eq 'killed by signal|exited with status|Sanitizer|runtime error' \
	    "$FX_DIR/imapxd.log"; then
		it_showlog
		atf_fail "an imapxd process crashed (see imapxd.log in stdout)"
	fi
}

# it_log REGEX: imapxd.log has a line matching REGEX (grep -E).
it_log()
{
	grep -Eq "$1" "$FX_DIR/imapxd.log"
}

it_showlog()
{
	echo "--- imapxd.log"
	cat "$FX_DIR/imapxd.log"
}

# it_start [LINE...]: the fixture with extra imapxd.conf lines, and the
# client library.
it_start()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start "$@"
	it_pylib
}

it_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

it_head()
{
	atf_set descr "$1"
	atf_set require.user root
	atf_set timeout 60
}
# --- end of the shared helpers.

# it_workers: the pids of the parent's children (its frontend workers).
it_workers()
{
	ps -o pid= --ppid "$FX_IMAPXD_PID" | sort -n | tr -s ' \n' '  ' |
	    sed 's/^ //; s/ $//'
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
	        w = children(parent)
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
	    for p in w:
	        print("worker %d: %s" % (p, [s.name for s in on[p]]))
	    if not all(on[p] for p in w):
	        raise Fail("24 sessions did not spread over both workers")
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
	    w = children(parent)

	    with open(conf, "a") as f:
	        f.write("limit login-commands 3\n")
	    off = log_size()
	    os.kill(parent, signal.SIGHUP)
	    log_wait(r"(?i)reloaded", off)
	    s.cmd("b", "NOOP")
	    s.cmd("c", "SELECT INBOX")
	    count_limit(3)
	    fresh()
	    if children(parent) != w:
	        raise Fail("workers changed on reload: %s, then %s" %
	                   (w, children(parent)))

	    with open(conf, "a") as f:
	        f.write("limit login-commands 5 and more\n")
	    with open(conf) as f:
	        lineno = len(f.readlines())
	    off = log_size()
	    os.kill(parent, signal.SIGHUP)
	    log_wait(r"imapxd\.conf:%d:" % lineno, off)
	    log_wait(r"(?i)reload failed|keeping", off)
	    time.sleep(0.3)
	    if not alive(parent) or children(parent) != w:
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
