#!/usr/bin/env python3
"""fakerelay.py -- a scripted SMTP relay for the tests of submitd.

usage: fakerelay.py [options]

Listens on 127.0.0.1 (one thread per connection), speaks enough ESMTP
for an SMTP client, and misbehaves on request: it refuses, fails, stalls
or hangs up at a chosen step.  The port it listens on is printed on
stdout ("port N") and, with --port-file, written to a file (created
whole, by rename, once the relay listens).

Where to listen, what to record:
  --listen ADDR          address to listen on (default 127.0.0.1; IPv6
                         too)
  --port N               port (default 0: any free port)
  --port-file FILE       write the chosen port to FILE
  --hostname NAME        name in the greeting and EHLO (fakerelay.test)
  --log FILE             log every command received ("N C: line"), every
                         reply ("N S: line") and events ("N * event") of
                         connection N; AUTH secrets are not logged
  --spool DIR            record each accepted message as DIR/K.env
                         ("from ADDR", "param P", "rcpt ADDR" lines) and
                         DIR/K.eml (the data, dot-stuffing undone), K =
                         1, 2, ...; both are complete when they appear
                         and before the client gets the 250
  --data-progress        log "* got N" each time the relay waits for more
                         of a message: N bytes of it (dot-stuffing
                         undone) came so far, in complete lines

What the relay offers in its EHLO reply (nothing by default):
  --8bitmime  --smtputf8  --pipelining
  --size N               SIZE N; larger SIZE= or data gets 552
  --starttls CERT KEY    STARTTLS with this certificate and key (PEM)
  --require-tls          MAIL before STARTTLS gets 530
  --smtps CERT KEY       TLS from the start (no STARTTLS)
  --auth USER:PASS       AUTH PLAIN; other credentials get 535; MAIL
                         before AUTH gets 530

Misbehaviour.  STEP is one of greeting, ehlo, helo, starttls, auth,
mail, rcpt, data (the DATA command), body (the first bytes of the
message), dot (the end of the message), rset, quit:
  --refuse ADDR=CODE[:TEXT]  refuse RCPT TO:<ADDR> with CODE (repeatable)
  --fail STEP=CODE[:TEXT]    answer STEP with CODE instead (rcpt: every
                             recipient; dot: the message is not kept;
                             not body, which has no answer)
  --stall STEP           stop (neither read nor answer) at STEP, until
                         --release's file exists, or forever; logs
                         "* stall STEP" first (repeatable)
  --stall-rcpt ADDR      stall like --stall, but only at RCPT TO:<ADDR>,
                         so that other transactions go on (repeatable)
  --release FILE         the file that ends the stalls
  --close STEP           hang up at STEP without answering; logs
                         "* close STEP" (repeatable)
  --close-once STEP      like --close, but only on the first connection
                         that reaches STEP; later ones go on (repeatable)
  --close-after STEP     answer STEP, then stall like --stall (logs
                         "* stall after STEP") and hang up when released;
                         logs "* close after STEP" (not body; repeatable)
  --bye-after STEP       the same, but say 421 before hanging up, as a
                         server that gives up waiting

Connections that serve several messages (each counted once the relay
took it; the log has "* session end" when one of these ends it):
  --session-mails N      after N messages, answer the next MAIL with
                         421 and hang up
  --hangup-mails N       after N messages, hang up at the next MAIL
                         without answering
  --hangup-after N       hang up right after the reply that took the
                         Nth message

Other events in the log: "* tls" (handshake done), "* pipelined" (the
command before it came with more input behind it, before its reply:
fine with --pipelining, a client error without), "* eof" (the client closed; "*
eof in data" if it did so inside DATA: the message is dropped), "* data
N bytes" (a message received), "* auth ok" / "* auth failed",
"* injection" (plain text after STARTTLS, thrown away).
"""

import argparse
import base64
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

STEPS = ("greeting", "ehlo", "helo", "starttls", "auth", "mail", "rcpt",
         "data", "body", "dot", "rset", "quit")


class Closed(Exception):
    """The connection ends; eof: the client ended it."""

    def __init__(self, eof=False):
        super().__init__()
        self.eof = eof


