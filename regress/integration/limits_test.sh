#! /usr/bin/env atf-sh
#
# Negative tests for imapxd's limits and for bad input: every breach gets
# a clear BAD, NO or BYE with a reason, and the server keeps serving the
# others (after each breach a fresh connection still logs in and NOOPs).

# The shared helpers (imapt.py, it_start, it_fresh, ...).
. "$(atf_get_srcdir)/itlib.sh"

atf_test_case prelogin_long_line cleanup
prelogin_long_line_head()
{
	it_head "a long ID line before login is served; one past login-line" \
	    "(default 32K) gets BYE [TOOBIG] and the connection closes"
}
prelogin_long_line_body()
{
	it_start
	it_py <<-'EOF' || { it_showlog; atf_fail "a 30 KiB ID line before login was not served"; }
	from imapt import *
	def t():
	    c = Client()
	    c.cmd("a", 'ID ("name" "longclient" "x-padding" "%s")' %
	          ("p" * 30 * 1024))
	    c.cmd("b", "NOOP")
	    c.login("alice", "alice-secret")
	run(t)
	EOF

	# As a client sends it: the whole line, CRLF included, at once.  The
	# reader runs beside the writer so that a BYE sent while the line is
	# still going out is not lost to a reset.
	it_py >long.out 2>&1 <<-'EOF'
	import threading
	from imapt import *
	def t():
	    c = Client()
	    line = 'a ID ("name" "longclient" "x-padding" "%s")\r\n' % \
	        ("p" * 100 * 1024)
	    def write():
	        try:
	            c.sock.sendall(line.encode())
	        except OSError as e:
	            print("%s: writing: %s" % (c.name, e), flush=True)
	    w = threading.Thread(target=write)
	    print("%s C: a ID (... 100 KiB ...)" % c.name, flush=True)
	    w.start()
	    try:
	        ln = c.expect(r"^(\* BYE|a (OK|NO|BAD))")
	    finally:
	        w.join()
	    if ln.startswith("a OK"):
	        raise KnownBug("a 100 KiB command line before login was "
	                       "served: " + ln)
	    if not ln.startswith("* BYE") or \
	            not re.search(r"(?i)toobig|too long|too large", ln):
	        raise Fail("expected * BYE [TOOBIG], got: " + ln)
	    c.closed()
	run(t)
	EOF
	rc=$?
	cat long.out
	it_fresh
	[ $rc -eq 1 ] && { it_showlog; atf_fail "a 100 KiB line before login: see stdout"; }
	[ $rc -eq 3 ] && atf_fail "a 100 KiB ID line before login was answered OK"
	return 0
}
prelogin_long_line_cleanup()
{
	it_cleanup
}

atf_test_case prelogin_literal cleanup
prelogin_literal_head()
{
	it_head "a literal past login-literal (default 8K) before login gets" \
	    "BAD [TOOBIG] without a continuation; the connection stays usable"
}
prelogin_literal_body()
{
	it_start
	it_py <<-'EOF' || { it_showlog; atf_fail "LOGIN with a {100000} literal (see stdout)"; }
	from imapt import *
	def t():
	    c = Client()
	    ln, seen = c.cmd("a", "LOGIN {100000}", want=r"BAD \[TOOBIG\]")
	    if any(s.startswith("+") for s in seen):
	        raise Fail("a continuation came before the refusal")
	    late = c.quiet(0.5)
	    if late:
	        raise Fail("unexpected after the refusal: %s" % late)
	    c.cmd("b", "NOOP")
	    # A literal within the limit is still taken.
	    c.send("c LOGIN {5}\r\n")
	    c.expect(r"^\+")
	    c.send("alice {12}\r\n")
	    c.expect(r"^\+")
	    c.send("alice-secret\r\n")
	    c.expect(r"^c OK")
	    c.cmd("d", "NOOP")
	run(t)
	EOF
	it_fresh
}
prelogin_literal_cleanup()
{
	it_cleanup
}

atf_test_case prelogin_command_count cleanup
prelogin_command_count_head()
{
	it_head "with limit login-commands 5 the 6th command before login" \
	    "gets BYE and the connection closes"
}
prelogin_command_count_body()
{
	it_start 'limit login-commands 5'
	it_py <<-'EOF' || { it_showlog; atf_fail "login-commands 5 (see stdout)"; }
	from imapt import *
	def t():
	    c = Client()
	    for i in range(1, 6):
	        c.cmd("n%d" % i, "NOOP" if i % 2 else "CAPABILITY")
	    c.send("n6 NOOP\r\n")
	    ln = c.expect(r"^(\* BYE|n6 )")
	    if not re.match(r"\* BYE \S", ln):
	        raise Fail("the 6th command got %s, not * BYE with a reason"
	                   % ln)
	    c.closed()
	run(t)
	EOF
	it_fresh
}
prelogin_command_count_cleanup()
{
	it_cleanup
}

