#! /usr/bin/env atf-sh
#
# XEXEC against hostile clients and hostile modules, end to end through
# imapxd, execd and real module programs on the fixture's mail host.
#
# The test modules and their policies are in hostile/ (modules/ and
# execd.d/), added to the mail host's own with FX_EXECD_EXTRA.  They run
# as users of their own (hostile/users): _imapxhostile, and _imapxbomb for
# the fork bomb, whose process limit counts every process of its user on
# the host.  "No process of the module remains" is checked among the
# processes of these users in this fixture's execd cgroups (which a
# module cannot leave, and which zombies keep), so that cases running in
# parallel do not see each other's; without cgroup v2, among all of them.
# The modules write only under $FX_DIR/hostile, which each case makes.
#
# Every case checks that nothing ran that should not have (the recording
# module's file, files an injection would have made, the processes of the
# module users) and that imapxd keeps serving: the same session answers
# NOOP and XEXEC echo, a new session logs in, and no imapxd process died.

. "$(atf_get_srcdir)/fixture.sh"
. "$(atf_get_srcdir)/itlib.sh"

# ht_start [LINE...]: the fixture with the hostile modules, their data
# directory, and the client libraries (imapt.py, hostile.py).
ht_start()
{
	FX_EXECD_EXTRA=$(atf_get_srcdir)/hostile
	[ -f "$FX_EXECD_EXTRA/execd.d/hargs.conf" ] ||
	    atf_fail "no hostile modules in $FX_EXECD_EXTRA"
	it_start "$@"
	mkdir -p "$FX_DIR/hostile" && chmod 0755 "$FX_DIR/hostile" ||
	    atf_fail "cannot make $FX_DIR/hostile"
	ht_pylib
}