def code_text(spec, what):
    """'550' or '550:text' -> (550, text)."""
    code, _, text = spec.partition(":")
    if not (code.isdigit() and len(code) == 3 and code[0] in "2345"):
        sys.exit("fakerelay: %s: bad reply code %r" % (what, code))
    code = int(code)
    if not text:
        text = "%d.0.0 fakerelay says no to %s" % (code // 100, what)
    return code, text


class Relay:
    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.conns = 0
        self.msgs = 0
        self.closed_once = set()        # --close-once steps done
        self.logf = open(opts.log, "a", encoding="utf-8",
                         errors="backslashreplace") if opts.log else None
        self.refuse = {}
        for spec in opts.refuse:
            addr, sep, rest = spec.partition("=")
            if not sep:
                sys.exit("fakerelay: --refuse ADDR=CODE[:TEXT]")
            self.refuse[addr.lower()] = code_text(rest, "RCPT " + addr)
        self.fail = {}
        for spec in opts.fail:
            step, sep, rest = spec.partition("=")
            if not sep or step not in STEPS or step == "body":
                sys.exit("fakerelay: --fail STEP=CODE[:TEXT], STEP one of "
                         + " ".join(s for s in STEPS if s != "body"))
            self.fail[step] = code_text(rest, step)
        for step in opts.stall + opts.close + opts.close_once:
            if step not in STEPS:
                sys.exit("fakerelay: unknown step %r" % step)
        for step in opts.close_after + opts.bye_after:
            if step not in STEPS or step == "body":
                sys.exit("fakerelay: --close-after, --bye-after: STEP "
                         "one of " + " ".join(s for s in STEPS
                                              if s != "body"))
        self.tls = None
        cert = opts.starttls or opts.smtps
        if cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert[0], cert[1])

    def log(self, n, text):
        if self.logf is None:
            return
        with self.lock:
            self.logf.write("%d %s\n" % (n, text))
            self.logf.flush()

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    def close_once(self, step):
        """True the first time only: --close-once STEP is due."""
        with self.lock:
            if step not in self.opts.close_once or \
                    step in self.closed_once:
                return False
            self.closed_once.add(step)
            return True

    def record(self, mail_from, params, rcpts, data):
        with self.lock:
            self.msgs += 1
            k = self.msgs
        if not self.opts.spool:
            return k
        env = ["from " + mail_from]
        env += ["param " + p for p in params]
        env += ["rcpt " + r for r in rcpts]
        for name, blob in (("%d.env" % k, ("\n".join(env) + "\n").encode()),
                           ("%d.eml" % k, data)):
            path = os.path.join(self.opts.spool, name)
            with open(path + ".tmp", "wb") as f:
                f.write(blob)
            os.rename(path + ".tmp", path)
        return k


