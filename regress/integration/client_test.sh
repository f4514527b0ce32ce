#! /usr/bin/env atf-sh
#
# Real IMAP clients through imapxd, checked for what a client sees:
# Python's imaplib (plaintext, IMAPS, STARTTLS), hand-made AUTHENTICATE
# and LOGIN forms, IDLE with a delivery, pipelining, every literal form
# and a 5 MiB FETCH, mbsync (isync) over 1,000 messages both ways, and
# the client's address as Dovecot logs it.  Whatever went through imapxd
# is compared byte for byte with what Dovecot gives a direct client.
#
# The client code is the Python program that client_py writes into each
# test's work directory, so the Makefile needs to copy nothing new.

# client_py: write client.py, the test clients (one function per case).
client_py()
{
	cat >client.py <<'EOF'
"""client.py -- written by client_test.sh; run as: client.py CASE [ARGS]"""
import base64
import glob
import hashlib
import imaplib
import os
import random
import re
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 30


def port(name):
    return int(os.environ["FX_%s_PORT" % name])


class Fail(Exception):
    pass


def short(d, n=800):
    r = repr(d)
    return r if len(r) <= n else r[:n] + "... (%d chars)" % len(r)


def check(cond, what, *detail):
    if not cond:
        raise Fail(what + "".join("\n    " + short(d) for d in detail))


def log(*a):
    print(*a, flush=True)


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# Body lines that a careless proxy would take for protocol.
TRICKY = [
    b"a OK this line looks like a tagged response",
    b"* BYE and this one like an untagged one",
    b"+ or a continuation",
    b"x1 NO [ALERT] not from the server",
    b"a line that ends like a literal {12}",
    b"and one like a binary literal ~{3}",
    b"or a non-synchronizing one {999+}",
    b")",
    b"",
    b".",
    b"DONE",
    b"caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e \xe6\x97\xa5\xe6\x9c\xac",
]


def message(tag, n, size=0, extra=b"", eight=False):
    """A deterministic RFC 5322 message with CRLF line ends, exactly SIZE
    bytes long if SIZE is given.  EIGHT adds a line of every byte value
    0x80-0xff."""
    hdr = (b"From: Client Test <alice@example.test>\r\n"
           b"To: bob@example.test\r\n"
           b"Subject: %s %d\r\n"
           b"Message-ID: <%s-%d@example.test>\r\n"
           b"Date: Wed, 1 May 2024 12:00:00 +0000\r\n" % (tag, n, tag, n))
    out = [hdr, extra, b"\r\n", b"Message %d of the %s test.\r\n" % (n, tag)]
    if eight:
        out.append(b"Gr\xc3\xbc\xc3\x9fe: " + bytes(range(0x80, 0x100)) +
                   b"\r\n")
    rnd = random.Random(b"%s-%d" % (tag, n))
    total = sum(map(len, out))
    while total < size:
        if rnd.random() < 0.2:
            ln = rnd.choice(TRICKY)
        else:
            ln = base64.b64encode(rnd.randbytes(rnd.randint(0, 57)))
        out.append(ln + b"\r\n")
        total += len(ln) + 2
    m = b"".join(out)
    if size and len(m) > size:
        m = m[:size - 2]
        if m.endswith(b"\r"):
            m = m[:-1] + b"x"
        m += b"\r\n"
    return m


def msgid(m):
    r = re.search(rb"^Message-ID: (<[^>]*>)", m, re.M | re.I)
    return r.group(1) if r else None


LIT = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


class Resp:
    def __init__(self, parts, lits):
        self.first = parts[0].rstrip(b"\r\n")
        self.raw = b"".join(parts)
        self.lits = lits
        self.tag = self.first.split(b" ", 1)[0]

    def __repr__(self):
        return short(self.raw, 300)


class Raw:
    """A raw IMAP connection that knows literals."""

    def __init__(self, p, tls=False, src=None, greeting=True):
        self.sock = socket.create_connection(
            (HOST, p), TIMEOUT, source_address=(src, 0) if src else None)
        if tls:
            self.sock = tls_ctx().wrap_socket(self.sock)
        self.buf, self.pos, self.n = bytearray(), 0, 0
        if greeting:
            self.greeting = self.line()
            check(self.greeting.startswith(b"* OK"), "no greeting",
                  self.greeting)

    def starttls(self):
        check(self.pos == len(self.buf), "bytes after the STARTTLS answer",
              self.buf[self.pos:])
        self.sock = tls_ctx().wrap_socket(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def fill(self, want=0):
        if self.pos > 1 << 20 and self.pos > len(self.buf) // 2:
            del self.buf[:self.pos]
            self.pos = 0
        try:
            d = self.sock.recv(max(want, 1 << 16))
        except (socket.timeout, TimeoutError):
            raise Fail("timeout waiting for the server; unread: %s" %
                       short(bytes(self.buf[self.pos:])))
        if not d:
            raise Fail("connection closed by the server; unread: %s" %
                       short(bytes(self.buf[self.pos:])))
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                ln = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                return ln
            self.fill()

    def take(self, n):
        while len(self.buf) - self.pos < n:
            self.fill(n - (len(self.buf) - self.pos))
        d = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return d

    def response(self):
        ln = self.line()
        parts, lits = [ln], []
        while (m := LIT.search(ln)):
            lits.append(self.take(int(m.group(1))))
            ln = self.line()
            parts += [lits[-1], ln]
        return Resp(parts, lits)

    def until(self, tag):
        out = []
        while True:
            out.append(self.response())
            if out[-1].tag == tag:
                return out

    def cmd(self, text, ok=True):
        self.n += 1
        tag = b"c%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        self.send(tag + b" " + text + b"\r\n")
        rs = self.until(tag)
        if ok:
            check(rs[-1].first.startswith(tag + b" OK"),
                  "command failed: %s" % short(text, 120), rs[-1].first)
        return rs

    def login(self, user, pw):
        return self.cmd("LOGIN %s %s" % (user, pw))

    def close(self):
        self.sock.close()


def direct(user="alice"):
    """A session on Dovecot itself, not through imapxd."""
    d = Raw(port("DOVECOT"))
    d.login(user, user + "-secret")
    return d


def multiappend(c, box, msgs, batch=250):
    for i in range(0, len(msgs), batch):
        parts = [b"APPEND " + box]
        for m in msgs[i:i + batch]:
            parts += [b" {%d+}\r\n" % len(m), m]
        c.cmd(b"".join(parts))


def fetch_bodies(c, box, uids=b"1:*", item=b"BODY.PEEK[]", select=b"EXAMINE"):
    """{uid: literal} for a UID FETCH of ITEM."""
    if select:
        c.cmd(select + b" " + box)
    res = {}
    for r in c.cmd(b"UID FETCH %s (UID %s)" % (uids, item))[:-1]:
        m = re.match(rb"\* \d+ FETCH \(.*\bUID (\d+)", r.first)
        if m and r.lits:
            res[int(m.group(1))] = r.lits[0]
    return res


def appenduid(text):
    m = re.search(rb"\[APPENDUID \d+ (\d+)\]", text)
    check(m is not None, "no APPENDUID", text)
    return int(m.group(1))


def caps_of(dat):
    """The capability names of an imaplib CAPABILITY answer."""
    return [c.upper() for c in b" ".join(dat).split()]


# 1. imaplib_plain -----------------------------------------------------

def no_recent(dat):
    """imaplib FETCH data with \\Recent taken out of the FLAGS lists: only
    the first session that sees a message gets it."""
    def fix(b):
        return re.sub(rb" \\Recent|\\Recent ?", b"", b)
    return [(fix(x[0]), x[1]) if isinstance(x, tuple) else fix(x)
            for x in dat]


def t_imaplib_plain():
    M = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
    caps = M.capabilities
    log("before login:", caps)
    check("STARTTLS" in caps, "no STARTTLS before login", caps)
    check("AUTH=PLAIN" in caps, "no AUTH=PLAIN on loopback", caps)
    check("LOGINDISABLED" not in caps, "LOGINDISABLED on loopback", caps)
    typ, dat = M.login("alice", "alice-secret")
    check(typ == "OK", "LOGIN failed", typ, dat)
    m = re.match(rb"\[CAPABILITY ([^]]*)\]", dat[0])
    if m:
        code = m.group(1).upper().split()
        check(b"STARTTLS" not in code and b"COMPRESS=DEFLATE" not in code,
              "the LOGIN answer's CAPABILITY code offers what imapxd "
              "cannot carry", dat[0])
    typ, dat = M.capability()
    caps = caps_of(dat)
    log("after login:", b" ".join(caps))
    check(typ == "OK", "CAPABILITY failed", typ, dat)
    check(b"IMAP4REV1" in caps and b"IDLE" in caps,
          "IMAP4rev1 or IDLE missing after login", dat)
    check(b"COMPRESS=DEFLATE" not in caps, "COMPRESS=DEFLATE offered", dat)
    check(b"STARTTLS" not in caps, "STARTTLS offered after login", dat)

    box = "ClientTest"
    typ, dat = M.create(box)
    check(typ == "OK", "CREATE failed", dat)
    msgs = [message(b"plain", 1, size=3000),
            message(b"plain", 2, size=1 << 20),
            message(b"plain", 3, size=5000, eight=True,
                    extra=b"Content-Type: text/plain; charset=utf-8\r\n"
                          b"Content-Transfer-Encoding: 8bit\r\n")]
    check(len(msgs[1]) == 1 << 20, "test bug: not 1 MiB")
    typ, dat = M.append(box, None, None, msgs[0])
    check(typ == "OK", "APPEND failed", dat)
    typ, dat = M.append(box, "(\\Draft $Test)",
                        imaplib.Time2Internaldate(1700000000), msgs[1])
    check(typ == "OK", "APPEND 1 MiB with flags and date failed", dat)
    typ, dat = M.append(box, None, None, msgs[2])
    check(typ == "OK", "APPEND of 8-bit text failed", dat)

    typ, dat = M.select(box)
    check(typ == "OK" and dat == [b"3"], "SELECT", typ, dat)
    for crit, want in [(("ALL",), b"1 2 3"),
                       (("LARGER", "1000000"), b"2"),
                       (("KEYWORD", "$Test"), b"2"),
                       (("HEADER", "Message-ID", "<plain-3@example.test>"),
                        b"3")]:
        typ, dat = M.search(None, *crit)
        check(typ == "OK" and dat == [want], "SEARCH %s" % (crit,), dat)
    for i, want in enumerate(msgs, 1):
        typ, dat = M.fetch(str(i), "(RFC822)")
        check(typ == "OK" and isinstance(dat[0], tuple),
              "FETCH %d RFC822" % i, dat)
        check(dat[0][1] == want, "FETCH %d RFC822: the bytes differ from "
              "what was appended" % i, dat[0][1][:200], want[:200])
    typ, dat = M.fetch("2", "(FLAGS INTERNALDATE RFC822.SIZE)")
    check(typ == "OK" and b"$Test" in dat[0] and b"\\Draft" in dat[0] and
          b"RFC822.SIZE 1048576" in dat[0], "FETCH 2 attributes", dat)
    typ, dat = M.store("1", "+FLAGS", "(\\Flagged)")
    check(typ == "OK" and b"\\Flagged" in dat[0], "STORE", dat)
    typ, dat = M.copy("1:2", "INBOX")
    check(typ == "OK", "COPY", dat)
    typ, dat = M.store("3", "+FLAGS", "(\\Deleted)")
    check(typ == "OK", "STORE \\Deleted", dat)
    typ, dat = M.expunge()
    check(typ == "OK" and dat == [b"3"], "EXPUNGE", typ, dat)
    typ, seen = M.fetch("1:*", "(UID FLAGS RFC822)")
    check(typ == "OK" and len(seen) == 4, "FETCH 1:* after EXPUNGE", seen)
    typ, dat = M.logout()
    check(typ == "BYE", "LOGOUT", typ, dat)

    D = imaplib.IMAP4(HOST, port("DOVECOT"), timeout=TIMEOUT)
    D.login("alice", "alice-secret")
    typ, dat = D.select(box, readonly=True)
    check(dat == [b"2"], "Dovecot's %s" % box, dat)
    typ, dat = D.fetch("1:*", "(UID FLAGS RFC822)")
    check(no_recent(dat) == no_recent(seen), "FETCH through imapxd and "
          "from Dovecot differ", no_recent(seen), no_recent(dat))
    typ, dat = D.select("INBOX", readonly=True)
    typ, dat = D.fetch("1:*", "(RFC822)")
    check([x[1] for x in dat if isinstance(x, tuple)] == msgs[:2],
          "the COPY to INBOX", dat)
    D.logout()


# 2. imaplib_tls, imaplib_starttls ---------------------------------------

def t_imaplib_tls(mode):
    ctx = tls_ctx()
    if mode == "tls":
        M = imaplib.IMAP4_SSL(HOST, port("IMAPS"), ssl_context=ctx,
                              timeout=TIMEOUT)
        check("STARTTLS" not in M.capabilities,
              "STARTTLS offered on the TLS port", M.capabilities)
    else:
        M = imaplib.IMAP4(HOST, port("IMAP"), timeout=TIMEOUT)
        check("STARTTLS" in M.capabilities, "no STARTTLS", M.capabilities)
        typ, dat = M.starttls(ssl_context=ctx)
        check(typ == "OK", "STARTTLS failed", dat)
        # imaplib asked for CAPABILITY again after the handshake.
        check("STARTTLS" not in M.capabilities,
              "STARTTLS still offered after STARTTLS", M.capabilities)
        typ, dat = M.capability()
        check(b"STARTTLS" not in caps_of(dat),
              "CAPABILITY lists STARTTLS after STARTTLS", dat)
    check(isinstance(M.sock, ssl.SSLSocket), "not TLS")
    log("TLS:", M.sock.version(), M.sock.cipher())
    check("AUTH=PLAIN" in M.capabilities, "no AUTH=PLAIN under TLS",
          M.capabilities)
    typ, dat = M.login("bob", "bob-secret")
    check(typ == "OK", "LOGIN bob", dat)
    typ, dat = M.capability()
    check(b"STARTTLS" not in caps_of(dat) and b"IDLE" in caps_of(dat),
          "capabilities after login", dat)
    typ, dat = M.select("INBOX")
    check(typ == "OK", "SELECT INBOX", dat)
    msgs = [message(mode.encode(), 1, size=700),
            message(mode.encode(), 2, size=300 * 1024),
            message(mode.encode(), 3, size=4000, eight=True)]
    uids = []
    for m in msgs:
        typ, dat = M.append("INBOX", None, None, m)
        check(typ == "OK", "APPEND", dat)
        uids.append(appenduid(dat[0]))
    M.select("INBOX")
    for uid, m in zip(uids, msgs):
        typ, dat = M.uid("FETCH", str(uid), "(BODY.PEEK[])")
        check(typ == "OK" and isinstance(dat[0], tuple) and dat[0][1] == m,
              "UID FETCH %d: not the appended bytes" % uid, dat)
    d = direct("bob")
    got = fetch_bodies(d, b"INBOX")
    check([got.get(u) for u in uids] == msgs, "Dovecot holds other bytes")
    typ, dat = M.logout()
    check(typ == "BYE", "LOGOUT", dat)

    if mode == "starttls":
        # Commands pipelined behind STARTTLS in plaintext must not be
        # answered inside TLS (the STARTTLS command injection of
        # CVE-2011-0411).
        c = Raw(port("IMAP"))
        c.send(b"s STARTTLS\r\nx CAPABILITY\r\n")
        r = c.response()
        check(r.first.startswith(b"s OK"), "STARTTLS", r)
        c.starttls()
        c.send(b"y NOOP\r\n")
        rs = c.until(b"y")
        check(len(rs) == 1, "a command sent in plaintext behind STARTTLS "
              "was answered under TLS", rs)


# 5. pipelining --------------------------------------------------------

def t_pipelining():
    sizes = [300, 2000, 200 * 1024, 5000, 60 * 1024]
    msgs = [message(b"pipe", i, size=s) for i, s in enumerate(sizes, 1)]
    d = direct()
    d.cmd(b"CREATE Pipe")
    multiappend(d, b"Pipe", msgs)
    d.close()

    c = Raw(port("IMAP"))
    c.login("alice", "alice-secret")
    c.cmd(b"SELECT Pipe")
    cmds = []
    for i in range(200):
        cmds.append((b"n%03d" % i, b"NOOP"))
        if i % 40 == 7:
            cmds.append((b"f%03d" % i, b"UID FETCH 1:* (UID FLAGS "
                         b"BODY.PEEK[])"))
        if i % 50 == 9:
            cmds.append((b"s%03d" % i, b"STATUS INBOX (MESSAGES UIDNEXT)"))
    what = dict(cmds)
    t0 = time.monotonic()
    c.send(b"".join(t + b" " + x + b"\r\n" for t, x in cmds))
    done, fetches, statuses = [], 0, 0
    while len(done) < len(cmds):
        r = c.response()
        if r.tag == b"*":
            m = re.match(rb"\* \d+ FETCH \(.*\bUID (\d+)", r.first)
            if m:
                uid = int(m.group(1))
                check(len(r.lits) == 1 and r.lits[0] == msgs[uid - 1],
                      "FETCH of UID %d: not the stored bytes" % uid, r)
                fetches += 1
            elif r.first.startswith(b"* STATUS "):
                statuses += 1
            continue
        check(r.tag in what, "a tagged response to a tag never sent", r)
        check(r.tag not in done, "tag %s answered twice" % r.tag, r)
        check(r.first.startswith(r.tag + b" OK"), "%s failed" % what[r.tag],
              r)
        done.append(r.tag)
        if r.tag.startswith(b"f"):
            nf = sum(t.startswith(b"f") for t in done)
            check(fetches >= len(msgs) * nf, "a FETCH completed before "
                  "its data", r, fetches)
    log("%d commands answered in %.2f s" % (len(cmds),
                                            time.monotonic() - t0))
    sent_noops = [t for t, _ in cmds if t.startswith(b"n")]
    check([t for t in done if t.startswith(b"n")] == sent_noops,
          "NOOPs completed out of order", done)
    nfetch = sum(t.startswith(b"f") for t, _ in cmds)
    nstatus = sum(t.startswith(b"s") for t, _ in cmds)
    check(fetches == len(msgs) * nfetch, "FETCH responses: %d of %d" %
          (fetches, len(msgs) * nfetch))
    check(statuses == nstatus, "STATUS responses: %d of %d" %
          (statuses, nstatus))
    rs = c.cmd(b"NOOP")
    check(all(r.tag not in what for r in rs), "a late duplicate answer", rs)
    c.cmd(b"LOGOUT")


# 6. literals ----------------------------------------------------------

def expect_cont(c, what):
    r = c.response()
    check(r.first.startswith(b"+"), "no continuation for %s" % what, r)


def t_literals():
    c = Raw(port("IMAP"))
    c.login("alice", "alice-secret")
    c.cmd(b"CREATE Lit")
    m1 = message(b"lit", 1, size=20000)
    m2 = message(b"lit", 2, size=30000, eight=True)
    # 8-bit text in a binary literal: Dovecot keeps it as it is.  (A part
    # labelled binary it would give back base64-encoded under BODY[].)
    m3 = message(b"lit", 3, size=4000, eight=True,
                 extra=b"Content-Transfer-Encoding: 8bit\r\n")
    m4 = message(b"lit", 4, extra=b"Content-Type: application/octet-stream"
                 b"\r\nContent-Transfer-Encoding: binary\r\n")
    m4 += bytes(range(256)) * 8 + b"\r\n"
    uids = {}
    # {n}: the bytes only after the continuation
    c.send(b"a1 APPEND Lit {%d}\r\n" % len(m1))
    expect_cont(c, "APPEND {n}")
    c.send(m1 + b"\r\n")
    r = c.until(b"a1")[-1]
    check(r.first.startswith(b"a1 OK"), "APPEND {n}", r)
    uids[appenduid(r.first)] = m1
    # {n+}: all at once, with flags
    c.send(b"a2 APPEND Lit (\\Seen) {%d+}\r\n" % len(m2) + m2 + b"\r\n")
    r = c.until(b"a2")[-1]
    check(r.first.startswith(b"a2 OK"), "APPEND {n+}", r)
    uids[appenduid(r.first)] = m2
    # ~{n}: a synchronizing binary literal (RFC 3516)
    c.send(b"a3 APPEND Lit ~{%d}\r\n" % len(m3))
    expect_cont(c, "APPEND ~{n}")
    c.send(m3 + b"\r\n")
    r = c.until(b"a3")[-1]
    check(r.first.startswith(b"a3 OK"), "APPEND ~{n}", r)
    uids[appenduid(r.first)] = m3
    # ~{n+} with NUL bytes
    c.send(b"a4 APPEND Lit ~{%d+}\r\n" % len(m4) + m4 + b"\r\n")
    r = c.until(b"a4")[-1]
    check(r.first.startswith(b"a4 OK"), "APPEND ~{n+} with NULs", r)
    uid4 = appenduid(r.first)
    # Literals in other commands: LIST with {n}, SEARCH with {n+}
    c.send(b"l1 LIST \"\" {3}\r\n")
    expect_cont(c, "LIST {n}")
    c.send(b"Lit\r\n")
    rs = c.until(b"l1")
    check(rs[-1].first.startswith(b"l1 OK") and
          any(r.first.startswith(b"* LIST") and r.first.endswith(b"Lit")
              for r in rs), "LIST with a literal", rs)
    c.cmd(b"SELECT Lit")
    mid = b"<lit-2@example.test>"
    rs = c.cmd(b"UID SEARCH HEADER Message-ID {%d+}\r\n%s" % (len(mid), mid))
    want = [k for k, v in uids.items() if v is m2]
    check(rs[0].first == b"* SEARCH %d" % want[0], "SEARCH with {n+}", rs)

    got = fetch_bodies(c, b"Lit", select=None)
    for uid, m in uids.items():
        check(got.get(uid) == m, "FETCH BODY[] of UID %d: not the appended "
              "bytes" % uid, got.get(uid, b"")[:300], m[:300])
    rs = c.cmd(b"UID FETCH %d (BINARY.PEEK[])" % uid4)
    check(rs[0].first.endswith(b"~{%d}" % len(m4)) and rs[0].lits == [m4],
          "BINARY[] of the message with NULs: not a ~{n} literal of the "
          "appended bytes", rs[0])
    d = direct()
    dgot = fetch_bodies(d, b"Lit")
    check(dgot == got, "BODY[] through imapxd and from Dovecot differ",
          sorted(got), sorted(dgot))

    # 5 MiB, both ways
    big = message(b"lit", 5, size=5 << 20)
    t0 = time.monotonic()
    c.send(b"a5 APPEND Lit {%d+}\r\n" % len(big) + big + b"\r\n")
    r = c.until(b"a5")[-1]
    check(r.first.startswith(b"a5 OK"), "APPEND of 5 MiB", r)
    uid5 = appenduid(r.first)
    t1 = time.monotonic()
    got = fetch_bodies(c, b"Lit", uids=b"%d" % uid5, select=None)
    t2 = time.monotonic()
    check(got.get(uid5) == big, "the 5 MiB FETCH did not arrive intact",
          hashlib.sha256(got.get(uid5, b"")).hexdigest(),
          hashlib.sha256(big).hexdigest(), len(got.get(uid5, b"")))
    # Twice pipelined, read only after the proxy had to hold back.
    c.send(b"b1 UID FETCH %d (BODY.PEEK[] UID)\r\n"
           b"b2 UID FETCH %d (RFC822.SIZE BODY.PEEK[])\r\n" % (uid5, uid5))
    time.sleep(1)
    rs = []
    while not ({b"b1", b"b2"} <= {r.tag for r in rs}):
        rs.append(c.response())
    lits = [r.lits for r in rs if r.tag == b"*"]
    check(lits == [[big], [big]] and all(r.first.startswith(r.tag + b" OK")
                                         for r in rs if r.tag != b"*"),
          "two pipelined 5 MiB FETCHes",
          [(r.first, [len(x) for x in r.lits]) for r in rs])
    dgot = fetch_bodies(d, b"Lit", uids=b"%d" % uid5)
    check(dgot.get(uid5) == big, "Dovecot holds other bytes")
    log("5 MiB: APPEND %.2f s, FETCH %.2f s" % (t1 - t0, t2 - t1))
    c.cmd(b"LOGOUT")


# 7. mbsync ------------------------------------------------------------

MB_BOX = b"Sync"


def no_tuid(m, eol):
    """M without the X-TUID header line that mbsync adds to every message
    it stores, on either side."""
    end = m.find(eol + eol)
    hdr = re.sub(re.escape(eol) + rb"X-TUID: [^\r\n]*", b"", m[:end], count=1)
    return hdr + m[end:]


def t_mbsync_populate():
    rnd = random.Random(1000)
    msgs = []
    for i in range(1000):
        size = 100 * 1024 if i % 50 == 0 else rnd.choice(
            [200, 800, 2000, 5000, 12000, 30000])
        msgs.append(message(b"mb", i, size=size, eight=(i % 7 == 0)))
    t0 = time.monotonic()
    d = direct()
    d.cmd(b"CREATE " + MB_BOX)
    multiappend(d, MB_BOX, msgs)
    d.cmd(b"LOGOUT")
    log("1000 messages, %d bytes, appended in %.2f s" %
        (sum(map(len, msgs)), time.monotonic() - t0))


def t_mbsync_compare(maildir):
    d = direct()
    bodies = fetch_bodies(d, MB_BOX)
    check(len(bodies) >= 1000, "Dovecot has %d messages" % len(bodies))
    byid = {msgid(b): b for b in bodies.values()}
    files = sorted(glob.glob(os.path.join(maildir, "cur", "*")) +
                   glob.glob(os.path.join(maildir, "new", "*")))
    check(len(files) == len(bodies), "%d files in the Maildir, %d messages "
          "on Dovecot" % (len(files), len(bodies)))
    seen = set()
    for f in files:
        with open(f, "rb") as fp:
            data = fp.read()
        mid = msgid(data)
        check(mid in byid, "%s: no such message on Dovecot" % f, data[:300])
        check(mid not in seen, "%s: message %s twice" % (f, mid))
        seen.add(mid)
        # A Maildir holds LF line ends, and mbsync adds an X-TUID header
        # to each message it stores; it changes nothing else.
        data = no_tuid(data, b"\n")
        want = no_tuid(byid[mid], b"\r\n").replace(b"\r\n", b"\n")
        check(data == want, "%s differs from Dovecot's %s" % (f, mid),
              data[:300], want[:300])
    log("%d Maildir files equal Dovecot's messages" % len(files))


def t_mbsync_push(path):
    with open(path, "rb") as fp:
        local = fp.read()
    mid = msgid(local)
    d = direct()
    d.cmd(b"EXAMINE " + MB_BOX)
    rs = d.cmd(b"UID SEARCH HEADER Message-ID " + mid)
    uids = rs[0].first.split()[2:]
    check(len(uids) == 1, "the pushed message is on Dovecot %d times" %
          len(uids), rs)
    got = fetch_bodies(d, MB_BOX, uids=uids[0], select=None)
    body = no_tuid(got[int(uids[0])], b"\r\n")
    check(body == local.replace(b"\n", b"\r\n"), "the pushed message "
          "differs", body, local)


# 8. id_forwarding -----------------------------------------------------

def t_id_forwarding(logdir):
    # From 127.0.0.2, so that the client's address differs from imapxd's.
    src = "127.0.0.2"
    try:
        with socket.socket() as s:
            s.bind((src, 0))
    except OSError:
        src = "127.0.0.1"
    c = Raw(port("IMAP"), src=src)
    cport = c.sock.getsockname()[1]
    # What the client claims itself must not reach Dovecot's log.
    c.cmd(b'ID ("name" "client_test" "x-originating-ip" "10.9.9.9" '
          b'"x-originating-port" "4444" "x-session-ext-id" "forged")')
    c.login("alice", "alice-secret")
    c.cmd(b"NOOP")
    c.cmd(b"LOGOUT")
    c2 = Raw(port("IMAP"), src=src)
    rs = c2.cmd(b"LOGIN alice wrong-secret", ok=False)
    check(rs[-1].first.startswith(b"c1 NO"), "a wrong password", rs)
    c2.cmd(b"LOGOUT")
    log("client %s port %d" % (src, cport))

    logf = os.path.join(logdir, "dovecot.log")
    pat_login = re.compile(r"imap-login: Info: Login: user=<alice@example\."
                           r"test>, method=PLAIN, rip=%s, lip=127\.0\.0\.1,"
                           r".* session=<([^>]*)>" % re.escape(src))
    pat_fail = re.compile(r"auth: Info: passwd-file\(alice@example\.test,"
                          r"%s,<[^>]*>\): Password mismatch" % re.escape(src))
    deadline = time.monotonic() + 10
    while True:
        with open(logf, errors="replace") as fp:
            text = fp.read()
        login = pat_login.search(text)
        if login and pat_fail.search(text) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    lines = [ln for ln in text.splitlines() if "alice" in ln]
    check(login is not None, "Dovecot did not log the login with "
          "rip=%s lip=127.0.0.1" % src, *lines)
    check(pat_fail.search(text) is not None, "Dovecot did not log the failed "
          "login with the client's address %s" % src, *lines)
    sess = login.group(1)
    log("Dovecot:", login.group(0))
    check(sess != "forged" and "10.9.9.9" not in text,
          "what the client sent in ID before login "
          "reached Dovecot", *lines)
    check(re.search(r"imap\(alice@example\.test\)<\d+><%s>: Info: "
                    r"Disconnected: Logged out" % re.escape(sess), text),
          "the session %s did not end with LOGOUT" % sess, *lines)


def main():
    case, args = sys.argv[1], sys.argv[2:]
    try:
        globals()["t_" + case](*args)
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
EOF
}

# client CASE [ARGS]: run a case of client.py; on failure show its output
# and imapxd's log, and fail the test.
client()
{
	_out=$1.out
	python3 client.py "$@" >"$_out" 2>&1 && return 0
	fx_show "$_out"
	_why=$(grep '^FAIL: ' "$_out" | head -1 | cut -c7-)
	[ -n "$_why" ] || _why=$(tail -1 "$_out")
	atf_fail "$1: $(echo "$_why" | cut -c1-160)"
}

# try_imapc NAME WHAT <SCRIPT: imapc to imapxd's plaintext port; if the
# script fails, show its output and add WHAT to $fails.
try_imapc()
{
	_out=$1.out _what=$2
	imapc --timeout 5 127.0.0.1 "$FX_IMAP_PORT" >"$_out" 2>&1 && return 0
	fx_show "$_out"
	fails="$fails; $_what"
}

# fx_show FILE: FILE, and imapxd's log: sanitizer reports whole, the
# rest only its end.
fx_show()
{
	cat "$1" >&2
	echo "--- imapxd.log" >&2
	sed -n '/ERROR: [A-Za-z]*Sanitizer\|runtime error/,/^SUMMARY/p' \
	    "$FX_DIR/imapxd.log" >&2
	tail -5 "$FX_DIR/imapxd.log" >&2
}

# b64plain AUTHZID AUTHCID PASS: a SASL PLAIN response.
b64plain()
{
	python3 -c 'import base64, sys
print(base64.b64encode("\0".join(sys.argv[1:]).encode()).decode())' "$@"
}

atf_test_case imaplib_plain cleanup
imaplib_plain_head()
{
	atf_set descr "imaplib over plaintext: capabilities, mailbox" \
	    "commands, 1 MiB and 8-bit APPEND/FETCH equal Dovecot's"
	atf_set require.user root
	atf_set timeout 60
}
imaplib_plain_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client imaplib_plain
}
imaplib_plain_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case imaplib_tls cleanup
imaplib_tls_head()
{
	atf_set descr "imaplib IMAP4_SSL on the TLS port: login, APPEND," \
	    "FETCH round trip"
	atf_set require.user root
	atf_set timeout 60
}
imaplib_tls_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client imaplib_tls tls
}
imaplib_tls_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case imaplib_starttls cleanup
imaplib_starttls_head()
{
	atf_set descr "imaplib starttls(): STARTTLS leaves CAPABILITY," \
	    "APPEND/FETCH round trip, no plaintext command injection"
	atf_set require.user root
	atf_set timeout 60
}
imaplib_starttls_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client imaplib_tls starttls
}
imaplib_starttls_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case authenticate_plain cleanup
authenticate_plain_head()
{
	atf_set descr "AUTHENTICATE PLAIN with and without SASL-IR," \
	    "failure, cancel; LOGIN with quoted and literal arguments"
	atf_set require.user root
	atf_set timeout 60
}
authenticate_plain_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	good=$(b64plain "" alice alice-secret)
	self=$(b64plain alice alice alice-secret)
	bad=$(b64plain "" alice wrong-secret)
	# Every form is tried; the failures are listed at the end.
	fails=

	try_imapc ir "AUTHENTICATE PLAIN with SASL-IR failed" <<-EOF
	< ^\* OK
	> a AUTHENTICATE PLAIN $good
	< ^a OK
	> b SELECT INBOX
	< ^b OK
	> c LOGOUT
	< ^c OK
	EOF

	try_imapc noir "AUTHENTICATE PLAIN without SASL-IR failed" <<-EOF
	< ^\* OK
	> a AUTHENTICATE PLAIN
	< ^\+ ?$
	> $good
	< ^a OK
	> b NOOP
	< ^b OK
	EOF

	try_imapc authzid "AUTHENTICATE PLAIN with authzid = authcid failed" <<-EOF
	< ^\* OK
	> a AUTHENTICATE PLAIN $self
	< ^a OK
	EOF

	# A failure leaves the client connected and able to try again.
	try_imapc wrong "a wrong password was not refused as it should be" <<-EOF
	< ^\* OK
	> a AUTHENTICATE PLAIN $bad
	< ^a NO \[AUTHENTICATIONFAILED\]
	> b AUTHENTICATE PLAIN
	< ^\+
	> $bad
	< ^b NO \[AUTHENTICATIONFAILED\]
	> c LOGIN alice wrong-secret
	< ^c NO \[AUTHENTICATIONFAILED\]
	> d AUTHENTICATE PLAIN $good
	< ^d OK
	EOF

	try_imapc cancel "\"*\" did not cancel AUTHENTICATE with BAD" <<-EOF
	< ^\* OK
	> a AUTHENTICATE PLAIN
	< ^\+
	> *
	< ^a BAD
	> b LOGIN alice alice-secret
	< ^b OK
	EOF

	try_imapc quoted "LOGIN with quoted strings failed" <<-EOF
	< ^\* OK
	> a LOGIN "alice" "alice-secret"
	< ^a OK
	EOF

	try_imapc literal "LOGIN with {n} literals failed" <<-EOF
	< ^\* OK
	> a LOGIN {5}
	< ^\+
	> alice {12}
	< ^\+
	> alice-secret
	< ^a OK
	> b SELECT INBOX
	< ^b OK
	EOF

	try_imapc literalplus "LOGIN with {n+} literals failed" <<-EOF
	< ^\* OK
	> a LOGIN {18+}
	> alice@example.test {12+}
	> alice-secret
	< ^a OK
	> b SELECT INBOX
	< ^b OK
	EOF
	if grep -q '^S: + ' literalplus.out; then
		fx_show literalplus.out
		fails="$fails; a continuation was sent for {n+}"
	fi
	[ -z "$fails" ] || atf_fail "${fails#; }"
}
authenticate_plain_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case idle cleanup
idle_head()
{
	atf_set descr "IDLE sees a delivery as EXISTS; DONE ends it; the" \
	    "session goes on"
	atf_set require.user root
	atf_set timeout 60
}
idle_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	imapc --timeout 25 127.0.0.1 "$FX_IMAP_PORT" >idle.out 2>&1 <<-EOF &
	< ^\* OK
	> a LOGIN bob bob-secret
	< ^a OK
	> b SELECT INBOX
	< ^\* 0 EXISTS
	< ^b OK
	> c IDLE
	< ^\+ idling
	< ^\* 1 EXISTS
	> DONE
	< ^c OK
	> d NOOP
	< ^d OK
	> e IDLE
	< ^\+
	> DONE
	< ^e OK
	> f FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
	< ^f OK
	> g LOGOUT
	< ^g OK
	EOF
	pid=$!
	i=0
	until grep -q '^S: + idling' idle.out; do
		i=$((i + 1))
		[ $i -lt 100 ] || { kill $pid; fx_show idle.out; atf_fail "no IDLE"; }
		sleep 0.1
	done
	fx_sendmail alice@example.test bob@example.test <<-EOF ||
	From: alice@example.test
	To: bob@example.test
	Subject: idle check $$
	Message-ID: <idle-$$@example.test>

	Wake up, Bob.
	EOF
	    { kill $pid; atf_fail "the MTA refused mail for bob"; }
	wait $pid || { fx_show idle.out; atf_fail "the IDLE session failed"; }
	grep -q "^S: Subject: idle check $$" idle.out ||
	    { fx_show idle.out; atf_fail "FETCH after IDLE: not the delivery"; }
}
idle_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case pipelining cleanup
pipelining_head()
{
	atf_set descr "200 NOOPs with UID FETCH and STATUS in one write:" \
	    "each tag answered once, FETCH data intact"
	atf_set require.user root
	atf_set timeout 60
}
pipelining_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client pipelining
}
pipelining_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case literals cleanup
literals_head()
{
	atf_set descr "APPEND with {n}, {n+}, ~{n}, ~{n+}; literals in" \
	    "LIST and SEARCH; a 5 MiB FETCH arrives intact"
	atf_set require.user root
	atf_set timeout 60
}
literals_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client literals
}
literals_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case mbsync cleanup
mbsync_head()
{
	atf_set descr "mbsync pulls 1,000 messages through imapxd into a" \
	    "Maildir byte for byte, and pushes one back"
	atf_set require.user root
	atf_set require.progs mbsync
	atf_set timeout 90
}
mbsync_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client mbsync_populate
	mkdir maildir
	cat >mbsyncrc <<-EOF
	IMAPAccount imapxd
	Host 127.0.0.1
	Port $FX_IMAP_PORT
	User alice
	Pass alice-secret
	SSLType None
	AuthMechs LOGIN

	IMAPStore far
	Account imapxd

	MaildirStore near
	Path $PWD/maildir/
	Inbox $PWD/maildir/INBOX
	SubFolders Verbatim

	Channel sync
	Far :far:
	Near :near:
	Patterns Sync
	Create Near
	Sync All
	Expunge None
	SyncState *
	EOF
	mbsync -c mbsyncrc sync >mbsync1.out 2>&1 ||
	    { fx_show mbsync1.out; atf_fail "mbsync failed"; }
	client mbsync_compare maildir/Sync

	f=maildir/Sync/new/1700000000.P$$Q1.client-test
	cat >"$f" <<-EOF
	From: alice@example.test
	To: bob@example.test
	Subject: pushed by mbsync
	Message-ID: <mbsync-push-$$@example.test>

	Written into the Maildir, to reach Dovecot through imapxd.
	EOF
	cp "$f" pushed.eml
	mbsync -c mbsyncrc sync >mbsync2.out 2>&1 ||
	    { fx_show mbsync2.out; atf_fail "mbsync (push) failed"; }
	client mbsync_push pushed.eml
	# A third run changes nothing on either side.
	mbsync -c mbsyncrc sync >mbsync3.out 2>&1 ||
	    { fx_show mbsync3.out; atf_fail "mbsync (again) failed"; }
	client mbsync_compare maildir/Sync
}
mbsync_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case id_forwarding cleanup
id_forwarding_head()
{
	atf_set descr "Dovecot logs the client's address (ID forwarding)," \
	    "never what the client put in its own ID"
	atf_set require.user root
	atf_set timeout 60
}
id_forwarding_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	client_py
	client id_forwarding "$FX_DIR"
}
id_forwarding_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case imaplib_plain
	atf_add_test_case imaplib_tls
	atf_add_test_case imaplib_starttls
	atf_add_test_case authenticate_plain
	atf_add_test_case idle
	atf_add_test_case pipelining
	atf_add_test_case literals
	atf_add_test_case mbsync
	atf_add_test_case id_forwarding
}