atf_test_case login_timeout cleanup
login_timeout_head()
{
	it_head "with timeout login 2 a silent connection gets BYE within a" \
	    "few seconds and is closed"
}
login_timeout_body()
{
	it_start 'timeout login 2'
	it_py <<-'EOF' || { it_showlog; atf_fail "timeout login 2 (see stdout)"; }
	import time
	from imapt import *
	def t():
	    c = Client()
	    t0 = time.monotonic()
	    ln = c.expect(r"^\* BYE", timeout=6)
	    took = time.monotonic() - t0
	    print("BYE after %.1f s" % took)
	    if took < 1.5 or took > 5:
	        raise Fail("BYE after %.1f s, not about 2 s" % took)
	    if not re.match(r"\* BYE \S", ln):
	        raise Fail("BYE without a reason")
	    c.closed()
	run(t)
	EOF
	it_log 'login timeout' || { it_showlog; atf_fail "imapxd.log does not tell of the login timeout"; }
	it_fresh
}
login_timeout_cleanup()
{
	it_cleanup
}

atf_test_case idle_timeout cleanup
idle_timeout_head()
{
	it_head "with timeout idle 3 a silent logged-in session gets" \
	    "BYE ... idle and is closed; activity restarts the clock"
}
idle_timeout_body()
{
	it_start 'timeout idle 3'
	it_py <<-'EOF' || { it_showlog; atf_fail "timeout idle 3 (see stdout)"; }
	import time
	from imapt import *
	def t():
	    c = Client()
	    c.login("alice", "alice-secret")
	    c.cmd("a", "SELECT INBOX")
	    time.sleep(2)
	    c.cmd("b", "NOOP")              # restarts the clock
	    t0 = time.monotonic()
	    ln = c.expect(r"^\* BYE", timeout=8)
	    took = time.monotonic() - t0
	    print("BYE %.1f s after the last command" % took)
	    if took < 2.5 or took > 6:
	        raise Fail("BYE after %.1f s, not about 3 s" % took)
	    if not re.search(r"(?i)idle", ln):
	        raise Fail("the BYE does not say idle: " + ln)
	    c.closed()
	run(t)
	EOF
	it_log 'idle timeout' || { it_showlog; atf_fail "imapxd.log does not tell of the idle timeout"; }
	it_fresh
}
idle_timeout_cleanup()
{
	it_cleanup
}

atf_test_case postlogin_line cleanup
postlogin_line_head()
{
	it_head "with limit line 4K a 10 KiB command after login gets" \
	    "BAD [TOOBIG] and the session goes on"
}
postlogin_line_body()
{
	it_start 'limit line 4K'
	# A long UID set, as clients send them.
	it_py <<-'EOF' || { it_showlog; atf_fail "limit line 4K (see stdout)"; }
	import time
	from imapt import *
	def uidset(size):
	    s, i = "1", 2
	    while len(s) < size:
	        s += ",%d" % (2 * i)
	        i += 1
	    return s
	def t():
	    c = Client()
	    c.login("alice", "alice-secret")
	    c.cmd("a", "SELECT INBOX")
	    c.cmd("b", "UID FETCH %s (FLAGS)" % uidset(3 * 1024))
	    # All of it at once, as a client writes it.
	    c.cmd("c", "UID FETCH %s (FLAGS)" % uidset(10 * 1024),
	          want=r"BAD \[TOOBIG\]")
	    c.cmd("d", "NOOP")
	    # And in pieces, as it may come over a network.
	    line = "e UID FETCH %s (FLAGS)\r\n" % uidset(10 * 1024)
	    for i in range(0, len(line), 1500):
	        c.send(line[i:i + 1500])
	        time.sleep(0.01)
	    c.expect(r"^e BAD \[TOOBIG\]")
	    c.cmd("f", "SELECT INBOX")
	    c.cmd("g", "LOGOUT")
	run(t)
	EOF
	it_fresh
}
postlogin_line_cleanup()
{
	it_cleanup
}

