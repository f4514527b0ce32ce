"""imapxmod -- the code the imapx example modules share.

execd runs a module with a clean environment, as an unprivileged user, in
a sandbox that lets it write only the paths its policy file names.  Every
module here but echo takes the same first words, set by the policy's argv
template, never by the client:

	MODULE USER PATH [CLIENT-ARGUMENTS...]

USER is the canonical user@domain (%u) and PATH the one place the module
keeps its data, written with %d and %l in the template exactly as in the
policy's "write" rule, so that the policy file shows where a module writes.
The modules check both again (defence in depth) and never hand user data
to a shell.

Output: result lines on stdout; an error is one line "MODULE: reason" on
stderr and a non-zero exit (1 refused or failed, 2 bad usage), which execd
turns into the tagged NO.

The blacklist, whitelist, forward and vacation modules each keep their
part in HOME/imapx/NAME.json (HOME is the user's Dovecot mail home); any
change rebuilds the one Sieve script HOME/sieve/imapx.sieve from every
part, under a lock, and activates it with the link Dovecot's
"sieve = file:~/sieve;active=~/.dovecot.sieve" expects.  See README.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

PROG = os.path.basename(sys.argv[0])

# execd's environment may have no PATH; the tools live in one of these.
TOOL_PATH = os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = _LABEL + r"(?:\." + _LABEL + r")+"
_LOCAL = r"[a-z0-9_+=-]+(?:\.[a-z0-9_+=-]+)*"
ADDRESS_RE = re.compile("^" + _LOCAL + "@" + _DOMAIN + "$")
DOMAIN_RE = re.compile("^" + _DOMAIN + "$")


def fail(reason, status=1):
    """One line on stderr and exit: the reason execd gives the client."""
    print("%s: %s" % (PROG, reason), file=sys.stderr)
    sys.exit(status)


def usage(text):
    fail("usage: %s %s" % (PROG, text), 2)


def address(word, domain_ok=False):
    """WORD as a lower-case mail address, or "@domain" if DOMAIN_OK."""
    a = word.lower()
    if len(a) <= 254:
        if ADDRESS_RE.match(a) and len(a.split("@")[0]) <= 64:
            return a
        if domain_ok and a.startswith("@") and DOMAIN_RE.match(a[1:]):
            return a
    fail("not a mail address: %s" % printable(word))


def printable(s, n=80):
    """S cut short and without control characters, for an error line."""
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= n else s[:n] + "..."


def setup(synopsis, user_dir=True):
    """Check "USER PATH" at the start of argv; return user, path and the
    client's arguments.  With USER_DIR, PATH must end in /DOMAIN/LOCAL."""
    os.umask(0o077)
    if len(sys.argv) < 3:
        usage(synopsis)
    user, path = sys.argv[1].lower(), sys.argv[2]
    if not ADDRESS_RE.match(user):
        fail("bad user name from the policy: %s" % printable(user), 2)
    local, domain = user.split("@")
    if (not path.startswith("/") or os.path.normpath(path) != path or
            (user_dir and not path.endswith("/%s/%s" % (domain, local)))):
        fail("bad path from the policy: %s" % printable(path), 2)
    return user, path, sys.argv[3:]


@contextlib.contextmanager
def locked(lockfile):
    """Hold an exclusive lock on LOCKFILE, created if missing.  A fcntl(2)
    lock, not flock(2): the system calls execd's sandbox allows a module
    include fcntl's locks but not flock."""
    fd = os.open(lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_file(path, data, mode=0o600, gid=None, mtime_after=None):
    """Replace PATH by DATA atomically (temporary file, fsync, rename),
    with MODE, and in group GID (from a setgid directory).  With
    MTIME_AFTER, the new file's mtime is later than it, in seconds."""
    tmp = "%s.tmp-%d-%s" % (path, os.getpid(), os.urandom(4).hex())
    # The mode at creation, so that no fchmod(2) is needed (the sandbox
    # has none).
    umask = os.umask(0)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                     mode)
    finally:
        os.umask(umask)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            if gid is not None and os.fstat(f.fileno()).st_gid != gid:
                raise OSError(errno.EPERM, "its directory is not setgid")
            if mtime_after is not None:
                st = os.fstat(f.fileno())
                if int(st.st_mtime) <= int(mtime_after):
                    t = int(mtime_after) + 1
                    os.utime(f.fileno(), (t, t))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def tool(name):
    """The path of a system tool, or None."""
    return shutil.which(name, path=TOOL_PATH)