# ht_pylib: write hostile.py, the helpers of these cases on top of
# imapt.py.
ht_pylib()
{
	cat >hostile.py <<-'EOF'
	"""hostile: helpers of xexec_hostile_test, on top of imapt."""
	import errno, os, pwd, re, signal, time
	from imapt import *

	# the modules' users: hostile/users (hbomb has one of its own)
	USERS = ["_imapxhostile", "_imapxbomb"]
	UIDS = [str(pwd.getpwnam(u).pw_uid) for u in USERS]
	FXDIR = os.environ["FX_DIR"]
	HDIR = os.path.join(FXDIR, "hostile")
	HOME = os.path.join(HDIR, "alice")	# hargs' and hwrite's %l


	def cgroups():
	    """The cgroups of this fixture's execd (each one's, after a
	    restart); None if execd has none (no cgroup v2)."""
	    with open(os.path.join(FXDIR, "imapxd.log"), errors="replace") as f:
	        bases = re.findall(r"each run in a cgroup below \S*/(\S+)",
	                           f.read())
	    return bases or None


	def procs():
	    """The processes of the modules' users, zombies too: [(pid, state,
	    cmdline)].  With cgroups, only those of this fixture's execd, which
	    they cannot leave, so that other tests' runs do not count."""
	    bases = cgroups()
	    out = []
	    for d in os.listdir("/proc"):
	        if not d.isdigit():
	            continue
	        try:
	            with open("/proc/%s/status" % d) as f:
	                st = dict(ln.rstrip("\n").split(":\t", 1) for ln in f
	                          if ":\t" in ln)
	            if not set(st.get("Uid", "").split()) & set(UIDS):
	                continue
	            with open("/proc/%s/cgroup" % d) as f:
	                cg = [ln[3:].strip() for ln in f if ln.startswith("0::")]
	            with open("/proc/%s/cmdline" % d, "rb") as f:
	                cmd = f.read().replace(b"\0", b" ").decode("utf-8",
	                                                           "replace")
	        except OSError:
	            continue
	        if bases is not None and not [b for b in bases for c in cg
	                                      if ("/" + b + "/") in c + "/"]:
	            continue
	        out.append((int(d), st.get("State", "?")[:1], cmd.strip()))
	    return out


	def no_procs(what):
	    """No process of the modules is left (checked at once: execd
	    answers a run only when its whole tree is gone)."""
	    left = procs()
	    if left:
	        raise Fail("%s: processes of %s remain: %s" % (what, USERS, left))


	def wait_no_procs(what, timeout=20):
	    """The same, for processes that execd did not answer for (a killed
	    execd's): wait until the next execd and init have cleaned up."""
	    deadline = time.monotonic() + timeout
	    while procs():
	        if time.monotonic() > deadline:
	            no_procs(what)
	        time.sleep(0.1)


	def zombies(ppids):
	    """Zombie children of any of ppids."""
	    out = []
	    for d in os.listdir("/proc"):
	        if not d.isdigit():
	            continue
	        try:
	            with open("/proc/%s/stat" % d) as f:
	                st = f.read().rsplit(")", 1)[1].split()
	        except OSError:
	            continue
	        if st[0] == "Z" and int(st[1]) in ppids:
	            out.append((int(d), int(st[1])))
	    return out


	def execd_pids(parent):
	    """execd among the parent's children."""
	    out = []
	    for p in children(parent):
	        try:
	            with open("/proc/%d/cmdline" % p, "rb") as f:
	                arg0 = f.read().split(b"\0")[0]
	        except OSError:
	            continue
	        if os.path.basename(arg0).startswith(b"execd"):
	            out.append(p)
	    return out


	def execd_back(c):
	    """XEXEC works again once the parent has started execd again,
	    after its back-off: until then it is NO [UNAVAILABLE]."""
	    deadline = time.monotonic() + 30
	    i = 0
	    while True:
	        i += 1
	        ln, seen = c.cmd("e%d" % i, "XEXEC echo back", None)
	        if ln.startswith("e%d OK" % i):
	            break
	        if not ln.startswith("e%d NO [UNAVAILABLE] " % i) or \
	                time.monotonic() > deadline:
	            raise Fail("XEXEC after execd died: %s" % ln)
	        time.sleep(0.2)
	    if seen != ["* OK back"]:
	        raise Fail("XEXEC echo after the restart: %s" % seen)


	def q(s):
	    """s as an IMAP quoted string."""
	    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


	def out_decode(lines):
	    """The module output that the "* OK" lines carry.  Each line is
	    checked against out-text of doc/xexec.md: printable ASCII only,
	    no "[" or "+" first, no "}" last, "\\\\" and "\\xHH" escapes and a
	    lone "\\" at the end for a line that goes on.  Returns the bytes
	    with an LF after each whole line."""
	    data = b""
	    for ln in lines:
	        m = re.match(r"\* OK (.*)\Z", ln, re.S)
	        if m is None:
	            raise Fail("not an output line: %r" % ln)
	        t = m.group(1)
	        if len(t) > 1000 or t[:1] in ("[", "+") or t.endswith("}"):
	            raise Fail("output line that could be read as more: %r" % ln)
	        i, more = 0, False
	        while i < len(t):
	            ch = t[i]
	            if not " " <= ch <= "~":
	                raise Fail("unescaped byte in output line: %r" % ln)
	            if ch != "\\":
	                data += ch.encode()
	                i += 1
	            elif i + 1 == len(t):
	                more = True
	                i += 1
	            elif t[i + 1] == "\\":
	                data += b"\\"
	                i += 2
	            elif re.match(r"x[0-9a-f]{2}\Z", t[i + 1:i + 4]):
	                data += bytes([int(t[i + 2:i + 4], 16)])
	                i += 4
	            else:
	                raise Fail("bad escape in output line: %r" % ln)
	        if not more:
	            data += b"\n"
	    return data


	def out_lines(raw):
	    """What out_decode gives for the module output raw: lines cut at
	    LF, a CR right before the LF dropped, a last line without LF still
	    a line."""
	    parts = raw.split(b"\n")
	    last = parts.pop()
	    data = b"".join((p[:-1] if p.endswith(b"\r") else p) + b"\n"
	                    for p in parts)
	    return data + (last + b"\n" if last else b"")


	def records():
	    """The runs hargs recorded for alice: [[arguments...]]."""
	    try:
	        with open(os.path.join(HOME, "argv"), "rb") as f:
	            lines = f.read().split(b"\n")
	    except FileNotFoundError:
	        return []
	    runs = []
	    while len(lines) > 1:
	        n = int(lines.pop(0).split()[1])
	        runs.append([a.decode("utf-8", "surrogateescape")
	                     for a in lines[:n]])
	        del lines[:n]
	    return runs


	def serving(c, tag="z"):
	    """The session goes on after what it was sent: NOOP and XEXEC
	    echo are answered."""
	    c.cmd(tag + "1", "NOOP")
	    _, seen = c.cmd(tag + "2", "XEXEC echo still serving")
	    if seen != ["* OK still", "* OK serving"]:
	        raise Fail("XEXEC echo afterwards gave: %s" % seen)
	EOF
}

# ht_served: a new session logs in and NOOPs, and no imapxd process
# (parent, worker, execd) died or reported a sanitizer error; $1, if
# given, is a death that the case caused itself (an ERE).
ht_served()
{
	it_py >>fresh.out 2>&1 <<-'EOF' ||
	from imapt import *
	run(lambda: fresh("alice", "alice-secret"))
	EOF
	    { cat fresh.out; it_showlog; atf_fail "a new session no longer" \
	    "logs in and NOOPs (see stdout)"; }
	if grep -E '\(pid [0-9]+\) (killed by signal|exited with status)|Sanitizer|runtime error' \
	    "$FX_DIR/imapxd.log" | grep -Ev "${1:-^$}" | grep -q .; then
		it_showlog
		atf_fail "an imapxd process died (see imapxd.log in stdout)"
	fi
}