atf_test_case postlogin_literal cleanup
postlogin_literal_head()
{
	it_head "with limit literal 1K, APPEND {5000} gets NO [TOOBIG]" \
	    "without a continuation, APPEND {5000+} has its bytes dropped;" \
	    "the session goes on and nothing is appended"
}
postlogin_literal_body()
{
	it_start 'limit literal 1K'
	it_py <<-'EOF' || { it_showlog; atf_fail "limit literal 1K (see stdout)"; }
	from imapt import *
	def t():
	    c = Client()
	    c.login("alice", "alice-secret")
	    ln, seen = c.cmd("a", "APPEND INBOX {5000}", want=r"NO \[TOOBIG\]")
	    if any(s.startswith("+") for s in seen):
	        raise Fail("a continuation came before the refusal")
	    late = c.quiet(0.5)
	    if late:
	        raise Fail("unexpected after the refusal: %s" % late)
	    c.cmd("b", "NOOP")

	    # The dropped bytes look like commands: none may be run.
	    msg = ("From: alice@example.test\r\nSubject: too big\r\n\r\n" +
	           "q LOGOUT\r\nr SELECT INBOX\r\n" * 400)[:5000]
	    c.send("c APPEND INBOX {5000+}\r\n" + msg + "\r\n")
	    run_lines = []
	    ln = c.expect(r"^c (OK|NO|BAD)", seen=run_lines)
	    if not ln.startswith("c NO [TOOBIG]"):
	        raise Fail("expected c NO [TOOBIG], got: " + ln)
	    ln, seen = c.cmd("d", "NOOP")
	    run_lines += seen
	    ln, seen = c.cmd("e", "STATUS INBOX (MESSAGES)")
	    if not any("MESSAGES 0" in s for s in seen):
	        raise Fail("something was appended: %s" % seen)

	    # A message within the limit is still taken.
	    small = "From: alice@example.test\r\nSubject: small\r\n\r\nhi\r\n"
	    c.send("f APPEND INBOX {%d}\r\n" % len(small))
	    c.expect(r"^\+")
	    c.send(small + "\r\n")
	    c.expect(r"^f OK")
	    ln, seen = c.cmd("g", "STATUS INBOX (MESSAGES)")
	    if not any("MESSAGES 1" in s for s in seen):
	        raise Fail("the small APPEND did not arrive: %s" % seen)
	    for s in run_lines + c.quiet(0.3):
	        if re.match(r"(q|r) ", s) or s.startswith("* BYE"):
	            raise Fail("the dropped literal was run: " + s)
	run(t)
	EOF
	it_fresh
}
postlogin_literal_cleanup()
{
	it_cleanup
}

# The fixture's readiness probe connects to the IMAPS port and closes
# without a handshake; imapxd keeps such a connection (and its slot) until
# the login timeout (see closed_conn_slot).  The connection-limit cases
# use a short login timeout and wait it out, so that they test the limits
# themselves.
it_drain_probe()
{
	sleep 3.5
}

atf_test_case per_address cleanup
per_address_head()
{
	it_head "with limit connections per-address 3 the 4th concurrent" \
	    "connection from an address gets BYE with a reason; other" \
	    "addresses still get in; after one closes a new one is accepted"
}
per_address_body()
{
	it_start 'limit connections per-address 3' 'timeout login 3'
	it_drain_probe
	it_py <<-'EOF' || { it_showlog; atf_fail "per-address 3 (see stdout)"; }
	from imapt import *
	def t():
	    cs = []
	    for i, u in enumerate(("alice", "bob", "alice")):
	        c = Client(name="s%d" % (i + 1))
	        if not c.greeting.startswith("* OK"):
	            raise Fail("connection %d refused: %s" % (i + 1, c.greeting))
	        c.login(u, u + "-secret")
	        cs.append(c)
	    c4 = Client(name="s4")
	    if not re.match(r"\* BYE \S", c4.greeting):
	        raise Fail("the 4th connection got: " + c4.greeting)
	    c4.closed()
	    # Another address is not counted with this one.
	    o = Client(name="other", src="127.0.0.2")
	    if not o.greeting.startswith("* OK"):
	        raise Fail("127.0.0.2 refused: " + o.greeting)
	    o.login("bob", "bob-secret")
	    o.cmd("o1", "NOOP")
	    # One closes: its slot is free again.
	    cs[0].cmd("z", "LOGOUT")
	    cs[0].closed()
	    c5 = Client(name="s5")
	    if not c5.greeting.startswith("* OK"):
	        raise Fail("after one closed, a new connection got: " +
	                   c5.greeting)
	    c5.login("bob", "bob-secret")
	    c5.cmd("n", "NOOP")
	    for c in cs[1:] + [c5, o]:
	        c.cmd("y", "LOGOUT")
	        c.closed()
	run(t)
	EOF
	it_log 'refused' || { it_showlog; atf_fail "imapxd.log does not tell of the refusal"; }
	it_fresh
}
per_address_cleanup()
{
	it_cleanup
}

