# itlib.sh -- helpers shared by the atf-sh integration tests that need
# several connections at once, raw bytes and timing (limits_test,
# privsep_test).  Source it after fixture.sh's users do:
#
#	. "$(atf_get_srcdir)/itlib.sh"
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


	def frontends(ppid):
	    """The frontend workers among ppid's children (not execd)."""
	    out = []
	    for p in children(ppid):
	        try:
	            with open("/proc/%d/cmdline" % p, "rb") as f:
	                if f.read().startswith(b"imapxd: frontend"):
	                    out.append(p)
	        except OSError:
	            pass
	    return out


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