# ht_py: run the case's script (stdin) with hostile.py; on failure show
# its output and the log.  A script that saw a known limitation (exit
# 3, itlib.sh) makes the case an expected failure.
ht_py()
{
	it_py "$@" >case.out 2>&1
	_rc=$?
	cat case.out
	case $_rc in
	0)	;;
	3)	atf_expect_fail "$(sed -n 's/^KNOWN BUG: //p' case.out)"
		atf_fail "see stdout" ;;
	*)	it_showlog
		atf_fail "see stdout" ;;
	esac
}

atf_test_case shell_syntax cleanup
shell_syntax_head()
{
	it_head "shell metacharacters, \$(...), backticks, --options and ../" \
	    "paths in XEXEC arguments: bytes for the module or refused, never" \
	    "run by a shell"
}
shell_syntax_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    pwned = [os.path.join(HOME, "pwned-subst"),
	             os.path.join(HOME, "pwned-backtick"),
	             os.path.join(HOME, "pwned-atom")]
	    args = [";", "|", "&", ">", "<", ">>out", "a;b", "a|b", "a&&b",
	            "$(touch %s)" % pwned[0], "`touch %s`" % pwned[1],
	            "$HOME", "${IFS}", "*", "?", "~", "'", '"', "\\",
	            "../../../etc/passwd", "..", "/etc/shadow", "%u", "%a",
	            "%1", "%%", "a b", "", " spaces ", "!", "#x", "x=1",
	            "\\x41", "}", "[ALERT]"]
	    # no shell: every one arrives as it was sent, one argv word each
	    _, seen = c.cmd("s1", "XEXEC hargs " + " ".join(q(a) for a in args))
	    want = [args]
	    if out_decode(seen) != "".join(a + "\n" for a in args).encode():
	        raise Fail("hargs printed other arguments: %s" % seen)
	    atoms = [";", "|", "&", ">", "<", "`touch`", "$HOME", "../x", "~",
	             "!", "#", "a]"]
	    _, seen = c.cmd("s2", "XEXEC hargs " + " ".join(atoms))
	    if seen != ["* OK " + a for a in atoms]:
	        raise Fail("hargs printed other arguments: %s" % seen)
	    want.append(atoms)

	    # not astrings: syntax errors, before anything runs
	    for i, text in enumerate([
	            "XEXEC hargs $(touch %s)" % pwned[2],
	            "XEXEC hargs (a)",
	            'XEXEC hargs "unterminated',
	            "XEXEC hargs a  b",
	            "XEXEC hargs a ",
	            "XEXEC hargs *",
	            "XEXEC hargs %u"]):
	        ln, _ = c.cmd("b%d" % i, text, "BAD")
	        if ln != "b%d BAD Syntax error in XEXEC arguments" % i:
	            raise Fail("not the syntax error of doc/xexec.md: %s" % ln)

	    # options: never given to a module that did not allow them
	    for i, text in enumerate(["--option", "-", "ok -x", "--", "-rf /"]):
	        c.cmd("o%d" % i, "XEXEC hargs " + text, r"NO \[XEXEC BADARG\] ")
	    # a module with an argument pattern refuses what does not match
	    for i, a in enumerate(["../../etc/passwd", "a;b", "$(id)", "`id`",
	                           "a b", "x|y", "/etc"]):
	        c.cmd("w%d" % i, "XEXEC hword " + q(a),
	              r"NO \[XEXEC BADARG\] Argument refused: argument does "
	              r"not match the pattern")
	    c.cmd("w9", "XEXEC hword good@example.test")
	    want.append(["good@example.test"])

	    got = records()
	    if got != want:
	        raise Fail("hargs ran with %s, not %s" % (got, want))
	    for p in pwned:
	        if os.path.exists(p):
	            raise Fail("an argument was run as a command: %s" % p)
	    no_procs("after the runs")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
shell_syntax_cleanup()
{
	it_cleanup
}