atf_test_case total cleanup
total_head()
{
	it_head "with limit connections 2 the 3rd concurrent connection, from" \
	    "any address, gets BYE with a reason; after one closes a new one" \
	    "is accepted"
}
total_body()
{
	it_start 'limit connections 2' 'timeout login 3'
	it_drain_probe
	it_py <<-'EOF' || { it_showlog; atf_fail "connections 2 (see stdout)"; }
	from imapt import *
	def t():
	    a = Client(name="s1")
	    b = Client(name="s2", src="127.0.0.2")
	    for c in (a, b):
	        if not c.greeting.startswith("* OK"):
	            raise Fail("%s refused: %s" % (c.name, c.greeting))
	    a.login("alice", "alice-secret")
	    b.login("bob", "bob-secret")
	    for src in ("127.0.0.3", "127.0.0.1"):
	        c3 = Client(name="s3", src=src)
	        if not re.match(r"\* BYE \S", c3.greeting):
	            raise Fail("the 3rd connection got: " + c3.greeting)
	        c3.closed()
	    a.cmd("a1", "NOOP")
	    b.cmd("b1", "NOOP")
	    b.cmd("z", "LOGOUT")
	    b.closed()
	    c4 = Client(name="s4", src="127.0.0.3")
	    if not c4.greeting.startswith("* OK"):
	        raise Fail("after one closed, a new connection got: " +
	                   c4.greeting)
	    c4.login("bob", "bob-secret")
	    c4.cmd("n", "NOOP")
	    for c in (a, c4):
	        c.cmd("y", "LOGOUT")
	        c.closed()
	run(t)
	EOF
	it_log 'refused' || { it_showlog; atf_fail "imapxd.log does not tell of the refusal"; }
	it_fresh
}
total_cleanup()
{
	it_cleanup
}

atf_test_case closed_conn_slot cleanup
closed_conn_slot_head()
{
	it_head "a connection its client closed before the greeting does" \
	    "not keep its connection slot until the login timeout"
}
closed_conn_slot_body()
{
	it_start 'limit connections per-address 2'
	it_py >slot.out 2>&1 <<-'EOF'
	import os, signal, socket, struct, time
	from imapt import *
	def t():
	    # What a port scanner or a health check does (the fixture's own
	    # readiness probe did it once already): connect and close at
	    # once, with a FIN or a reset.  The bug needs the close to arrive
	    # before imapxd writes its greeting; the workers are stopped
	    # meanwhile so that it always does.
	    workers = children(int(os.environ["FX_IMAPXD_PID"]))
	    for w in workers:
	        os.kill(w, signal.SIGSTOP)
	    try:
	        for port, reset in (("FX_IMAPS_PORT", False),
	                            ("FX_IMAPS_PORT", True),
	                            ("FX_IMAP_PORT", True)):
	            p = socket.create_connection(
	                ("127.0.0.1", int(os.environ[port])))
	            if reset:
	                p.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
	                             struct.pack("ii", 1, 0))
	            p.close()
	    finally:
	        for w in workers:
	            os.kill(w, signal.SIGCONT)
	    time.sleep(1)
	    cs = []
	    for i in range(2):
	        c = Client(name="s%d" % (i + 1))
	        cs.append(c)
	        if c.greeting.startswith("* BYE"):
	            raise KnownBug("with limit connections per-address 2 and "
	                           "no other open connection, connection %d "
	                           "got: %s" % (i + 1, c.greeting))
	    for c in cs:
	        c.login("alice", "alice-secret")
	        c.cmd("z", "LOGOUT")
	run(t)
	EOF
	rc=$?
	cat slot.out
	[ $rc -eq 0 ] && it_showlog
	[ $rc -eq 1 ] && { it_showlog; atf_fail "see stdout"; }
	[ $rc -eq 3 ] && { it_showlog; atf_fail "closed connections still hold their slots"; }
	return 0
}
closed_conn_slot_cleanup()
{
	it_cleanup
}