class Session:
    def __init__(self, relay, sock):
        self.relay, self.opts, self.sock = relay, relay.opts, sock
        self.n = relay.next_conn()
        self.buf, self.pos = bytearray(), 0     # unread: buf[pos:]
        self.tls = False
        self.authed = False
        self.nmsgs = 0          # taken on this connection
        self.reset()

    def reset(self):
        self.mail_from = None
        self.params = []
        self.rcpts = []

    def log(self, text):
        self.relay.log(self.n, text)

    # -- the wire --

    def pending(self):
        return len(self.buf) > self.pos

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed(eof=True)
        self.buf += data

    def readline(self, limit=65536):
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                return line
            del self.buf[:self.pos]
            self.pos = 0
            if len(self.buf) > limit:
                self.log("* line too long")
                raise Closed()
            self.fill()

    def reply(self, code, *lines):
        lines = lines or ("",)
        out = []
        for i, text in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            out.append("%d%s%s" % (code, sep, text))
            self.log("S: " + out[-1])
        self.sock.sendall(("\r\n".join(out) + "\r\n").encode())

    def stall(self, name):
        self.log("* stall " + name)
        while not (self.opts.release and
                   os.path.exists(self.opts.release)):
            time.sleep(0.05)
        self.log("* released " + name)

    def session_end(self):
        self.log("* session end")
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Closed()

    def step(self, name):
        """Stall or close at this step if asked; then go on."""
        if name in self.opts.close or self.relay.close_once(name):
            self.log("* close " + name)
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise Closed()
        if name in self.opts.stall:
            self.stall(name)

    def after(self, name):
        """Once STEP is answered: hang up when released if asked."""
        bye = name in self.opts.bye_after
        if not bye and name not in self.opts.close_after:
            return
        self.stall("after " + name)
        if bye:
            self.reply(421, "4.4.2 fakerelay gives up after " + name)
        self.log("* close after " + name)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Closed()

    def answer(self, step, code, text):
        """The normal reply, unless --fail says otherwise.  Fails -> False."""
        self.step(step)
        if step in self.relay.fail:
            fcode, ftext = self.relay.fail[step]
            self.reply(fcode, ftext)
            self.after(step)
            return fcode // 100 == 2 or fcode // 100 == 3
        self.reply(code, text)
        self.after(step)
        return True

    # -- the dialogue --

    def run(self):
        try:
            if self.opts.smtps:
                self.starttls()
            self.answer("greeting", 220, self.opts.hostname +
                        " ESMTP fakerelay")
            while True:
                self.command(self.readline())
        except Closed as e:
            if e.eof:
                self.log("* eof")
        except (OSError, ssl.SSLError) as e:
            self.log("* error %s" % e)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def command(self, raw):
        line = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
        if not raw.endswith(b"\r\n"):
            self.log("* bare line end")
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        self.log("C: " + (verb + " PLAIN ***" if verb == "AUTH" else line))
        if self.pending():
            self.log("* pipelined")
        handler = getattr(self, "cmd_" + verb.lower(), None)
        if handler is None:
            self.reply(500, "5.5.2 unknown command")
        else:
            handler(arg)

    def cmd_ehlo(self, arg):
        self.reset()
        o = self.opts
        lines = [o.hostname + " hello " + arg]
        if o.pipelining:
            lines.append("PIPELINING")
        if o.size:
            lines.append("SIZE %d" % o.size)
        if o.eightbitmime:
            lines.append("8BITMIME")
        if o.smtputf8:
            lines.append("SMTPUTF8")
        if o.starttls and not self.tls:
            lines.append("STARTTLS")
        if o.auth:
            lines.append("AUTH PLAIN")
        lines.append("ENHANCEDSTATUSCODES")
        self.step("ehlo")
        if "ehlo" in self.relay.fail:
            self.reply(*self.relay.fail["ehlo"])
        else:
            self.reply(250, *lines)
        self.after("ehlo")

    def cmd_helo(self, arg):
        self.reset()
        self.answer("helo", 250, self.opts.hostname)

    def cmd_noop(self, arg):
        self.reply(250, "2.0.0 ok")

    def cmd_rset(self, arg):
        self.reset()
        self.answer("rset", 250, "2.0.0 reset")

    def cmd_quit(self, arg):
        self.answer("quit", 221, "2.0.0 bye")
        raise Closed()

    def starttls(self):
        self.sock = self.relay.tls.wrap_socket(self.sock, server_side=True)
        self.tls = True
        self.log("* tls")

    def cmd_starttls(self, arg):
        if not self.opts.starttls or self.tls:
            self.reply(502, "5.5.1 no STARTTLS here")
            return
        if not self.answer("starttls", 220, "2.0.0 go ahead"):
            return
        if self.pending():
            self.log("* injection")
        self.buf, self.pos = bytearray(), 0
        self.starttls()
        self.reset()
        self.authed = False

    def cmd_auth(self, arg):
        mech, _, ir = arg.partition(" ")
        if not self.opts.auth or mech.upper() != "PLAIN":
            self.reply(504, "5.5.4 mechanism not supported")
            return
        if self.authed:
            self.reply(503, "5.5.1 already authenticated")
            return
        if not ir:
            self.reply(334, "")
            ir = self.readline().strip().decode("ascii", "replace")
        try:
            authz, user, pw = base64.b64decode(ir, validate=True).split(
                b"\0")
        except ValueError:
            self.reply(501, "5.5.2 cannot decode")
            return
        want = self.opts.auth.encode()
        ok = (user + b":" + pw == want and authz in (b"", user))
        self.step("auth")
        if "auth" in self.relay.fail:
            self.reply(*self.relay.fail["auth"])
        elif ok:
            self.authed = True
            self.log("* auth ok")
            self.reply(235, "2.7.0 authenticated")
        else:
            self.log("* auth failed")
            self.reply(535, "5.7.8 authentication credentials invalid")
        self.after("auth")

    def cmd_mail(self, arg):
        o = self.opts
        if o.session_mails and self.nmsgs >= o.session_mails:
            self.reply(421, "4.7.0 too many messages in this session")
            self.session_end()
        if o.hangup_mails and self.nmsgs >= o.hangup_mails:
            self.session_end()
        if not arg.upper().startswith("FROM:<") or ">" not in arg:
            self.reply(501, "5.5.4 syntax: MAIL FROM:<address>")
            return
        if self.mail_from is not None:
            self.reply(503, "5.5.1 nested MAIL")
            return
        if o.require_tls and not self.tls:
            self.reply(530, "5.7.0 must issue a STARTTLS command first")
            return
        if o.auth and not self.authed:
            self.reply(530, "5.7.0 authentication required")
            return
        addr, _, rest = arg[6:].partition(">")
        params = rest.split()
        for p in params:
            key, _, val = p.upper().partition("=")
            if key == "SIZE" and o.size and val.isdigit():
                if int(val) > o.size:
                    self.reply(552, "5.3.4 message too big")
                    return
            elif key == "BODY" and val == "8BITMIME" and o.eightbitmime:
                pass
            elif key == "BODY" and val == "7BIT":
                pass
            elif key == "SMTPUTF8" and not val and o.smtputf8:
                pass
            else:
                self.reply(555, "5.5.4 unsupported parameter " + p)
                return
        if self.answer("mail", 250, "2.1.0 sender ok"):
            self.mail_from, self.params = addr, params

    def cmd_rcpt(self, arg):
        if self.mail_from is None:
            self.reply(503, "5.5.1 need MAIL first")
            return
        if not arg.upper().startswith("TO:<") or not arg.endswith(">"):
            self.reply(501, "5.5.4 syntax: RCPT TO:<address>")
            return
        addr = arg[4:-1]
        if addr.lower() in (a.lower() for a in self.opts.stall_rcpt):
            self.stall("rcpt " + addr)
        self.step("rcpt")
        if addr.lower() in self.relay.refuse:
            self.reply(*self.relay.refuse[addr.lower()])
        elif "rcpt" in self.relay.fail:
            self.reply(*self.relay.fail["rcpt"])
        else:
            self.rcpts.append(addr)
            self.reply(250, "2.1.5 recipient ok")
        self.after("rcpt")

    def cmd_data(self, arg):
        if self.mail_from is None or not self.rcpts:
            self.reply(503, "5.5.1 need MAIL and RCPT first")
            return
        if not self.answer("data", 354, "end data with <CR><LF>.<CR><LF>"):
            return
        data, first, got, said = [], True, 0, -1
        try:
            while True:
                if first and not self.pending():
                    self.fill()
                if first:
                    first = False
                    self.step("body")
                if self.opts.data_progress and got != said and \
                        self.buf.find(b"\n", self.pos) < 0:
                    self.log("* got %d" % got)
                    said = got
                line = self.readline(1 << 26)
                if line == b".\r\n":
                    break
                if line.startswith(b"."):
                    line = line[1:]
                data.append(line)
                got += len(line)
        except Closed:
            self.log("* eof in data")
            raise Closed()
        data = b"".join(data)
        self.log("* data %d bytes" % len(data))
        self.step("dot")
        if "dot" in self.relay.fail:
            self.reply(*self.relay.fail["dot"])
        elif self.opts.size and len(data) > self.opts.size:
            self.reply(552, "5.3.4 message too big")
        else:
            k = self.relay.record(self.mail_from, self.params, self.rcpts,
                                  data)
            self.reply(250, "2.0.0 ok: queued as %s" % k)
            self.nmsgs += 1
            if self.opts.hangup_after and \
                    self.nmsgs >= self.opts.hangup_after:
                self.session_end()
        self.after("dot")
        self.reset()