atf_test_case literals cleanup
literals_head()
{
	it_head "NUL, CR and LF in literal arguments, a 100,000-byte argument," \
	    "too many bytes in all, 1,000 arguments: NO [XEXEC BADARG] with" \
	    "the stream in step, and nothing runs"
}
literals_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	def refused(c, tag, why="", want=r"NO \[XEXEC BADARG\] "):
	    seen = []
	    ln = c.expect(r"^%s (OK|NO|BAD)\b" % tag, seen=seen)
	    if not re.match(r"%s %s%s" % (tag, want, why), ln):
	        raise Fail("%s: expected %s%s, got: %s" % (tag, want, why, ln))
	    if seen:
	        raise Fail("%s: answered %s before its NO" % (tag, seen))

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")

	    # control bytes in a literal: execd's policy refuses them
	    for tag, lit, data, why in [
	            ("n1", b"{5}", b"a\0b\0c", "Argument refused: argument "
	             "with a forbidden byte"),
	            ("n2", b"{6}", b"cr\r\nlf", "Argument refused: argument "
	             "with a control character"),
	            ("n3", b"{3}", b"a\nb", "Argument refused: argument with "
	             "a control character"),
	            ("n4", b"{4}", b"a\rb\r", "Argument refused: argument "
	             "with a control character"),
	            ("n5", b"~{4}", b"\0ab\0", "Argument refused: argument "
	             "with a forbidden byte")]:
	        c.send(b"%s XEXEC hargs ok %s\r\n" % (tag.encode(), lit))
	        c.expect(r"^\+ ")
	        c.send(data + b"\r\n")
	        refused(c, tag, why)
	    c.send(b"n6 XEXEC hargs {3+}\r\n\0\0\0 ok\r\n")
	    refused(c, "n6", "Argument refused: argument with a forbidden byte")
	    # a NUL in the module's name
	    c.send(b"n7 XEXEC {7}\r\n")
	    c.expect(r"^\+ ")
	    c.send(b"echo\0hi x\r\n")
	    refused(c, "n7", want=r"NO \[XEXEC NOMODULE\] No such module")

	    # 100,000 bytes: refused before "+"; sent anyway (non-synchronizing
	    # literal), they are dropped, even where they look like commands
	    c.send(b"t1 XEXEC hargs {100000}\r\n")
	    refused(c, "t1", r"Argument too long \(at most 16304 bytes\)")
	    c.cmd("t2", "NOOP")
	    c.send(b"t3 XEXEC hargs {100000+}\r\n" + b"x LOGOUT\r\n" * 10000 +
	           b"\r\n")
	    refused(c, "t3", r"Argument too long \(at most 16304 bytes\)")
	    c.cmd("t4", "NOOP")
	    # under the front end's limit, over the policy's (8192)
	    c.send(b"t5 XEXEC hargs {9000}\r\n")
	    c.expect(r"^\+ ")
	    c.send(b"y" * 9000 + b"\r\n")
	    refused(c, "t5", "Argument refused: argument too long")
	    # more than 64 KiB in all, in arguments that fit one by one
	    c.send(b"t6 XEXEC hargs {15000}\r\n")
	    for i in range(3):
	        c.expect(r"^\+ ")
	        c.send(b"z" * 15000 + b" {15000}\r\n")
	    c.expect(r"^\+ ")
	    c.send(b"z" * 15000 + b" {15000}\r\n")
	    refused(c, "t6", r"Arguments too long \(at most 65536 bytes in all\)")
	    c.cmd("t7", "NOOP")
	    # the policy's longest argument runs, and arrives whole
	    c.send(b"t8 XEXEC hargs {8192}\r\n")
	    c.expect(r"^\+ ")
	    c.send(b"y" * 8191 + b"}\r\n")
	    seen = []
	    ln = c.expect(r"^t8 (OK|NO|BAD)", seen=seen)
	    if not ln.startswith("t8 OK") or \
	            out_decode(seen) != b"y" * 8191 + b"}\n":
	        raise Fail("the 8192-byte argument: %s" % ln)
	    want = [["y" * 8191 + "}"]]

	    # 1,000 arguments: as atoms, and as literals the front end drops
	    c.cmd("m1", "XEXEC hargs " + " ".join(["a"] * 1000),
	          r"NO \[XEXEC BADARG\] Too many arguments \(at most 64\)")
	    c.send(b"m2 XEXEC hargs" + b" {1+}\r\nz" * 1000 + b"\r\n")
	    refused(c, "m2", r"Too many arguments \(at most 64\)")
	    c.cmd("m3", "NOOP")
	    c.cmd("m4", "XEXEC hargs " + " ".join(["a"] * 65),
	          r"NO \[XEXEC BADARG\] Too many arguments \(at most 64\)")
	    args = ["a%d" % i for i in range(64)]
	    _, seen = c.cmd("m5", "XEXEC hargs " + " ".join(args))
	    if seen != ["* OK " + a for a in args]:
	        raise Fail("64 arguments: %s" % seen)
	    want.append(args)

	    got = records()
	    if got != want:
	        raise Fail("hargs ran %d times (%s), not %d times" %
	                   (len(got), [len(r) for r in got], len(want)))
	    no_procs("after the runs")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
literals_cleanup()
{
	it_cleanup
}