atf_test_case per_user cleanup
per_user_head()
{
	it_head "with limit sessions per-user 2 a 3rd login as alice gets" \
	    "NO [LIMIT] while bob still logs in; the refused connection can" \
	    "log in after one of alice's sessions has logged out"
}
per_user_body()
{
	it_start 'limit sessions per-user 2'
	it_py <<-'EOF' || { it_showlog; atf_fail "sessions per-user 2 (see stdout)"; }
	from imapt import *
	def t():
	    a1 = Client(name="alice1")
	    a1.login("alice", "alice-secret")
	    a2 = Client(name="alice2")
	    a2.login("alice@example.test", "alice-secret")
	    a3 = Client(name="alice3")
	    a3.cmd("l1", "LOGIN alice alice-secret", want=r"NO \[LIMIT\]")
	    # The same user under her full name is the same user.
	    a3.cmd("l2", "LOGIN alice@example.test alice-secret",
	           want=r"NO \[LIMIT\]")
	    a3.cmd("n1", "NOOP")            # still connected, not logged in
	    b = Client(name="bob")
	    b.login("bob", "bob-secret")
	    b.cmd("b1", "NOOP")
	    a1.cmd("z", "LOGOUT")
	    a1.closed()
	    a3.cmd("l3", "LOGIN alice alice-secret")
	    a3.cmd("n2", "SELECT INBOX")
	    a2.cmd("n3", "NOOP")
	    for c in (a2, a3, b):
	        c.cmd("y", "LOGOUT")
	        c.closed()
	run(t)
	EOF
	it_log 'refused' || { it_showlog; atf_fail "imapxd.log does not tell of the refusal"; }
	it_fresh alice alice-secret
}
per_user_cleanup()
{
	it_cleanup
}

atf_test_case bad_input cleanup
bad_input_head()
{
	it_head "garbage before and after login gets BAD and the connection" \
	    "keeps working; a client that vanishes mid-literal disturbs no" \
	    "other session and appends nothing"
}
bad_input_body()
{
	it_start
	it_py <<-'EOF' || { it_showlog; atf_fail "bad input (see stdout)"; }
	import random, time
	from imapt import *
	rnd = random.Random(4711)
	def binary(n):
	    b = bytes(rnd.randrange(256) for _ in range(n))
	    return b.replace(b"\n", b"x").replace(b"\r", b"y") + b"x"
	def garbage(state):
	    return [
	        ("random binary", binary(300) + b"\r\n", True),
	        ("random binary, high bytes", bytes(rnd.randrange(128, 256)
	            for _ in range(200)) + b"\r\n", True),
	        ("NULs", b"\x00" * 64 + b"\r\n", True),
	        ("a NUL in the tag", b"a\x00b NOOP\r\n", True),
	        ("a NUL in the command", b"c NO\x00OP\r\n", True),
	        ("empty lines", b"\r\n\r\n", False),
	        ("a tag-less line", b"NOOP\r\n", True),
	        ("a bare LF line", b"x\n", True),
	        ("an unknown command", b"u FOOBAR baz\r\n", True),
	        ("an unterminated quote",
	            b'q LOGIN "alice alice-secret\r\n' if state == "pre" else
	            b'q SELECT "INBOX\r\n', True),
	    ]
	def feed(c, state):
	    for i, (what, data, needbad) in enumerate(garbage(state)):
	        print("--- %s login: %s" % (state, what), flush=True)
	        c.send(data)
	        tag = "%s%d" % (state, i)
	        ln, seen = c.cmd(tag, "NOOP")
	        if any(s.startswith("* BYE") for s in seen):
	            raise Fail("%s: BYE" % what)
	        bad = [s for s in seen if re.match(r"\S+ BAD", s)]
	        if needbad and not bad:
	            raise Fail("%s: no BAD (got %s)" % (what, seen))
	        if not needbad and len(seen) != len(bad):
	            raise Fail("%s: not BAD, not ignored: %s" % (what, seen))
	def t():
	    c = Client()
	    feed(c, "pre")
	    c.login("alice", "alice-secret")
	    feed(c, "post")
	    c.cmd("s", "SELECT INBOX")

	    # A client vanishes in the middle of a literal while another
	    # session goes on.
	    other = Client(name="other")
	    other.login("alice", "alice-secret")
	    other.cmd("o0", "SELECT INBOX")
	    for i, lit in enumerate(("{100000}", "{100000+}")):
	        v = Client(name="vanish%d" % i)
	        v.login("alice", "alice-secret")
	        v.send("a APPEND INBOX %s\r\n" % lit)
	        if not lit.endswith("+}"):
	            v.expect(r"^\+")
	        other.send("o%da NOOP\r\n" % i)
	        v.send("0123456789")
	        v.close()
	        other.expect(r"^o%da OK" % i)
	        for j in range(3):
	            other.cmd("o%d%d" % (i, j), "NOOP")
	    time.sleep(0.5)
	    ln, seen = other.cmd("o9", "STATUS INBOX (MESSAGES)")
	    if not any("MESSAGES 0" in s for s in seen):
	        raise Fail("a message appeared: %s" % seen)
	    c.cmd("s2", "NOOP")
	    for x in (c, other):
	        x.cmd("z", "LOGOUT")
	        x.closed()
	run(t)
	EOF
	it_fresh
}
bad_input_cleanup()
{
	it_cleanup
}

