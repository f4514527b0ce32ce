#!/usr/bin/env python3
"""imapc.py -- a scripted IMAP (or IMSP) client for the integration tests.

usage: imapc.py [--starttls | --tls] [--timeout SECONDS] HOST PORT < SCRIPT

The script, one directive per line:
  > TEXT     send TEXT and CRLF.  {@FILE} or {@FILE+} in TEXT sends FILE as
             a literal (bare LF becomes CRLF): "{n}" then, after the
             server's "+" continuation, the bytes; "{n+}" sends them at once.
             A plain "{5}" is sent as it is: the script then waits for "+"
             itself and sends the five bytes on a line of its own.
  >- TEXT    send TEXT without CRLF
  < REGEX    read responses until one matches (re.search); a response
             whose line ends in {n} includes the n bytes and the rest of
             the line.  Fails (exit 1) on timeout or end of connection.
  sleep S    pause S seconds
  # ...      comment; empty lines are ignored

Everything sent is printed as "C: line", everything received as "S: line".
With --starttls the greeting is read and STARTTLS done before the script
starts; with --tls (and without either) the script reads the greeting.
Certificates are not verified: the demo and tests use self-signed ones.
"""

import argparse
import re
import socket
import ssl
import sys
import time

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
FILELIT = re.compile(r"\{@([^}+]+)(\+?)\}")


class Fail(Exception):
    pass


class Conn:
    def __init__(self, sock, timeout):
        self.sock, self.timeout, self.buf = sock, timeout, b""

    def wrap(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("timeout")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise Fail("timeout")
        if not data:
            raise Fail("connection closed")
        self.buf += data

    def take(self, n, deadline):
        while len(self.buf) < n:
            self.fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def line(self, deadline):
        while b"\r\n" not in self.buf:
            self.fill(deadline)
        i = self.buf.index(b"\r\n") + 2
        return self.take(i, deadline)

    def response(self, deadline):
        """One response, literals included, without the final CRLF."""
        resp = self.line(deadline)
        show(resp)
        while (m := LITERAL.search(resp)):
            lit = self.take(int(m.group(1)), deadline)
            rest = self.line(deadline)
            show(lit + rest)
            resp += lit + rest
        return resp[:-2].decode("utf-8", "replace")

    def expect(self, regex, deadline):
        pat = re.compile(regex)
        while not pat.search(resp := self.response(deadline)):
            pass
        return resp

    def send(self, data):
        for ln in data.decode("utf-8", "replace").splitlines() or [""]:
            print("C: " + ln, flush=True)
        self.sock.sendall(data)


def show(data):
    for ln in data.decode("utf-8", "replace").splitlines():
        print("S: " + ln, flush=True)


def send_text(conn, text, eol, timeout):
    """Send TEXT, turning {@FILE} into literals."""
    pos = 0
    for m in FILELIT.finditer(text):
        with open(m.group(1), "rb") as f:
            body = re.sub(rb"(?<!\r)\n", b"\r\n", f.read())
        sync = m.group(2) != "+"
        conn.send(("%s{%d%s}\r\n" % (text[pos:m.start()], len(body),
                                     "" if sync else "+")).encode())
        if sync:
            conn.expect(r"^\+", time.monotonic() + timeout)
        conn.send(body)
        pos = m.end()
    conn.send((text[pos:] + eol).encode())


def run(conn, script, timeout):
    for n, raw in enumerate(script, 1):
        ln = raw.rstrip("\r\n")
        try:
            if ln.startswith(">- "):
                send_text(conn, ln[3:], "", timeout)
            elif ln.startswith("> ") or ln == ">":
                send_text(conn, ln[2:], "\r\n", timeout)
            elif ln.startswith("< "):
                conn.expect(ln[2:], time.monotonic() + timeout)
            elif ln.startswith("sleep "):
                time.sleep(float(ln[6:]))
            elif ln.strip() and not ln.startswith("#"):
                raise Fail("bad directive")
        except (Fail, OSError) as e:
            print("imapc: script line %d: %s: %s" % (n, ln, e),
                  file=sys.stderr)
            return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    a = ap.parse_args()
    try:
        conn = Conn(socket.create_connection((a.host, a.port), a.timeout),
                    a.timeout)
        if a.tls:
            conn.wrap()
        elif a.starttls:
            conn.expect(r"^\* OK", time.monotonic() + a.timeout)
            conn.send(b"s0 STARTTLS\r\n")
            if not conn.expect(r"^s0 ", time.monotonic() +
                               a.timeout).startswith("s0 OK"):
                raise Fail("STARTTLS refused")
            conn.wrap()
    except (Fail, OSError) as e:
        print("imapc: %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 1
    rc = run(conn, sys.stdin, a.timeout)
    conn.sock.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