atf_test_case refused_modules cleanup
refused_modules_head()
{
	it_head "XEXEC before login, unknown modules, odd module names and a" \
	    "module the user may not run: refused alike, nothing runs"
}
refused_modules_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	NOMODULE = "NO [XEXEC NOMODULE] No such module"

	def case():
	    # before login XEXEC is no command at all
	    c = Client(name="anon")
	    for i, text in enumerate(["XEXEC echo hi", "XEXEC",
	                              "XEXEC hargs %s" % q("$(id)"),
	                              "xexec hargs {5}"]):
	        tag = "p%d" % i
	        c.send("%s %s\r\n" % (tag, text))
	        # a literal before login is refused before its "+" (nothing
	        # is uploaded for nothing); if a "+" comes, send it
	        ln = c.expect(r"^(\+ |%s (OK|NO|BAD)\b)" % tag)
	        if ln.startswith("+"):
	            c.send(b"a\0b\0c\r\n")
	            ln = c.expect(r"^%s (OK|NO|BAD)\b" % tag)
	        if ln != tag + " BAD Command unknown or not valid before login":
	            raise Fail("XEXEC before login: %s" % ln)
	    c.login("alice", "alice-secret", "p9")
	    serving(c, "pz")
	    c.close()

	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    for i, name in enumerate(["nosuch", "../echo", "/bin/sh",
	                              q("echo;id"), q("echo "), q("echo\\"),
	                              "a" * 100, "ech%o",
	                              q("-echo"), q("")]):
	        ln, _ = c.cmd("u%d" % i, "XEXEC %s hi" % name, None)
	        if ln[len("u%d " % i):] != NOMODULE and \
	                not ln.startswith("u%d BAD" % i):
	            raise Fail("XEXEC %s: %s" % (name, ln))
	    serving(c)
	    c.close()

	    # bob may not run alice's modules: the answer does not tell him
	    # whether they exist
	    b = Client(name="bob")
	    b.login("bob", "bob-secret")
	    _, listed = b.cmd("l1", "XEXEC")
	    names = [ln.split()[2] for ln in listed if ln.startswith("* XEXEC ")]
	    if "echo" not in names or [n for n in names if n.startswith("h")]:
	        raise Fail("bob's modules: %s" % names)
	    for i, text in enumerate(["hargs x", "hword x", "hstall", "hbomb",
	                              "HARGS x", "nosuch x"]):
	        ln, seen = b.cmd("v%d" % i, "XEXEC " + text, None)
	        if ln != "v%d %s" % (i, NOMODULE) or seen:
	            raise Fail("bob: XEXEC %s: %s %s" % (text, seen, ln))
	    serving(b)
	    b.close()

	    if records() != [] or os.path.exists(os.path.join(HDIR, "bob")):
	        raise Fail("a refused module ran: %s" % records())
	    with open(os.path.join(FXDIR, "imapxd.log")) as f:
	        ran = [ln for ln in f if re.search(r"execd\[\d+\]: h\w+: user ", ln)]
	    if ran:
	        raise Fail("execd ran hostile modules: %s" % ran)
	    no_procs("after the refusals")

	run(case)
	EOF
	ht_served
}
refused_modules_cleanup()
{
	it_cleanup
}

atf_test_case flood cleanup
flood_head()
{
	it_head "a module that floods its output is stopped at its policy's" \
	    "byte or line limit with NO [XEXEC OUTPUT], and the client gets" \
	    "exactly that much"
}
flood_body()
{
	ht_start
	ht_py <<-'EOF'
	import imapt
	from hostile import *

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    # 16K in lines of 100 bytes and their LF: 162 lines and 22 bytes
	    # (not shown line by line)
	    shown, imapt.show = imapt.show, lambda *a: None
	    _, seen = c.cmd("f1", "XEXEC hflood", r"NO \[XEXEC OUTPUT\] "
	                    r"command output too long, command stopped")
	    imapt.show = shown
	    print("hflood: %d lines of output" % len(seen))
	    if out_decode(seen) != (b"x" * 100 + b"\n") * 162 + b"x" * 22 + b"\n":
	        raise Fail("hflood: not the first 16384 bytes (%d lines)" %
	                   len(seen))
	    no_procs("hflood")
	    _, seen = c.cmd("f2", "XEXEC hlines", r"NO \[XEXEC OUTPUT\] ")
	    if seen != ["* OK x"] * 50:
	        raise Fail("hlines: %d lines, not the first 50" % len(seen))
	    no_procs("hlines")
	    serving(c)
	    c.close()

	run(case)
	EOF
	it_log "hflood: user alice@example.test args 0: signal [0-9]+, output limit" ||
	    atf_fail "execd did not log the output limit"
	ht_served
}
flood_cleanup()
{
	it_cleanup
}

atf_test_case hang cleanup
hang_head()
{
	it_head "a module that never exits, ignores SIGTERM and leaves" \
	    "children in other sessions is stopped at its timeout with" \
	    "NO [XEXEC TIMEOUT], and none of its processes remains"
}
hang_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    c.send("h1 XEXEC hhang\r\n")
	    c.expect(r"^\* OK hanging$")
	    running = procs()
	    print("running: %s" % running)
	    if not running:
	        raise Fail("hhang is not running")
	    ln = c.expect(r"^h1 ", timeout=30)
	    if ln != "h1 NO [XEXEC TIMEOUT] command took too long and was " \
	            "stopped":
	        raise Fail("hhang: %s" % ln)
	    no_procs("hhang")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
hang_cleanup()
{
	it_cleanup
}