atf_test_case backend_down cleanup
backend_down_head()
{
	it_head "with Dovecot stopped, LOGIN through imapxd gets" \
	    "NO [UNAVAILABLE], the connection stays and no imapxd process dies"
}
backend_down_body()
{
	it_start
	pids_before=$(ps -o pid= --ppid "$FX_IMAPXD_PID" | sort | tr '\n' ' ')
	# A session that is logged in when the backend goes away.
	it_py >established.out 2>&1 <<-'EOF' &
	from imapt import *
	def t():
	    c = Client(name="established")
	    c.login("alice", "alice-secret")
	    c.cmd("a", "SELECT INBOX")
	    print("READY", flush=True)
	    c.expect(r"^\* BYE", timeout=20)
	    c.closed()
	run(t)
	EOF
	estpid=$!
	i=0
	until grep -q READY established.out; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat established.out; atf_fail "no session before the backend went down"; }
		sleep 0.1
	done

	kill -TERM "$(cat "$FX_DIR/dovecot.pid")" ||
	    atf_fail "cannot signal Dovecot"
	python3 - "$FX_DOVECOT_PORT" <<-'EOF' || atf_fail "Dovecot still accepts connections"
	import socket, sys, time
	end = time.time() + 15
	while time.time() < end:
	    try:
	        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
	    except ConnectionRefusedError:
	        sys.exit(0)
	    except OSError:
	        pass
	    time.sleep(0.1)
	sys.exit(1)
	EOF

	it_py <<-'EOF' || { it_showlog; atf_fail "LOGIN with the backend down (see stdout)"; }
	from imapt import *
	def t():
	    c = Client()
	    c.cmd("a", "LOGIN alice alice-secret", want=r"NO \[UNAVAILABLE\]")
	    c.cmd("b", "NOOP")
	    c.cmd("c", "AUTHENTICATE PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==",
	          want=r"NO \[UNAVAILABLE\]")
	    c.cmd("d", "CAPABILITY")
	    c.cmd("e", "LOGOUT")
	    c.closed()
	run(t)
	EOF
	wait $estpid
	rc=$?
	cat established.out
	[ $rc -eq 0 ] || { it_showlog; atf_fail "the established session did not end with a BYE"; }

	kill -0 "$FX_IMAPXD_PID" || atf_fail "the imapxd parent died"
	pids_after=$(ps -o pid= --ppid "$FX_IMAPXD_PID" | sort | tr '\n' ' ')
	[ "$pids_before" = "$pids_after" ] || { it_showlog; atf_fail "imapxd workers changed: before $pids_before, after $pids_after"; }
	if grep -Eq 'killed by signal|exited with status|fatal' "$FX_DIR/imapxd.log"; then
		it_showlog
		atf_fail "imapxd.log tells of a crash"
	fi
	return 0
}
backend_down_cleanup()
{
	it_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case prelogin_long_line
	atf_add_test_case prelogin_literal
	atf_add_test_case prelogin_command_count
	atf_add_test_case login_timeout
	atf_add_test_case idle_timeout
	atf_add_test_case postlogin_line
	atf_add_test_case postlogin_literal
	atf_add_test_case per_address
	atf_add_test_case total
	atf_add_test_case closed_conn_slot
	atf_add_test_case per_user
	atf_add_test_case bad_input
	atf_add_test_case backend_down
}