def main():
    ap = argparse.ArgumentParser(
        usage=argparse.SUPPRESS, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--hostname", default="fakerelay.test")
    ap.add_argument("--log")
    ap.add_argument("--spool")
    ap.add_argument("--data-progress", action="store_true")
    ap.add_argument("--8bitmime", dest="eightbitmime", action="store_true")
    ap.add_argument("--smtputf8", action="store_true")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth", metavar="USER:PASS")
    ap.add_argument("--refuse", action="append", default=[],
                    metavar="ADDR=CODE[:TEXT]")
    ap.add_argument("--fail", action="append", default=[],
                    metavar="STEP=CODE[:TEXT]")
    ap.add_argument("--stall", action="append", default=[], metavar="STEP")
    ap.add_argument("--stall-rcpt", action="append", default=[],
                    metavar="ADDR")
    ap.add_argument("--release", metavar="FILE")
    ap.add_argument("--close", action="append", default=[], metavar="STEP")
    ap.add_argument("--close-once", action="append", default=[],
                    metavar="STEP")
    ap.add_argument("--close-after", action="append", default=[],
                    metavar="STEP")
    ap.add_argument("--bye-after", action="append", default=[],
                    metavar="STEP")
    ap.add_argument("--session-mails", type=int, default=0, metavar="N")
    ap.add_argument("--hangup-mails", type=int, default=0, metavar="N")
    ap.add_argument("--hangup-after", type=int, default=0, metavar="N")
    opts = ap.parse_args()
    if opts.starttls and opts.smtps:
        sys.exit("fakerelay: --starttls or --smtps, not both")
    if opts.auth and ":" not in opts.auth:
        sys.exit("fakerelay: --auth USER:PASS")
    relay = Relay(opts)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            Session(relay, self.request).run()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        address_family = (socket.AF_INET6 if ":" in opts.listen
                          else socket.AF_INET)

    with Server((opts.listen, opts.port), Handler) as srv:
        port = srv.server_address[1]
        if opts.port_file:
            with open(opts.port_file + ".tmp", "w") as f:
                f.write("%d\n" % port)
            os.rename(opts.port_file + ".tmp", opts.port_file)
        print("port %d" % port, flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    main()