atf_test_case forkbomb cleanup
forkbomb_head()
{
	it_head "a fork bomb stays within its policy's process limit and" \
	    "nothing of it outlives the run"
}
forkbomb_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	import fcntl

	LIMIT = 12	# hostile/execd.d/hbomb.conf

	def bomb_lock():
	    """The process limit counts every process of _imapxbomb on the
	    host: one hbomb run at a time, whatever runs in parallel."""
	    f = open("/tmp/imapx-hbomb.lock", "a")
	    deadline = time.monotonic() + 60
	    while True:
	        try:
	            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
	            return f
	        except BlockingIOError:
	            if time.monotonic() > deadline:
	                raise Fail("another hbomb run holds the lock")
	            time.sleep(0.05)

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    lock = bomb_lock()
	    most = 0
	    for i in range(3):
	        c.send("b%d XEXEC hbomb\r\n" % i)
	        seen = []
	        while True:
	            most = max(most, len(procs()))
	            ln = c.line(timeout=30)
	            if ln.startswith("b%d " % i):
	                break
	            seen.append(ln)
	        if ln != "b%d OK command exited successfully" % i:
	            raise Fail("hbomb: %s" % ln)
	        no_procs("hbomb")
	        forked = [int(ln.split()[3]) for ln in seen
	                  if ln.startswith("* OK forked ")]
	        if not forked or max(forked) + 2 > LIMIT:
	            raise Fail("hbomb forked %s times" % max(forked or [0]))
	        if not [ln for ln in seen if ln.endswith("Cannot fork")] or \
	                "* OK fork refused" not in seen:
	            raise Fail("hbomb's forks were not refused: %s" % seen)
	    lock.close()
	    print("at most %d processes seen" % most)
	    if most > LIMIT:
	        raise Fail("%d processes of hbomb, over the limit" % most)
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
forkbomb_cleanup()
{
	it_cleanup
}