def run_tool(argv, stdin=None):
    """Run ARGV (never through a shell); return its exit status, its
    output and its error output."""
    try:
        p = subprocess.run(argv, input=stdin, capture_output=True,
                           env={"PATH": TOOL_PATH}, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, "", str(e)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# --- the Sieve script shared by blacklist, whitelist, forward, vacation

SIEVE_PARTS = ("whitelist", "blacklist", "forward", "vacation")
SIEVE_NAME = "imapx"
ACTIVE_LINK = ".dovecot.sieve"
ACTIVE_TARGET = "sieve/%s.sieve" % SIEVE_NAME
ACTIVE_BINARY = ".dovecot.svbin"


def sieve_string(s):
    # RFC 5228 2.4.2: in a quoted string only \ and " are escaped.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sieve_list(items):
    return "[" + ", ".join(sieve_string(i) for i in items) + "]"


def sender_test(entries):
    """A Sieve test true when the sender (From header or envelope) is one
    of ENTRIES: addresses, or "@domain" for a whole domain."""
    full = [e for e in entries if not e.startswith("@")]
    domains = [e[1:] for e in entries if e.startswith("@")]
    tests = []
    for part, values in ((":all", full), (":domain", domains)):
        if values:
            tests.append('address :is %s "from" %s' %
                         (part, sieve_list(values)))
            tests.append('envelope :is %s "from" %s' %
                         (part, sieve_list(values)))
    return "anyof (" + ",\n\t    ".join(tests) + ")"


def sieve_script(user, parts):
    """The script for PARTS, in the order that makes them work together:
    the whitelist overrides the blacklist, discarded mail gets no forward
    and no vacation reply, forward and vacation both apply to the rest."""
    white, black = parts.get("whitelist"), parts.get("blacklist")
    fwd, vac = parts.get("forward"), parts.get("vacation")
    require = (["envelope"] if black else []) + (["vacation"] if vac else [])
    out = ["# Written by the imapx modules blacklist, whitelist, forward",
           "# and vacation from their parts in ~/imapx; do not edit.", ""]
    if require:
        out += ["require %s;" % sieve_list(require), ""]
    if black:
        out.append("# blacklist%s: discard" %
                   (", unless on the whitelist" if white else ""))
        test = sender_test(black)
        if white:
            test = "allof (not %s,\n\t%s)" % (sender_test(white), test)
        out += ["if %s {" % test, "\tdiscard;", "\tstop;", "}", ""]
    if fwd:
        out += ["# forward", "redirect %s;" % sieve_string(fwd["to"])]
        out += ["keep;", ""] if fwd["keep"] else [""]
    if vac:
        out += ["# vacation",
                "vacation :days %d :subject %s :addresses %s\n\t%s;" %
                (vac["days"], sieve_string(vac["subject"]),
                 sieve_list([user]), sieve_string(vac["text"])), ""]
    return "\n".join(out)


def _sieve_compile(src, binary):
    """Compile SRC into BINARY with sievec, if there is one; fail on errors.
    "-c /dev/null": Pigeonhole's defaults, not the system's dovecot.conf."""
    sievec = tool("sievec")
    if sievec is None:
        return
    status, out, err = run_tool([sievec, "-c", "/dev/null", src, binary])
    if status != 0:
        lines = (out + err).splitlines()
        errors = [l for l in lines if "error" in l.lower()]
        fail("the Sieve script does not compile: %s" %
             printable((errors or lines or ["?"])[0]))


def _sieve_install(user, home, parts):
    """Write, compile and activate the script for PARTS, or deactivate
    and remove it when every part is off."""
    sievedir = os.path.join(home, "sieve")
    script = os.path.join(sievedir, SIEVE_NAME + ".sieve")
    link = os.path.join(home, ACTIVE_LINK)
    # Pigeonhole runs the active script through the link and keeps its
    # compiled form beside it.
    binary = os.path.join(home, ACTIVE_BINARY)

    if not any(parts.values()):
        if os.path.islink(link):
            os.unlink(link)
        for f in (script, binary):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
        return
    os.makedirs(sievedir, 0o700, exist_ok=True)
    # Check the new script before it replaces the one in use.  Dovecot
    # takes only "*.sieve" files in ~/sieve for scripts.
    check = os.path.join(sievedir, ".check-%d" % os.getpid())
    try:
        with open(check, "w", encoding="utf-8") as f:
            f.write(sieve_script(user, parts))
        _sieve_compile(check, check + ".svbin")
        os.replace(check, script)
    finally:
        for f in (check, check + ".svbin"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
    if not (os.path.islink(link) and os.readlink(link) == ACTIVE_TARGET):
        tmp = link + ".tmp-%d" % os.getpid()
        os.symlink(ACTIVE_TARGET, tmp)
        os.replace(tmp, link)
    # Compiled now, so that the next delivery need not.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(binary)
    _sieve_compile(link, binary)


def _sieve_check_active(home):
    """Refuse to replace a Sieve script the user activated elsewhere."""
    link = os.path.join(home, ACTIVE_LINK)
    if os.path.islink(link):
        if os.readlink(link) == ACTIVE_TARGET or not os.path.exists(link):
            return
    elif not os.path.lexists(link):
        return
    fail("another Sieve script is active (~/%s); deactivate it first" %
         ACTIVE_LINK)


@contextlib.contextmanager
def sieve_parts(user, home):
    """Lock the user's Sieve parts and yield them as a dict (a missing
    part is None).  If the caller changed any, the script is rebuilt from
    all of them and the changed parts are saved; nothing is written when
    the block raises (fail() included)."""
    datadir = os.path.join(home, "imapx")
    os.makedirs(datadir, 0o700, exist_ok=True)
    with locked(os.path.join(datadir, "lock")):
        parts = {}
        for name in SIEVE_PARTS:
            try:
                with open(os.path.join(datadir, name + ".json"),
                          encoding="utf-8") as f:
                    parts[name] = json.load(f)
            except FileNotFoundError:
                parts[name] = None
            except ValueError:
                fail("the saved %s settings are damaged" % name)
        before = json.dumps(parts, sort_keys=True)
        yield parts
        if json.dumps(parts, sort_keys=True) == before:
            return
        _sieve_check_active(home)
        _sieve_install(user, home, parts)
        old = json.loads(before)
        for name in SIEVE_PARTS:
            path = os.path.join(datadir, name + ".json")
            if parts[name] == old[name]:
                continue
            if parts[name]:
                write_file(path, json.dumps(parts[name], indent=1) + "\n")
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def address_list_main(name, meaning):
    """blacklist and whitelist: add ADDR, del ADDR, list."""
    synopsis = "USER HOME add ADDRESS | del ADDRESS | list"
    user, home, args = setup(synopsis)
    if not args or (args[0] in ("add", "del")) != (len(args) == 2) or \
            args[0] not in ("add", "del", "list"):
        usage(synopsis)
    with sieve_parts(user, home) as parts:
        entries = parts[name] or []
        if args[0] == "list":
            out = entries
        elif args[0] == "add":
            a = address(args[1], domain_ok=True)
            if a in entries:
                out = ["%s is already on your %s" % (a, name)]
            elif len(entries) >= 1000:
                fail("your %s is full (1000 entries)" % name)
            else:
                parts[name] = sorted(entries + [a])
                out = ["added %s to your %s: %s" % (a, name, meaning)]
        else:
            a = address(args[1], domain_ok=True)
            if a not in entries:
                fail("%s is not on your %s" % (a, name))
            parts[name] = [e for e in entries if e != a] or None
            out = ["removed %s from your %s" % (a, name)]
    # Printed once the change is in place.
    for line in out:
        print(line)
