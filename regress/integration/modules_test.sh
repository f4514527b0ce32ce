#! /usr/bin/env atf-sh
#
# The XEXEC modules of etc/modules, run directly, not yet through XEXEC,
# the way execd will run them: as their etc/execd.d policy says (run-as
# user, argv template, argument checks, clean environment, limits, a
# Landlock sandbox with only the policy's paths, no sockets), against the
# fixture's Dovecot and OpenSMTPD.  What the Sieve modules do is checked
# with real mail: a blacklisted sender's mail is discarded, a whitelisted
# one's delivered, the vacation reply reaches the sender, a forward
# arrives at the other user, and all four work together.  changepassword
# is checked with real LOGINs, calendar with an interactive session.
#
# The modules are copied to $FX_DIR/libexec, root's and readable by all,
# as they would be installed; the policies are read with -D
# libexec=$FX_DIR/libexec -D demo=$FX_DIR, as execd -D would.

# mt_setup: the module copies, the runner, the mail host's users.
mt_setup()
{
	_src=$(atf_get_srcdir)
	for _d in "$_src/modules" "$_src/../../../etc/modules"; do
		[ -x "$_d/echo" ] && { MT_SRC=$_d; break; }
	done
	for _d in "$_src/execd.d" "$_src/../../../etc/execd.d"; do
		[ -f "$_d/echo.conf" ] && { MT_POLICIES=$_d; break; }
	done
	[ -n "$MT_SRC" ] && [ -n "$MT_POLICIES" ] ||
	    atf_fail "etc/modules or etc/execd.d not found near $_src"
	[ -n "$FX_DIR" ] || {
		FX_DIR=$(mktemp -d /tmp/imapx-fx.XXXXXXXX) &&
		    chmod 0755 "$FX_DIR" && echo "$FX_DIR" >fixture.dir ||
		    atf_fail "mktemp failed"
		sh "$FX_MAILHOST" users || atf_fail "cannot create the users"
	}
	MT_LIBEXEC=$FX_DIR/libexec
	mkdir -p "$MT_LIBEXEC" && chmod 0755 "$MT_LIBEXEC" ||
	    atf_fail "cannot make $MT_LIBEXEC"
	for _f in "$MT_SRC"/*; do
		[ ! -f "$_f" ] || cp -p "$_f" "$MT_LIBEXEC/" ||
		    atf_fail "cannot copy the modules"
	done
	mt_runner
}

# mt_run MODULE USER [ARGUMENT...]: run MODULE for USER (a local part of
# example.test, or a whole address) as execd would, with stdin as it is;
# stdout in out, stderr in err; its exit status (3: the policy refused).
mt_run()
{
	_m=$1 _u=$2
	shift 2
	case $_u in *@*) ;; *) _u=$_u@example.test ;; esac
	python3 runmod.py -D libexec="$MT_LIBEXEC" -D demo="$FX_DIR" \
	    "$MT_POLICIES/$_m.conf" "$_u" "$@" >out 2>err
}

# mt_ok MODULE USER [ARGUMENT...]: mt_run, which must succeed.
mt_ok()
{
	mt_run "$@" && return 0
	cat out err >&2
	atf_fail "$* failed: $(head -1 err)"
}

# mt_refused MODULE USER [ARGUMENT...]: mt_run, which must fail with one
# line on stderr that says why, and nothing else.
mt_refused()
{
	if mt_run "$@"; then
		cat out >&2
		atf_fail "$* was not refused"
	fi
	[ "$(wc -l <err)" -eq 1 ] && grep -q . err ||
	    { cat out err >&2; atf_fail "$*: not one line on stderr"; }
}

# mt_out LINE...: out holds exactly these lines.
mt_out()
{
	printf '%s\n' "$@" >expected
	diff -u expected out >&2 || atf_fail "unexpected output (see stderr)"
}

mt_pass()
{
	case $1 in
	alice|bob) echo "$1-secret" ;;
	*) echo load-secret ;;
	esac
}

# mt_send FROM TO ID [FROM-HEADER]: mail with Message-ID <ID@modules.test>
# through the MTA; FROM and TO are local parts of example.test or whole
# addresses.
mt_send()
{
	_f=$1 _t=$2
	case $_f in *@*) ;; *) _f=$_f@example.test ;; esac
	case $_t in *@*) ;; *) _t=$_t@example.test ;; esac
	fx_sendmail "$_f" "$_t" <<-EOF || atf_fail "the MTA refused $3"
	From: ${4:-$_f}
	To: $_t
	Subject: test $3
	Message-ID: <$3@modules.test>

	This is $3.
	EOF
}

# mt_delivered USER ID / mt_discarded USER ID / mt_replied USER ID TO /
# mt_forwarded USER ID TO: wait until Dovecot has done that with message
# ID for USER (fixture.sh).
mt_delivered()
{
	fx_delivered "$1" "$2@modules.test"
}
mt_discarded()
{
	fx_discarded "$1" "$2@modules.test"
}
mt_replied()
{
	fx_replied "$1" "$2@modules.test" "$3"
}
mt_forwarded()
{
	fx_forwarded "$1" "$2@modules.test" "$3"
}

# mt_nolog ERE: Dovecot's log has no such line.
mt_nolog()
{
	fx_log_none dovecot.log "$1"
}

# mt_count USER N: USER's INBOX holds N messages.
mt_count()
{
	fx_wait_messages "$1" "$(mt_pass "$1")" "$2" ||
	    atf_fail "$1's INBOX does not hold $2 messages"
}

# mt_fetch USER: USER's INBOX (subjects, automatic-reply marks, bodies)
# in fetch.out.
mt_fetch()
{
	imapc 127.0.0.1 "$FX_DOVECOT_PORT" >fetch.out 2>&1 <<-EOF ||
	< ^\* OK
	> a LOGIN $1 $(mt_pass "$1")
	< ^a OK
	> b EXAMINE INBOX
	< ^b OK
	> c FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT AUTO-SUBMITTED)] BODY.PEEK[TEXT])
	< ^c OK
	EOF
	    { cat fetch.out >&2; atf_fail "cannot fetch $1's INBOX"; }
}

# mt_login USER PASSWORD OK|NO: Dovecot's answer to LOGIN.
mt_login()
{
	imapc 127.0.0.1 "$FX_DOVECOT_PORT" >login.out 2>&1 <<-EOF ||
	< ^\* OK
	> a LOGIN "$1" "$2"
	< ^a $3
	EOF
	    { cat login.out >&2; atf_fail "LOGIN $1 did not answer $3"; }
}

mt_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

# mt_runner: runmod.py, which runs one module the way execd will.
mt_runner()
{
	cat >runmod.py <<'EOF'
"""runmod.py -- run a module the way its execd policy says (modules_test).

usage: runmod.py [-D name=value]... POLICY USER [ARGUMENT...]
       runmod.py [-D name=value]... --show POLICY	(the policy as JSON)

Reads the policy in the grammar of execd.conf(5) (macros, -D overriding
them), checks the client's ARGUMENTs as execd does (count, length, dash,
control characters, pattern), expands the argv and path templates for
USER and runs the program as the run-as user with only the policy's
environment, its resource limits, its timeout, and a Landlock sandbox:
read and execute for the program, its interpreter and their libraries and
for the "read" paths; everything for the "write" paths, created first
(as the run-as user) when missing; with "network none" no TCP and
socket(2) failing with EACCES; and death on the system calls execd's
filter lacks (FORBIDDEN).  stdin:
the arguments with "arguments on stdin", the runner's own for an
interactive module, else empty.  Exit: the module's status, 3 when the
policy refuses the run, 124 on timeout.
"""

import ctypes
import os
import pwd
import grp
import json
import re
import resource
import signal
import subprocess
import sys
import time

SYMBOLS = "#$=,;(){}<>!"
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def die(msg, status=2):
    print("runmod: %s" % msg, file=sys.stderr)
    sys.exit(status)


def lex(text, macros):
    """Statements (lists of words) of a policy file, macros expanded."""
    stmts = []
    for line in text.replace("\\\n", " ").split("\n"):
        words, i = [], 0
        while i < len(line):
            c = line[i]
            if c in " \t":
                i += 1
            elif c == "#":
                break
            elif c in "\"'":
                j, s = i + 1, ""
                while j < len(line) and line[j] != c:
                    if line[j] == "\\" and j + 1 < len(line) and \
                            line[j + 1] in (c, "\\"):
                        j += 1
                    s += line[j]
                    j += 1
                words.append(s)
                i = j + 1
            elif c == "$":
                name = re.match(r"\w*", line[i + 1:]).group()
                if name not in macros:
                    die("undefined macro $%s" % name)
                line = line[:i] + macros[name] + line[i + 1 + len(name):]
            elif c in SYMBOLS:
                words.append(c)
                i += 1
            else:
                w = re.match(r"[^\s\"'" + re.escape(SYMBOLS) + "]+",
                             line[i:]).group()
                words.append(w)
                i += len(w)
        if words:
            stmts.append(words)
    return stmts


def number(w):
    return int(w[:-1]) * UNITS[w[-1]] if w[-1] in UNITS else int(w)


def parse(path, overrides):
    macros = dict(overrides)
    with open(path) as f:
        stmts = lex(f.read(), macros)
    mod = None
    for w in stmts:
        if len(w) == 3 and w[1] == "=" and mod is None:
            if w[0] not in overrides:
                macros[w[0]] = w[2]
            continue
        if w[0] == "module":
            mod = {"name": w[1], "argv": [], "read": [], "write": [],
                   "env": [], "min": 0, "max": 0, "stdin": False,
                   "dash": False, "ctrl": False, "pattern": None,
                   "argmax": 256, "interactive": False, "timeout": 10,
                   "limits": {}, "network": "none", "runas": None}
            continue
        if w[0] == "}":
            break
        k = w[0]
        if k == "program":
            mod["program"] = w[1]
        elif k == "argv":
            mod["argv"] = w[1:]
        elif k == "run":
            mod["runas"] = w[2]
        elif k == "arguments" and w[1].isdigit():
            mod["min"] = mod["max"] = int(w[1])
            if len(w) == 4:
                mod["max"] = int(w[3])
        elif k == "arguments":
            mod["dash"] = "allow-dash" in w
            mod["ctrl"] = "allow-control" in w
            mod["stdin"] = "stdin" in w
        elif k == "argument" and w[1] == "pattern":
            mod["pattern"] = w[2]
        elif k == "argument" and w[1] == "max":
            mod["argmax"] = number(w[2])
        elif k == "interactive":
            mod["interactive"] = True
        elif k == "timeout":
            mod["timeout"] = int(w[1])
        elif k == "limit":
            for i in range(1, len(w) - 1, 2):
                mod["limits"][w[i]] = number(w[i + 1])
        elif k in ("read", "write", "env"):
            mod[k] += w[1:]
        elif k == "network":
            mod["network"] = w[1]
    if mod is None or "program" not in mod or not mod["runas"]:
        die("%s: no module, program or run as" % path)
    if not mod["argv"]:
        mod["argv"] = [os.path.basename(mod["program"])] + \
            ([] if mod["stdin"] else ["%a"])
    return mod


def refuse(msg):
    die("refused: %s" % msg, 3)


def check_args(mod, args):
    if not mod["min"] <= len(args) <= mod["max"]:
        refuse("%d arguments, not %d to %d" %
               (len(args), mod["min"], mod["max"]))
    for a in args:
        b = a.encode()
        if len(b) > mod["argmax"]:
            refuse("an argument is longer than %d bytes" % mod["argmax"])
        if a.startswith("-") and not mod["dash"]:
            refuse("an argument starts with '-'")
        if re.search("[\x00-\x1f\x7f]", a) and \
                (not mod["ctrl"] or "\x00" in a or
                 (mod["stdin"] and "\n" in a)):
            refuse("an argument holds a control character")
        if mod["pattern"] and not re.fullmatch("(%s)" % mod["pattern"], a):
            refuse("an argument does not match the pattern")


def expand(template, user, args):
    local, _, domain = user.partition("@")
    out = []
    for word in template:
        if word == "%a":
            out += args
            continue
        s = re.sub(r"%([uld%1-9])", lambda m: {
            "u": user, "l": local, "d": domain, "%": "%"}.get(
                m.group(1)) or args[int(m.group(1)) - 1], word)
        out.append(s)
    return out


# --- Landlock, as far as the kernel has it

LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1, 2, 4, 8
LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | (1 << 14) | \
    (1 << 15)


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


def landlock(reads, writes, network):
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        print("runmod: no Landlock, no sandbox", file=sys.stderr)
        return
    handled = (1 << 13) - 1
    handled |= (1 << 13) if abi >= 2 else 0
    handled |= (1 << 14) if abi >= 3 else 0
    handled |= (1 << 15) if abi >= 5 else 0
    attr = (ctypes.c_uint64 * 2)(handled, 3 if network == "none" else 0)
    size = 16 if abi >= 4 else 8
    rfd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size),
                       ctypes.c_uint32(0))
    if rfd < 0:
        die("landlock_create_ruleset: %s" % os.strerror(ctypes.get_errno()))
    for paths, rights in ((reads, LL_EXECUTE | LL_READ_FILE | LL_READ_DIR),
                          (writes, handled)):
        for p in paths:
            fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
            allowed = rights if os.path.isdir(p) else \
                rights & LL_FILE_RIGHTS & handled
            rule = PathBeneath(allowed, fd)
            if libc.syscall(445, rfd, 1, ctypes.byref(rule), 0) != 0:
                die("landlock_add_rule %s: %s" %
                    (p, os.strerror(ctypes.get_errno())))
            os.close(fd)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or \
            libc.syscall(446, rfd, ctypes.c_uint32(0)) != 0:
        die("landlock_restrict_self: %s" % os.strerror(ctypes.get_errno()))


# System calls a module may not make under execd, which kills it for
# them: its filter (common/sandbox.c, "stdio rpath wpath cpath proc exec")
# has no file locks but fcntl's, no chmod, no chown.
FORBIDDEN = (b"flock", b"chmod", b"fchmod", b"fchmodat", b"chown",
             b"fchown", b"fchownat", b"lchown")


def seccomp(network):
    """Those calls kill the module; with "network none" socket(2) fails
    with EACCES instead (as under execd)."""
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    ctx = ctypes.c_void_p(lib.seccomp_init(ctypes.c_uint32(0x7fff0000)))
    rules = [(0x80000000, name) for name in FORBIDDEN]
    if network == "none":
        rules.append((0x00050000 | 13, b"socket"))
    for action, name in rules:
        nr = lib.seccomp_syscall_resolve_name(name)
        if lib.seccomp_rule_add(ctx, ctypes.c_uint32(action), nr, 0) != 0:
            die("seccomp_rule_add %s failed" % name.decode())
    if lib.seccomp_load(ctx) != 0:
        die("seccomp_load failed")


def start_set(program):
    """What a program needs to start: itself, its interpreter, their
    shared libraries (as execd gives it)."""
    files = [program]
    with open(program, "rb") as f:
        first = f.readline()
    if first.startswith(b"#!"):
        files.append(first[2:].split()[0].decode())
    for exe in list(files):
        out = subprocess.run(["ldd", exe], capture_output=True, text=True)
        files += re.findall(r"(/\S+) \(0x", out.stdout)
    return [os.path.realpath(f) for f in files]


def become(runas):
    user, _, group = runas.partition(":")
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    if pw.pw_uid == 0 or gid == 0:
        die("run as root")
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(pw.pw_uid)


def main():
    argv, overrides = sys.argv[1:], {}
    while len(argv) >= 2 and argv[0] == "-D":
        name, _, value = argv[1].partition("=")
        overrides[name] = value
        argv = argv[2:]
    if len(argv) == 2 and argv[0] == "--show":
        print(json.dumps(parse(argv[1], overrides)))
        return 0
    if len(argv) < 2:
        die("usage: runmod.py [-D name=value]... POLICY USER [ARG...]")
    mod = parse(argv[0], overrides)
    user, args = argv[1], argv[2:]
    check_args(mod, args)
    cmd = expand(mod["argv"], user, [] if mod["stdin"] else args)
    reads = [expand([p], user, [])[0] for p in mod["read"]]
    writes = [expand([p], user, [])[0] for p in mod["write"]]
    env = dict(e.split("=", 1) for e in mod["env"])
    limits = mod["limits"]

    # Missing write directories are made by the run-as user itself.
    os.umask(0o077)
    pid = os.fork()
    if pid == 0:
        become(mod["runas"])
        for w in writes:
            if not os.path.lexists(w):
                os.makedirs(w, 0o700)
        os._exit(0)
    if os.waitpid(pid, 0)[1] != 0:
        die("cannot make the write paths %s" % writes)

    reads += start_set(mod["program"])
    rfd = wfd = None
    if mod["stdin"]:
        rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if rfd is not None:
            os.dup2(rfd, 0)
            os.close(rfd)
            os.close(wfd)
        elif not mod["interactive"]:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
        for res, what, default in (
                (resource.RLIMIT_AS, "memory", 256 << 20),
                (resource.RLIMIT_NOFILE, "files", 64),
                (resource.RLIMIT_NPROC, "processes", 32),
                (resource.RLIMIT_FSIZE, "filesize", 16 << 20),
                (resource.RLIMIT_CPU, "cpu", mod["timeout"])):
            n = limits.get(what, default)
            resource.setrlimit(res, (n, n))
        become(mod["runas"])
        os.chdir("/")
        seccomp(mod["network"])
        landlock(reads, writes, mod["network"])
        try:
            os.execve(mod["program"], cmd, env)
        except OSError as e:
            print("runmod: exec %s: %s" % (mod["program"], e),
                  file=sys.stderr)
        os._exit(127)
    if wfd is not None:
        os.close(rfd)
        os.write(wfd, "".join(a + "\n" for a in args).encode())
        os.close(wfd)
    deadline = time.monotonic() + mod["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("runmod: timeout", file=sys.stderr)
            return 124
        time.sleep(0.02)


sys.exit(main())
EOF
}

atf_test_case policies cleanup
policies_head()
{
	atf_set descr "Every module has a policy that execd reads and that" \
	    "gives it what its argv names"
	atf_set require.user root
	atf_set timeout 60
}
policies_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	mt_setup
	for p in "$MT_POLICIES"/*.conf; do
		python3 runmod.py -D libexec="$MT_LIBEXEC" -D demo="$FX_DIR" \
		    --show "$p" || atf_fail "runmod.py cannot read $p"
	done >policies.json
	python3 - "$MT_LIBEXEC" "$FX_DIR" policies.json <<-'EOF' ||
	import json, os, sys
	libexec, demo, path = sys.argv[1:]
	bad = []
	mods = {json.loads(l)["name"]: json.loads(l) for l in open(path)}
	progs = {f for f in os.listdir(libexec) if f != "imapxmod.py" and
	         os.access(os.path.join(libexec, f), os.X_OK)}
	if progs != set(mods):
	    bad.append("modules %s, policies %s" % (sorted(progs), sorted(mods)))
	for name, m in sorted(mods.items()):
	    if m["program"] != os.path.join(libexec, name) or \
	            m["argv"][0] != name:
	        bad.append("%s: program or argv[0] is not the module" % name)
	    if m["runas"] in ("root", "0"):
	        bad.append("%s: runs as root" % name)
	    # A path in argv is where the module writes: the policy must let it.
	    for w in m["argv"]:
	        if w.startswith(demo) and w not in m["write"] and \
	                os.path.dirname(w) not in m["write"]:
	            bad.append("%s: argv names %s, not writable" % (name, w))
	    if open(m["program"], "rb").readline().endswith(b"python3\n") and \
	            libexec not in m["read"]:
	        bad.append("%s: cannot read imapxmod.py" % name)
	if not mods["changepassword"]["stdin"] or \
	        "%a" in mods["changepassword"]["argv"]:
	    bad.append("changepassword: the password is not on stdin")
	if not mods["calendar"]["interactive"]:
	    bad.append("calendar: not interactive")
	for b in bad:
	    print(b, file=sys.stderr)
	sys.exit(1 if bad else 0)
	EOF
	    atf_fail "the policies do not fit the modules (see stderr)"

	# execd itself, when it is built, takes them (copies: root's files
	# in root's directories, as it wants them).
	execd=$(atf_get_srcdir)/../bin/execd
	[ -x "$execd" ] || return 0
	mkdir -m 0755 "$FX_DIR/execd.d" && cp "$MT_POLICIES"/*.conf \
	    "$FX_DIR/execd.d/" && chmod 0644 "$FX_DIR"/execd.d/*.conf &&
	    echo "include \"$FX_DIR/execd.d/*.conf\"" >"$FX_DIR/execd.conf" ||
	    atf_fail "cannot copy the policies"
	"$execd" -n -f "$FX_DIR/execd.conf" -D libexec="$MT_LIBEXEC" \
	    -D demo="$FX_DIR" >execd.out 2>&1 ||
	    { cat execd.out >&2; atf_fail "execd -n refuses the policies"; }
}
policies_cleanup()
{
	mt_cleanup
}

atf_test_case echo cleanup
echo_head()
{
	atf_set descr "echo prints each argument on a line of its own"
	atf_set require.user root
	atf_set timeout 60
}
echo_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	mt_setup
	mt_ok echo bob "two words" one '%u' '$HOME;*'
	mt_out "two words" one '%u' '$HOME;*'
	mt_ok echo bob
	[ ! -s out ] || { cat out >&2; atf_fail "echo without arguments printed"; }
	# The policy's checks, before any module runs.
	mt_run echo bob -n && atf_fail "an argument starting with - was passed"
	mt_run echo bob 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 &&
	    atf_fail "17 arguments were passed"
	return 0
}
echo_cleanup()
{
	mt_cleanup
}

atf_test_case lists cleanup
lists_head()
{
	atf_set descr "blacklist and whitelist: discarded and delivered mail"
	atf_set require.user root
	atf_set timeout 180
}
lists_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup
	H=$FX_DIR/mail/example.test/bob

	mt_ok blacklist bob list
	[ ! -s out ] || { cat out >&2; atf_fail "a new blacklist is not empty"; }
	mt_ok blacklist bob add Spammer@Bad.Test
	mt_out "added spammer@bad.test to your blacklist: its mail is discarded"
	mt_ok blacklist bob add @spam.test
	mt_ok blacklist bob add friend@spam.test
	mt_ok whitelist bob add friend@spam.test
	mt_out "added friend@spam.test to your whitelist: its mail always reaches you"
	mt_ok blacklist bob add spammer@bad.test
	mt_out "spammer@bad.test is already on your blacklist"
	mt_ok blacklist bob list
	mt_out @spam.test friend@spam.test spammer@bad.test
	mt_ok whitelist bob list
	mt_out friend@spam.test
	[ "$(readlink "$H/.dovecot.sieve")" = sieve/imapx.sieve ] &&
	    [ -s "$H/sieve/imapx.sieve" ] && [ -s "$H/.dovecot.svbin" ] ||
	    atf_fail "the script is not active and compiled in bob's home"

	# Refused by the module, with the reason on stderr.
	mt_refused blacklist bob add not-an-address
	grep -q "not a mail address" err || atf_fail "no reason: $(cat err)"
	mt_refused blacklist bob add someone@localhost
	mt_refused blacklist bob del nobody@bad.test
	grep -q "is not on your blacklist" err || atf_fail "no reason: $(cat err)"
	mt_refused blacklist bob purge everything
	# Refused by the policy; past it, by the module as well.
	mt_run blacklist bob add 'x"y@bad.test'
	[ $? -eq 3 ] || atf_fail "the policy let a quote through"
	setpriv --reuid=_imapxmail --regid=_imapxmail --clear-groups env -i \
	    "$MT_LIBEXEC/blacklist" bob@example.test "$H" add 'x"y@bad.test' \
	    >out 2>err && atf_fail "the module took a quote"
	grep -q "not a mail address" err || atf_fail "no reason: $(cat err)"
	setpriv --reuid=_imapxmail --regid=_imapxmail --clear-groups env -i \
	    "$MT_LIBEXEC/blacklist" bob@example.test \
	    "$FX_DIR/mail/example.test/alice" list >out 2>err &&
	    atf_fail "the module took alice's home for bob's"
	mt_ok blacklist bob list
	mt_out @spam.test friend@spam.test spammer@bad.test

	mt_send spammer@bad.test bob l1
	mt_send other@spam.test bob l2
	mt_send friend@spam.test bob l3
	mt_send alice bob l4
	mt_send alice bob l5 spammer@bad.test		# From: blacklisted
	mt_discarded bob l1
	mt_discarded bob l2
	mt_delivered bob l3
	mt_delivered bob l4
	mt_discarded bob l5
	mt_count bob 2
	mt_fetch bob
	grep -q "^S: Subject: test l3" fetch.out &&
	    grep -q "^S: Subject: test l4" fetch.out &&
	    ! grep -q "^S: Subject: test l[125]" fetch.out ||
	    { cat fetch.out >&2; atf_fail "bob's INBOX is not l3 and l4"; }

	mt_ok blacklist bob del spammer@bad.test
	mt_out "removed spammer@bad.test from your blacklist"
	mt_ok whitelist bob del friend@spam.test
	mt_send spammer@bad.test bob l6
	mt_send friend@spam.test bob l7
	mt_delivered bob l6
	mt_discarded bob l7
	mt_count bob 3

	# Each user has lists of his own.
	mt_ok blacklist alice list
	[ ! -s out ] || { cat out >&2; atf_fail "alice sees bob's blacklist"; }
	# A Sieve script alice activated herself is not replaced.
	A=$FX_DIR/mail/example.test/alice
	setpriv --reuid=_imapxmail --regid=_imapxmail --clear-groups sh -c '
		mkdir -p "$1/sieve" && echo keep\; >"$1/sieve/mine.sieve" &&
		ln -s sieve/mine.sieve "$1/.dovecot.sieve"' sh "$A" ||
	    atf_fail "cannot activate a script for alice"
	mt_refused blacklist alice add spammer@bad.test
	grep -q "another Sieve script is active" err ||
	    atf_fail "no reason: $(cat err)"
	[ "$(readlink "$A/.dovecot.sieve")" = sieve/mine.sieve ] ||
	    atf_fail "alice's own script was deactivated"
	mt_ok blacklist alice list
	[ ! -s out ] || { cat out >&2; atf_fail "the refused entry was kept"; }
}
lists_cleanup()
{
	mt_cleanup
}

atf_test_case vacation cleanup
vacation_head()
{
	atf_set descr "vacation: the sender gets one automatic reply"
	atf_set require.user root
	atf_set timeout 180
}
vacation_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup
	H=$FX_DIR/mail/example.test/bob

	mt_ok vacation bob show
	mt_out "vacation: off"
	# Quotes and backslashes reach Sieve escaped; \n starts a line.
	mt_ok vacation bob set 7 'Out of "the" office' \
	    'I am away until Monday.\nC:\temp waits for me.'
	mt_out "vacation on: a reply at most every 7 days"
	mt_ok vacation bob show
	mt_out "vacation: on" "days: 7" 'subject: Out of "the" office' \
	    'text: I am away until Monday.\nC:\temp waits for me.'

	mt_send alice bob v1
	mt_replied bob v1 alice
	mt_delivered bob v1
	mt_count bob 1
	mt_count alice 1
	mt_fetch alice
	grep -q '^S: Subject: Out of "the" office' fetch.out &&
	    grep -qi "^S: Auto-Submitted: auto-replied" fetch.out &&
	    grep -q "^S: I am away until Monday\.$" fetch.out &&
	    grep -qF 'S: C:\temp waits for me.' fetch.out ||
	    { cat fetch.out >&2; atf_fail "alice did not get bob's reply"; }
	# One reply per sender within DAYS.
	mt_send alice bob v2
	mt_delivered bob v2
	mt_nolog "msgid=<v2@modules.test>: vacation action: sent"
	mt_count alice 1

	mt_refused vacation bob set 0 Away "Back soon."
	grep -q "DAYS is a number from 1 to 60" err ||
	    atf_fail "no reason: $(cat err)"
	mt_refused vacation bob set 61 Away "Back soon."
	mt_refused vacation bob set 7 "" "Back soon."
	mt_refused vacation bob set 7 Away
	mt_run vacation bob set 7 Away "$(printf 'a\tb')"
	[ $? -eq 3 ] || atf_fail "the policy let a control character through"
	mt_ok vacation bob show
	grep -qx 'subject: Out of "the" office' out ||
	    atf_fail "a refusal changed it"

	mt_ok vacation bob off
	mt_ok vacation bob show
	mt_out "vacation: off"
	[ ! -L "$H/.dovecot.sieve" ] && [ ! -e "$H/sieve/imapx.sieve" ] ||
	    atf_fail "with nothing on, the script is still there"
	mt_send load0001 bob v3
	mt_delivered bob v3
	mt_nolog "msgid=<v3@modules.test>: vacation"
	mt_count bob 3
	mt_count load0001 0
}
vacation_cleanup()
{
	mt_cleanup
}

atf_test_case forward cleanup
forward_head()
{
	atf_set descr "forward: mail goes on to alice, with a copy or without"
	atf_set require.user root
	atf_set timeout 180
}
forward_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup

	mt_ok forward bob show
	mt_out "forward: off"
	mt_ok forward bob set alice@example.test keep
	mt_out "forwarding your mail to alice@example.test, a copy stays here"
	mt_ok forward bob show
	mt_out "forward: on" "to: alice@example.test" "keep: yes"
	mt_send load0001 bob f1
	mt_forwarded bob f1 alice
	mt_delivered bob f1
	mt_delivered alice f1
	mt_count bob 1
	mt_count alice 1
	mt_fetch alice
	grep -q "^S: Subject: test f1" fetch.out ||
	    { cat fetch.out >&2; atf_fail "alice did not get f1"; }

	mt_ok forward bob set alice@example.test
	mt_ok forward bob show
	mt_out "forward: on" "to: alice@example.test" "keep: no"
	mt_send load0001 bob f2
	mt_forwarded bob f2 alice
	mt_delivered alice f2
	mt_count alice 2
	mt_count bob 1

	mt_refused forward bob set bob@example.test
	grep -q "yourself" err || atf_fail "no reason: $(cat err)"
	mt_refused forward bob set nobody
	mt_refused forward bob set alice@example.test copy

	mt_ok forward bob off
	mt_ok forward bob show
	mt_out "forward: off"
	mt_send load0001 bob f3
	mt_delivered bob f3
	mt_nolog "msgid=<f3@modules.test>: redirect"
	mt_count bob 2
	mt_count alice 2
}
forward_cleanup()
{
	mt_cleanup
}

atf_test_case together cleanup
together_head()
{
	atf_set descr "blacklist, whitelist, forward and vacation at once," \
	    "changed concurrently, none turning another off"
	atf_set require.user root
	atf_set timeout 240
}
together_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup
	H=$FX_DIR/mail/example.test/bob

	mt_ok blacklist bob add load0003@example.test
	mt_ok blacklist bob add load0002@example.test
	mt_ok whitelist bob add load0002@example.test
	mt_ok forward bob set load0001@example.test keep
	mt_ok vacation bob set 1 Away "Back soon."
	mt_ok blacklist bob list
	mt_out load0002@example.test load0003@example.test
	mt_ok whitelist bob list
	mt_out load0002@example.test
	mt_ok forward bob show
	mt_out "forward: on" "to: load0001@example.test" "keep: yes"
	mt_ok vacation bob show
	mt_out "vacation: on" "days: 1" "subject: Away" "text: Back soon."

	mt_send alice bob t1
	mt_send load0002 bob t2			# whitelisted and blacklisted
	mt_send load0003 bob t3			# blacklisted
	mt_replied bob t1 alice
	mt_forwarded bob t1 load0001
	mt_delivered bob t1
	mt_replied bob t2 load0002
	mt_forwarded bob t2 load0001
	mt_delivered bob t2
	mt_discarded bob t3
	mt_nolog "msgid=<t3@modules.test>: (vacation|redirect)"
	mt_count bob 2
	mt_count load0001 2
	mt_count alice 1
	mt_count load0002 1
	mt_count load0003 0

	# Turning vacation off leaves the other three on.
	mt_ok vacation bob off
	mt_ok blacklist bob list
	mt_out load0002@example.test load0003@example.test
	mt_ok forward bob show
	mt_out "forward: on" "to: load0001@example.test" "keep: yes"
	mt_send load0003 bob t4
	mt_send load0004 bob t5
	mt_discarded bob t4
	mt_forwarded bob t5 load0001
	mt_delivered bob t5
	mt_nolog "msgid=<t5@modules.test>: vacation"
	mt_count bob 3
	mt_count load0001 3
	mt_count load0004 0

	# Eight changes at once: the lock keeps every one.
	for i in 1 2 3 4 5 6 7 8; do
		python3 runmod.py -D libexec="$MT_LIBEXEC" -D demo="$FX_DIR" \
		    "$MT_POLICIES/blacklist.conf" bob@example.test \
		    add "c$i@bad.test" >"c$i.out" 2>&1 &
	done
	python3 runmod.py -D libexec="$MT_LIBEXEC" -D demo="$FX_DIR" \
	    "$MT_POLICIES/vacation.conf" bob@example.test \
	    set 2 Again "Away again." >c9.out 2>&1 &
	wait
	cat c*.out >&2
	mt_ok blacklist bob list
	mt_out c1@bad.test c2@bad.test c3@bad.test c4@bad.test c5@bad.test \
	    c6@bad.test c7@bad.test c8@bad.test load0002@example.test \
	    load0003@example.test
	mt_ok vacation bob show
	grep -qx "subject: Again" out || atf_fail "the vacation change was lost"
	for w in c8@bad.test load0003@example.test load0001@example.test \
	    '"Again"'; do
		grep -qF "$w" "$H/sieve/imapx.sieve" ||
		    { cat "$H/sieve/imapx.sieve" >&2;
		      atf_fail "the script lacks $w"; }
	done
}
together_cleanup()
{
	mt_cleanup
}

atf_test_case changepassword cleanup
changepassword_head()
{
	atf_set descr "changepassword: the next LOGIN takes the new password" \
	    "and not the old; weak ones are refused; none is ever shown"
	atf_set require.user root
	atf_set timeout 180
}
changepassword_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup
	P=$FX_DIR/dovecot/auth/passwd
	grep "^bob@example.test:" "$P" >bob.before
	lines=$(wc -l <"$P")

	for weak in "" x9!Kq Alice-is-my-name-9 zzzzzzzzzzzz \
	    "$(printf 'tab\there!!')"; do
		mt_run changepassword alice "$weak"
		[ $? -ne 0 ] || atf_fail "a weak password was taken"
		[ -z "$weak" ] || ! grep -qF -- "$weak" out err ||
		    atf_fail "a refused password was shown"
	done
	mt_refused changepassword alice ""
	grep -q "empty" err || atf_fail "no reason: $(cat err)"
	mt_refused changepassword alice x9!Kq
	grep -q "shorter than 10" err || atf_fail "no reason: $(cat err)"
	mt_refused changepassword alice Alice-is-my-name-9
	grep -q "user name" err || atf_fail "no reason: $(cat err)"
	mt_login alice alice-secret OK

	new='Tr0ub4dor&3-horse'
	mt_ok changepassword alice "$new"
	mt_out "password changed for alice@example.test"
	! grep -qF -- "$new" err || atf_fail "the password was shown"
	mt_login alice "$new" OK
	mt_login alice alice-secret NO
	mt_login bob bob-secret OK
	grep "^bob@example.test:" "$P" | cmp -s - bob.before ||
	    atf_fail "bob's entry changed"
	[ "$(wc -l <"$P")" -eq "$lines" ] || atf_fail "the file lost lines"
	grep -q '^alice@example.test:{SHA512-CRYPT}\$6\$' "$P" ||
	    atf_fail "alice's new hash is not SHA512-CRYPT"
	[ "$(stat -c '%a %U %G' "$P")" = "640 _imapxpw dovecot" ] ||
	    atf_fail "the file is now $(stat -c '%a %U %G' "$P")"

	# Again at once, within the second: Dovecot still sees the change.
	mt_ok changepassword alice Second-pass-77
	mt_login alice Second-pass-77 OK
	mt_login alice "$new" NO

	# Never on a command line: the module refuses it there.
	setpriv --reuid=_imapxpw --regid=_imapxpw --clear-groups env -i \
	    "$MT_LIBEXEC/changepassword" alice@example.test "$P" Third-pass-55 \
	    </dev/null >out 2>err && atf_fail "a password in argv was taken"
	grep -q "on stdin" err || atf_fail "no reason: $(cat err)"
	mt_login alice Second-pass-77 OK
	! grep -rqF -- "$new" "$FX_DIR"/*.log "$FX_DIR/dovecot/auth" ||
	    atf_fail "the password is written down somewhere"
}
changepassword_cleanup()
{
	mt_cleanup
}

atf_test_case calendar cleanup
calendar_head()
{
	atf_set descr "calendar: the interactive session of seed 001"
	atf_set require.user root
	atf_set timeout 120
}
calendar_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend
	mt_setup
	today=$(date +%F)

	mt_run calendar bob <<-EOF || atf_fail "the session failed: $(cat err)"
	add today 9:00 meeting with boss
	add today 8:00 make coffee
	add today 9:30 Call Joe Blow at 415-555-1212
	add today 10:00 lunch with alice
	add tomorrow 8:00 dentist
	list schedule today 8:00 10:00
	del today 10:00
	frobnicate
	add today 25:00 too late

	list today
	quit
	add today 11:00 after quit
	EOF
	mt_out "calendar of bob@example.test: list, add, del, help, quit" \
	    "added $today 9:00 meeting with boss" ok \
	    "added $today 8:00 make coffee" ok \
	    "added $today 9:30 Call Joe Blow at 415-555-1212" ok \
	    "added $today 10:00 lunch with alice" ok \
	    "added $(date -d tomorrow +%F) 8:00 dentist" ok \
	    "8:00 make coffee" "9:00 meeting with boss" \
	    "9:30 Call Joe Blow at 415-555-1212" ok \
	    "deleted 1" ok \
	    "error: unknown command frobnicate (try help)" \
	    "error: not a time: 25:00" \
	    "8:00 make coffee" "9:00 meeting with boss" \
	    "9:30 Call Joe Blow at 415-555-1212" ok \
	    ok

	# A new session sees the entries; the end of input ends it.
	echo "list tomorrow" | mt_run calendar bob ||
	    atf_fail "the session failed: $(cat err)"
	mt_out "calendar of bob@example.test: list, add, del, help, quit" \
	    "8:00 dentist" ok
	# alice's calendar is her own.
	echo "list today" | mt_run calendar alice ||
	    atf_fail "the session failed: $(cat err)"
	mt_out "calendar of alice@example.test: list, add, del, help, quit" ok
	f=$FX_DIR/calendar/example.test/bob/events
	[ "$(stat -c %U "$f")" = _imapxmod ] && [ "$(wc -l <"$f")" -eq 4 ] ||
	    atf_fail "bob's data file is not his 4 entries, _imapxmod's"
}
calendar_cleanup()
{
	mt_cleanup
}

atf_init_test_cases()
{
	atf_add_test_case policies
	atf_add_test_case echo
	atf_add_test_case lists
	atf_add_test_case vacation
	atf_add_test_case forward
	atf_add_test_case together
	atf_add_test_case changepassword
	atf_add_test_case calendar
}