atf_test_case write_outside cleanup
write_outside_head()
{
	it_head "a module cannot write outside its write path: not in a" \
	    "directory of its own user, through .. or a symbolic link, in" \
	    "/tmp or in the mail host's directory"
}
write_outside_body()
{
	ht_start
	_o=$FX_DIR/hostile/outside _h=$FX_DIR/hostile/alice
	mkdir -p "$_o" "$_h" && echo original >"$_o/existing" &&
	    ln -s ../outside "$_h/link" &&
	    chown _imapxhostile: "$_o" "$_o/existing" "$_h" ||
	    atf_fail "cannot set up $FX_DIR/hostile"
	chmod 0700 "$_h"
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    out = os.path.join(HDIR, "outside")
	    # the file modes would let the module's user write there
	    pw = pwd.getpwnam(USERS[0])
	    if os.fork() == 0:
	        os.setgid(pw.pw_gid)
	        os.setuid(pw.pw_uid)
	        with open(os.path.join(out, "modes"), "w") as f:
	            f.write("ok\n")
	        os._exit(0)
	    _, st = os.wait()
	    if st != 0:
	        raise Fail("%s cannot write %s even without the sandbox" %
	                   (USERS[0], out))
	    os.remove(os.path.join(out, "modes"))

	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    _, seen = c.cmd("w1", "XEXEC hwrite")
	    want = ["* OK inside: written"] + ["* OK %s: refused" % n for n in
	            ("outside", "existing", "dotdot", "symlink", "tmp", "state")]
	    if seen != want:
	        raise Fail("hwrite: %s" % seen)
	    with open(os.path.join(HOME, "inside")) as f:
	        if f.read() != "pwned\n":
	            raise Fail("hwrite did not write its own file")
	    with open(os.path.join(out, "existing")) as f:
	        if f.read() != "original\n":
	            raise Fail("hwrite changed a file outside its path")
	    for p in [os.path.join(out, "pwned"),
	              os.path.join(out, "pwned-dotdot"),
	              os.path.join(out, "pwned-symlink"),
	              "/tmp/%s.pwned" % os.path.basename(FXDIR),
	              os.path.join(FXDIR, "pwned")]:
	        if os.path.exists(p):
	            raise Fail("hwrite wrote %s" % p)
	    if sorted(os.listdir(out)) != ["existing"]:
	        raise Fail("new files outside: %s" % os.listdir(out))
	    no_procs("hwrite")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
write_outside_cleanup()
{
	it_cleanup
}

atf_test_case socket cleanup
socket_head()
{
	it_head "under network none a module gets no socket: inet, inet6," \
	    "unix and netlink fail with EACCES, a packet socket kills it"
}
socket_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	TRIES = ["inet-tcp", "inet-udp", "inet6-tcp", "unix", "netlink"]

	def case():
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    _, seen = c.cmd("n1", "XEXEC hsocket")
	    want = []
	    for t in TRIES:
	        want += ["* OK %s: trying" % t, "* OK %s: refused (EACCES)" % t]
	    if seen != want:
	        raise Fail("hsocket: %s" % seen)
	    no_procs("hsocket")
	    # a family that no promise names: the filter kills (SIGSYS)
	    _, seen = c.cmd("n2", "XEXEC hsocket packet",
	                    r"NO \[XEXEC SIGNAL 31\] command killed by signal 31")
	    if seen != want + ["* OK packet: trying"]:
	        raise Fail("hsocket packet: %s" % seen)
	    no_procs("hsocket packet")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
socket_cleanup()
{
	it_cleanup
}

atf_test_case forged_output cleanup
forged_output_head()
{
	it_head "module output that looks like tagged answers, response" \
	    "codes, continuations, literals or BYE reaches the client as" \
	    "escaped text of \"* OK\" lines only, byte for byte"
}
forged_output_body()
{
	ht_start
	# what the module writes, run by hand
	python3 "$FX_DIR/modules/hforge" >forge.expected ||
	    atf_fail "hforge does not run by hand"
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    with open("forge.expected", "rb") as f:
	        raw = f.read()
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    c.send("f1 XEXEC hforge\r\nf2 NOOP\r\n")
	    seen = []
	    while True:
	        ln = c.line()
	        if not ln.startswith("* "):
	            break
	        seen.append(ln)
	    # the first line that is not untagged is the command's answer
	    if ln != "f1 OK command exited successfully":
	        raise Fail("hforge: the line after its output is: %s" % ln)
	    ln = c.line()
	    if not ln.startswith("f2 OK"):
	        raise Fail("the pipelined NOOP got: %s" % ln)
	    got = out_decode(seen)
	    if got != out_lines(raw):
	        raise Fail("hforge's output arrived as %r, not %r" %
	                   (got, out_lines(raw)))
	    no_procs("hforge")
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served
}
forged_output_cleanup()
{
	it_cleanup
}

atf_test_case stalled_run cleanup
stalled_run_head()
{
	it_head "while a module is stalled, another session on the same" \
	    "worker gets its NOOP and its own XEXEC answered; the stalled" \
	    "run completes once released"
}
stalled_run_body()
{
	ht_start 'prefork 1'
	mkfifo -m 0600 "$FX_DIR/hostile/stall.fifo" &&
	    chown _imapxhostile: "$FX_DIR/hostile/stall.fifo" ||
	    atf_fail "cannot make the FIFO"
	ht_py <<-'EOF'
	from hostile import *

	def release(line):
	    """Write line to hstall's FIFO, once it has opened it."""
	    path = os.path.join(HDIR, "stall.fifo")
	    deadline = time.monotonic() + 20
	    while True:
	        try:
	            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
	            break
	        except OSError as e:
	            if e.errno != errno.ENXIO or time.monotonic() > deadline:
	                raise Fail("cannot release hstall: %s" % e)
	            time.sleep(0.05)
	    os.write(fd, line.encode() + b"\n")
	    os.close(fd)

	def case():
	    parent = int(os.environ["FX_IMAPXD_PID"])
	    a = Client(name="stalled")
	    a.login("alice", "alice-secret")
	    a.send("s1 XEXEC hstall\r\n")
	    a.expect(r"^\* OK stalled$")
	    b = Client(name="other")
	    b.login("bob", "bob-secret")
	    owners = conn_owners(frontends(parent))
	    print("workers of the sessions: %s" % owners)
	    if owners.get(a.lport) is None or \
	            owners.get(a.lport) != owners.get(b.lport):
	        raise Fail("the sessions are not on one worker: %s" % owners)

	    # the stall holds: the module cannot go on before release()
	    b.cmd("o1", "NOOP")
	    _, seen = b.cmd("o2", "XEXEC echo meanwhile")
	    if seen != ["* OK meanwhile"]:
	        raise Fail("the other session's XEXEC echo: %s" % seen)
	    b.cmd("o3", "NOOP")
	    early = a.quiet(0)
	    if early:
	        raise Fail("the stalled session got %s before release" % early)
	    if len(procs()) < 2:
	        raise Fail("hstall is not running: %s" % procs())

	    release("go")
	    a.expect(r"^\* OK released go$")
	    ln = a.expect(r"^s1 ")
	    if ln != "s1 OK command exited successfully":
	        raise Fail("the released run: %s" % ln)
	    no_procs("hstall")
	    serving(a)
	    serving(b, "y")
	    a.close()
	    b.close()

	run(case)
	EOF
	ht_served
}
stalled_run_cleanup()
{
	it_cleanup
}

atf_test_case execd_killed_in_run cleanup
execd_killed_in_run_head()
{
	it_head "execd killed with SIGKILL while a module runs: the session" \
	    "gets NO [UNAVAILABLE] and goes on, execd comes back and XEXEC" \
	    "works, and no process of the module nor a zombie is left"
}
execd_killed_in_run_body()
{
	ht_start 'prefork 1'
	mkfifo -m 0600 "$FX_DIR/hostile/stall.fifo" &&
	    chown _imapxhostile: "$FX_DIR/hostile/stall.fifo" ||
	    atf_fail "cannot make the FIFO"
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    parent = int(os.environ["FX_IMAPXD_PID"])
	    old = execd_pids(parent)
	    if len(old) != 1:
	        raise Fail("execd: %s" % old)
	    a = Client(name="alice")
	    a.login("alice", "alice-secret")
	    a.send("k1 XEXEC hstall\r\n")
	    a.expect(r"^\* OK stalled$")
	    running = procs()
	    print("running: %s" % running)
	    if len(running) < 2:
	        raise Fail("hstall and its child are not there: %s" % running)

	    os.kill(old[0], signal.SIGKILL)
	    print("killed execd %d" % old[0], flush=True)
	    ln = a.expect(r"^k1 ", timeout=30)
	    if not ln.startswith("k1 NO [UNAVAILABLE] "):
	        raise Fail("the run in progress got: %s" % ln)
	    a.cmd("k2", "NOOP")

	    execd_back(a)
	    new = execd_pids(parent)
	    if len(new) != 1 or new == old:
	        raise Fail("execd before %s, now %s" % (old, new))

	    # what the killed execd left is gone: the module's tree (the
	    # new execd removes the old one's cgroups) and every zombie
	    print("left after the restart: %s" % procs(), flush=True)
	    try:
	        wait_no_procs("after execd was killed")
	    except Fail as e:
	        if cgroups() is None:
	            raise KnownBug("without cgroup v2, what a module forked "
	                           "outlives a killed execd (execd.8, Process "
	                           "trees): %s" % e)
	        raise
	    # the killed execd's cgroup goes too (the new execd removes it,
	    # or another fixture's that started at the same time)
	    with open(os.path.join(FXDIR, "imapxd.log"), errors="replace") as f:
	        dead = re.findall(r"execd\[%d\]: each run in a cgroup below "
	                          r"(\S+)" % old[0], f.read())
	    deadline = time.monotonic() + 20
	    while dead and os.path.exists(dead[0]):
	        if time.monotonic() > deadline:
	            raise Fail("the killed execd's cgroup %s is left" % dead[0])
	        time.sleep(0.1)
	    ours = [parent] + children(parent)
	    for p in list(ours):
	        ours += children(p)
	    z = zombies(ours)
	    if z:
	        raise Fail("zombies (pid, parent): %s" % z)
	    _, seen = a.cmd("k3", "XEXEC hargs after")
	    if seen != ["* OK after"]:
	        raise Fail("XEXEC hargs after the restart: %s" % seen)
	    no_procs("hargs after the restart")
	    serving(a)
	    a.close()

	run(case)
	EOF
	it_log "execd 0 \(pid [0-9]+\) killed by signal 9" ||
	    atf_fail "the parent did not see execd die"
	ht_served "execd 0 \(pid [0-9]+\) killed by signal 9"
}
execd_killed_in_run_cleanup()
{
	it_cleanup
}

atf_test_case execd_killed_in_session cleanup
execd_killed_in_session_head()
{
	it_head "execd killed with SIGKILL during an interactive session:" \
	    "the session ends as when its module ends, the NO [UNAVAILABLE]" \
	    "follows the client's DONE, and no line the client sent for the" \
	    "module is taken for a command"
}
execd_killed_in_session_body()
{
	ht_start
	ht_py <<-'EOF'
	from hostile import *

	def case():
	    parent = int(os.environ["FX_IMAPXD_PID"])
	    old = execd_pids(parent)
	    c = Client(name="alice")
	    c.login("alice", "alice-secret")
	    c.send("c1 XEXEC calendar\r\n")
	    c.expect(r"^\+ Ready for input")
	    c.send("help\r\n")
	    c.expect(r"^\* OK ok$")
	    os.kill(old[0], signal.SIGKILL)
	    print("killed execd %d" % old[0], flush=True)
	    # the client goes on with its session, as it cannot know
	    c.send("add today 9:00 meeting\r\nzz CREATE pwned-in-flight\r\n")
	    seen = []
	    c.expect(r"^\* OK \[XEXEC ENDED\] ", timeout=30, seen=seen)
	    if [ln for ln in seen if not ln.startswith("* OK ")]:
	        raise Fail("before the session's end: %s" % seen)
	    c.send("zy CREATE pwned-after-end\r\nDONE\r\n")
	    seen = []
	    ln = c.expect(r"^\S+ (OK|NO|BAD)\b", seen=seen)
	    if ln != "c1 NO [UNAVAILABLE] Service went away, try again later" \
	            or seen:
	        raise Fail("the session's end: %s %s" % (seen, ln))
	    _, seen = c.cmd("l1", 'LIST "" "pwned*"')
	    if seen:
	        raise Fail("lines for the module ran as commands: %s" % seen)
	    execd_back(c)
	    serving(c)
	    c.close()

	run(case)
	EOF
	ht_served "execd 0 \(pid [0-9]+\) killed by signal 9"
}
execd_killed_in_session_cleanup()
{
	it_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case shell_syntax
	atf_add_test_case literals
	atf_add_test_case refused_modules
	atf_add_test_case flood
	atf_add_test_case hang
	atf_add_test_case forkbomb
	atf_add_test_case write_outside
	atf_add_test_case socket
	atf_add_test_case forged_output
	atf_add_test_case stalled_run
	atf_add_test_case execd_killed_in_run
	atf_add_test_case execd_killed_in_session
}
