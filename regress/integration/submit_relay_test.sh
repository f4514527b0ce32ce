#! /usr/bin/env atf-sh
#
# SUBMIT against a relay that misbehaves: fakerelay.py in place of the
# mail host's MTA, for the faults a real MTA cannot be made to show.

. "$(atf_get_srcdir)/fixture.sh"

FAKERELAY=$(atf_get_srcdir)/fakerelay.py

# relay_start OPTION...: fakerelay.py with OPTIONs, logging to relay.log
# and keeping messages in spool/; then the mail host with submitd
# pointed at it.  SUBMITD_EXTRA: more submitd.conf lines.
relay_start()
{
	mkdir -p spool
	python3 "$FAKERELAY" --port-file relay.port --log "$PWD/relay.log" \
	    --spool "$PWD/spool" --release "$PWD/release" "$@" \
	    >relay.out 2>&1 &
	echo $! >relay.pid
	_i=0
	while [ ! -s relay.port ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -s relay.port ] || { cat relay.out; atf_fail "fakerelay did not start"; }
	FX_SUBMITD_CONF="relay \"127.0.0.1\" port $(cat relay.port) tls no
timeout 30
$SUBMITD_EXTRA" fixture_start
}

# relay_log_wait ERE: wait until relay.log has a line that matches ERE
# (the relay logs a client's hang-up when it reads it); 1 if none comes.
relay_log_wait()
{
	_i=0
	while ! grep -Eq -- "$1" relay.log && [ $_i -lt 300 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	grep -Eq -- "$1" relay.log
}

relay_stop()
{
	[ -f relay.pid ] && kill "$(cat relay.pid)" 2>/dev/null
	fixture_stop
}

# client: a python snippet with sessions; session(user) logs in and has
# cmd(tag, text), send(bytes), line(), answer(tag), submit(tag, msg).
client()
{
	python3 - "$FX_IMAP_PORT" "$FX_IMAPS_PORT" <<-PY
	import os, re, socket, ssl, sys, time
	PORT, TLS_PORT = int(sys.argv[1]), int(sys.argv[2])
	class session:
	    def __init__(self, user="alice", pw="alice-secret", tls=False):
	        self.s = socket.create_connection(("127.0.0.1",
	            TLS_PORT if tls else PORT))
	        if tls:
	            ctx = ssl.create_default_context()
	            ctx.check_hostname = False
	            ctx.verify_mode = ssl.CERT_NONE
	            self.s = ctx.wrap_socket(self.s)
	        self.s.settimeout(60)
	        self.buf = b""
	        self.line()
	        self.cmd("a", "LOGIN %s %s" % (user, pw))
	    def line(self):
	        while b"\r\n" not in self.buf:
	            d = self.s.recv(65536)
	            if not d:
	                raise SystemExit("connection closed")
	            self.buf += d
	        l, self.buf = self.buf.split(b"\r\n", 1)
	        return l.decode("latin-1")
	    def answer(self, tag):
	        while True:
	            l = self.line()
	            print(l[:300], flush=True)
	            if l.startswith(tag + " "):
	                return l
	    def send(self, b):
	        self.s.sendall(b)
	    def cmd(self, tag, text):
	        self.send(("%s %s\r\n" % (tag, text)).encode())
	        return self.answer(tag)
	    def submit_start(self, tag, msg):
	        """None once the message is sent, or the answer instead
	        of the continuation."""
	        self.send(b"%s SUBMIT {%d}\r\n" % (tag.encode(), len(msg)))
	        l = self.line()
	        if not l.startswith("+"):
	            print(l, flush=True)
	            return l
	        self.send(msg + b"\r\n")
	        return None
	    def submit(self, tag, msg):
	        return self.submit_start(tag, msg) or self.answer(tag)
	def msg(to="bob@example.test", body=b"Hello.\r\n", extra=b"",
	    frm="alice@example.test"):
	    return (b"From: %s\r\nTo: %s\r\nSubject: t\r\n%s"
	        b"\r\n%s" % (frm.encode(), to.encode(), extra, body))
	def wait_for(path, what):
	    for i in range(600):
	        if os.path.exists(path) and what in open(path).read():
	            return
	        time.sleep(0.1)
	    raise SystemExit("never saw %r in %s" % (what, path))
	$(cat)
	PY
}

atf_test_case refusing cleanup
refusing_head()
{
	atf_set "descr" "a relay that refuses MAIL, a recipient or the" \
	    "message: NO with its reason, temporary or permanent, and the" \
	    "session goes on"
}
refusing_body()
{
	relay_start --pipelining --fail 'mail=550:5.7.1 No relaying for you'
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	c = session()
	c.submit("m", msg())
	c.cmd("n", "NOOP")
	EOF
	cat out
	grep -q '^m NO Permanent failure: .*550.*No relaying for you' out ||
	    atf_fail "MAIL refused: no permanent NO with the reason"
	grep -q '^m NO .*,$' out || atf_fail "not the draft's form"
	grep -q '^n OK' out || atf_fail "the session broke"
	grep -q 'C: DATA' relay.log && atf_fail "DATA after a refused MAIL"
	return 0
}
refusing_cleanup()
{
	relay_stop
}

atf_test_case rcpt_refused cleanup
rcpt_refused_head()
{
	atf_set "descr" "recipients refused among good ones: the draft's" \
	    "NO ,addr,addr form, RSET, no DATA, nobody receives it"
}
rcpt_refused_body()
{
	relay_start --pipelining --refuse 'bad@example.test=550:5.1.1 No such' \
	    --refuse 'later@example.test=451:4.3.0 Try later'
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	c = session()
	c.submit("p", msg("bob@example.test, bad@example.test"))
	c.submit("t", msg("later@example.test, bob@example.test"))
	c.submit("g", msg("bob@example.test"))
	EOF
	cat out
	grep -qx 'p NO ,bad@example.test' out || atf_fail "not NO ,addr"
	grep -q '^t NO Temporary failure.*,later@example.test$' out ||
	    atf_fail "a 451 is not told as temporary"
	grep -q '^g OK SUBMIT completed' out || atf_fail "good one failed"
	grep -q 'C: RSET' relay.log || atf_fail "no RSET after a refusal"
	[ "$(grep -c 'C: DATA' relay.log)" = 1 ] ||
	    atf_fail "DATA sent for a refused transaction"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not one message"
}
rcpt_refused_cleanup()
{
	relay_stop
}

atf_test_case relay_down cleanup
relay_down_head()
{
	atf_set "descr" "no relay at all, a relay that hangs up: NO" \
	    "[UNAVAILABLE] or a temporary NO, and the session goes on"
}
relay_down_body()
{
	relay_start --close rcpt
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	c = session()
	c.submit("h", msg())
	# now no relay at all
	os.kill(int(open("relay.pid").read()), 15)
	time.sleep(0.5)
	c.submit("d", msg())
	c.cmd("n", "NOOP")
	EOF
	cat out
	grep -Eq '^h NO (\[UNAVAILABLE\] )?Temporary failure: .*closed' out ||
	    atf_fail "a hang-up: no temporary NO"
	grep -q '^d NO \[UNAVAILABLE\] Temporary failure: cannot connect' out ||
	    atf_fail "relay down: no NO [UNAVAILABLE]"
	grep -q '^n OK' out || atf_fail "the session broke"
}
relay_down_cleanup()
{
	relay_stop
}

atf_test_case stalled cleanup
stalled_head()
{
	atf_set "descr" "while the relay stalls one submission, another" \
	    "session's NOOP and SUBMIT are answered (an ordering)"
}
stalled_body()
{
	relay_start --pipelining --stall-rcpt slow@example.test
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	a = session()
	b = session("bob", "bob-secret")
	assert a.submit_start("s", msg("slow@example.test")) is None
	wait_for("relay.log", "* stall rcpt slow@example.test")
	b.cmd("n", "NOOP")
	b.submit("q", msg("alice@example.test", frm="bob@example.test"))
	# only now is the stalled one let go
	open("release", "w").close()
	a.answer("s")
	EOF
	cat out
	# the order of the lines is the order of the events
	sed -n '/^n OK/,$p' out | grep -q '^q OK SUBMIT completed' ||
	    atf_fail "the second session waited for the stalled relay"
	sed -n '/^q OK/,$p' out | grep -q '^s OK SUBMIT completed' ||
	    atf_fail "the stalled submission did not complete after release"
}
stalled_cleanup()
{
	relay_stop
}

atf_test_case eightbit cleanup
eightbit_head()
{
	atf_set "descr" "an 8-bit body to a relay without 8BITMIME is sent" \
	    "as 7-bit and decodes to the original bytes"
}
eightbit_body()
{
	relay_start --pipelining
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	body = "Grüße, naïve café — ünïcödé.\r\n".encode() * 40
	body += bytes(range(128, 256)) + b"\r\n"
	open("body", "wb").write(body)
	c = session()
	c.submit("e", msg(body=body, extra=b"MIME-Version: 1.0\r\n"
	    b"Content-Type: text/plain; charset=utf-8\r\n"
	    b"Content-Transfer-Encoding: 8bit\r\n"))
	EOF
	cat out
	grep -q '^e OK SUBMIT completed' out || atf_fail "not sent"
	python3 - <<-'PY' || atf_fail "not 7-bit, or not the same bytes"
	import email, glob, sys
	raw = open(glob.glob("spool/*.eml")[0], "rb").read()
	if any(b > 127 for b in raw):
	    sys.exit("8-bit bytes reached a relay without 8BITMIME")
	m = email.message_from_bytes(raw)
	print(m["Content-Transfer-Encoding"])
	got = m.get_payload(decode=True)
	want = open("body", "rb").read()
	if got != want:
	    sys.exit("decoded body differs")
	PY
	grep -q 'BODY=8BITMIME' relay.log && atf_fail "BODY=8BITMIME sent"
	return 0
}
eightbit_cleanup()
{
	relay_stop
}

atf_test_case tls_auth cleanup
tls_auth_head()
{
	atf_set "descr" "STARTTLS and AUTH PLAIN to the relay, as" \
	    "submitd.conf says; the password is in no log"
}
tls_auth_body()
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=relay.test -keyout key.pem -out cert.pem \
	    >/dev/null 2>&1 || atf_fail "openssl"
	mkdir -p spool
	python3 "$FAKERELAY" --port-file relay.port --log "$PWD/relay.log" \
	    --spool "$PWD/spool" --starttls cert.pem key.pem --require-tls \
	    --auth imapx:pw-S3cret --pipelining >relay.out 2>&1 &
	echo $! >relay.pid
	_i=0
	while [ ! -s relay.port ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	FX_SUBMITD_CONF="relay \"127.0.0.1\" port $(cat relay.port) tls require noverify
relay auth \"imapx\" password \"pw-S3cret\"" fixture_start
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	c = session()
	c.submit("t", msg())
	EOF
	cat out
	grep -q '^t OK SUBMIT completed' out || atf_fail "not sent"
	grep -q '^[0-9]* \* tls' relay.log || atf_fail "no TLS"
	grep -q 'auth ok' relay.log || atf_fail "no AUTH"
	grep -rq 'pw-S3cret' relay.log "$FX_DIR"/*.log &&
	    atf_fail "the relay's password is in a log"
	return 0
}
tls_auth_cleanup()
{
	relay_stop
}

atf_test_case large_paths cleanup
large_paths_head()
{
	atf_set "descr" "a 3 MiB message from a plaintext client (spliced" \
	    "into a pipe to submitd) and one over TLS (sent as DATA through" \
	    "the channel's window) both reach the relay byte for byte"
}
large_paths_body()
{
	relay_start --pipelining --size 100000000
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	for tag, tls in (("p", False), ("t", True)):
	    body = b"".join(b"%s line %07d, .%s\r\n" % (tag.encode(), i,
	        b"x" * (i % 61)) for i in range(50000))
	    body += b".\r\n.. last\r\n"
	    open(tag + ".body", "wb").write(body)
	    c = session(tls=tls)
	    c.submit(tag, msg(body=body, extra=b"X-Path: %s\r\n" %
	        tag.encode()))
	    c.cmd(tag + "n", "NOOP")
	EOF
	cat out
	grep -q '^p OK SUBMIT completed' out || atf_fail "plaintext: not sent"
	grep -q '^t OK SUBMIT completed' out || atf_fail "TLS: not sent"
	grep -q '^pn OK' out && grep -q '^tn OK' out ||
	    atf_fail "a session broke"
	python3 - <<-'PY' || atf_fail "a body is not what was sent"
	import glob
	seen = set()
	for f in glob.glob("spool/*.eml"):
	    head, body = open(f, "rb").read().split(b"\r\n\r\n", 1)
	    tag = "p" if b"X-Path: p" in head else "t"
	    if body != open(tag + ".body", "rb").read():
	        raise SystemExit(tag + ": body differs")
	    seen.add(tag)
	if seen != {"p", "t"}:
	    raise SystemExit("kept: %r" % seen)
	PY
}
large_paths_cleanup()
{
	relay_stop
}

atf_test_case submitd_killed cleanup
submitd_killed_head()
{
	atf_set "descr" "kill -9 of submitd during DATA: the client gets NO," \
	    "the relay keeps nothing, submitd comes back"
}
submitd_killed_body()
{
	relay_start --pipelining --stall body
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	import subprocess
	parent = os.environ["FX_IMAPXD_PID"]
	def submitd():
	    return subprocess.run(["pgrep", "-P", parent, "-f", "submitd -f"],
	        capture_output=True, text=True).stdout.split()
	before = submitd()
	c = session()
	# more than the sockets hold: submitd is still in DATA when killed
	assert c.submit_start("k", msg(body=b"x" * 78 + b"\r\n") +
	    b"y" * 78 * 1024 * 100 + b"\r\n") is None
	wait_for("relay.log", "* stall body")
	for p in before:
	    os.kill(int(p), 9)
	c.answer("k")
	c.cmd("n", "NOOP")
	open("release", "w").close()
	wait_for("relay.log", "* eof in data")
	for i in range(100):
	    after = submitd()
	    if after and after != before:
	        break
	    time.sleep(0.2)
	print("submitd before", before, "after", after)
	for i in range(50):
	    if "OK" in c.submit("z%d" % i, msg()):
	        break
	    time.sleep(0.2)
	EOF
	cat out
	grep -q '^k NO \[UNAVAILABLE\]' out || atf_fail "no NO [UNAVAILABLE]"
	grep -q '^n OK' out || atf_fail "the session broke"
	grep -q '^z[0-9]* OK SUBMIT completed' out ||
	    atf_fail "SUBMIT did not come back"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] ||
	    atf_fail "the relay kept the interrupted message"
	grep -q "submitd 0 (pid [0-9]*) killed by signal 9" \
	    "$FX_DIR/imapxd.log" || atf_fail "the parent did not see it die"
}
submitd_killed_cleanup()
{
	relay_stop
}

atf_test_case limits cleanup
limits_head()
{
	atf_set "descr" "submitd.conf's limits on recipients and on" \
	    "submissions per user and minute"
}
limits_body()
{
	SUBMITD_EXTRA='limit recipients 2
limit rate 3' relay_start --pipelining
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	c = session()
	c.submit("r", msg("bob@example.test, load0001@example.test, "
	    "load0002@example.test"))
	for i in range(4):
	    c.submit("s%d" % i, msg())
	b = session("bob", "bob-secret")
	b.submit("b", msg("alice@example.test", frm="bob@example.test"))
	EOF
	cat out
	# the draft's form has no comma but the separators: ours became ';'
	grep -q '^r NO too many recipients (3; at most 2),$' out ||
	    atf_fail "three recipients went through a limit of two"
	# every attempt counts, the refused one too
	for i in 0 1; do
		grep -q "^s$i OK SUBMIT completed" out || atf_fail "s$i refused"
	done
	for i in 2 3; do
		grep -q "^s$i NO \[LIMIT\] " out ||
		    atf_fail "s$i: no NO [LIMIT] past the rate"
	done
	grep -q '^b OK SUBMIT completed' out ||
	    atf_fail "alice's rate held bob back"
	[ "$(ls spool/*.eml | wc -l)" = 3 ] || atf_fail "not three messages"
}
limits_cleanup()
{
	relay_stop
}

atf_test_case stream_8bit cleanup
stream_8bit_head()
{
	atf_set "descr" "a message relayed as it arrives turns out 8-bit" \
	    "inside DATA: that transaction is dropped before its end and" \
	    "the message sent whole with BODY=8BITMIME, kept once, intact"
}
stream_8bit_body()
{
	relay_start --8bitmime --pipelining
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	plain = b"".join(b"a 7-bit line of text, number %05d\r\n" % i
	    for i in range(2800))
	utf8 = b"".join("Grüße, naïve café — ünïcödé %05d\r\n".encode()
	    % i for i in range(2800))
	open("body", "wb").write(plain + utf8)
	m = msg(body=plain + utf8, extra=b"MIME-Version: 1.0\r\n"
	    b"Content-Type: text/plain; charset=utf-8\r\n"
	    b"Content-Transfer-Encoding: 8bit\r\n")
	c = session()
	c.send(b"e SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	# the 7-bit part: the relay gets it as it comes, inside DATA
	c.send(m[:-len(utf8)])
	wait_for("relay.log", "C: DATA")
	c.send(utf8 + b"\r\n")
	c.answer("e")
	EOF
	cat out
	grep -q '^e OK SUBMIT completed' out || atf_fail "not sent"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not kept once"
	grep -qx 'param BODY=8BITMIME' spool/1.env ||
	    atf_fail "the kept message went without BODY=8BITMIME"
	# the first MAIL knew no 8-bit byte yet; the second is the kept one
	grep 'C: MAIL' relay.log >mails
	[ "$(wc -l <mails)" = 2 ] || atf_fail "not two transactions"
	head -1 mails | grep -q 'BODY=8BITMIME' &&
	    atf_fail "the streamed MAIL declared what was not known yet"
	[ "$(grep -c '\* data ' relay.log)" = 1 ] ||
	    atf_fail "the relay took more than one message"
	python3 - <<-'PY' || atf_fail "the body is not what was sent"
	raw = open("spool/1.eml", "rb").read()
	if raw.split(b"\r\n\r\n", 1)[1] != open("body", "rb").read():
	    raise SystemExit("body differs")
	PY
	relay_log_wait '\* eof in data$' ||
	    atf_fail "the streamed transaction did not end inside DATA"
}
stream_8bit_cleanup()
{
	relay_stop
}

atf_test_case stream_lost cleanup
stream_lost_head()
{
	atf_set "descr" "the relay hangs up inside DATA while the message" \
	    "still arrives: it is sent whole on a new connection, kept once"
}
stream_lost_body()
{
	relay_start --close-once body --pipelining
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	body = b"".join(b"line %06d of a message the relay drops once\r\n" % i
	    for i in range(4400))
	open("body", "wb").write(body)
	m = msg(body=body)
	c = session()
	c.send(b"l SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	# the relay hangs up on the first bytes of the body, and only then
	# does the rest of the message come
	c.send(m[:len(m) // 4])
	wait_for("relay.log", "* close body")
	c.send(m[len(m) // 4:] + b"\r\n")
	c.answer("l")
	c.cmd("n", "NOOP")
	EOF
	cat out
	grep -q '^l OK SUBMIT completed' out || atf_fail "not sent"
	grep -q '^n OK' out || atf_fail "the session broke"
	grep -q '\* close body' relay.log || atf_fail "the relay never hung up"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not kept once"
	[ "$(grep -c 'C: MAIL' relay.log)" = 2 ] ||
	    atf_fail "not one more transaction after the hang-up"
	python3 - <<-'PY' || atf_fail "the body is not what was sent"
	raw = open("spool/1.eml", "rb").read()
	if raw.split(b"\r\n\r\n", 1)[1] != open("body", "rb").read():
	    raise SystemExit("body differs")
	PY
}
stream_lost_cleanup()
{
	relay_stop
}

atf_test_case stream_lost_waiting cleanup
stream_lost_waiting_head()
{
	atf_set "descr" "the relay hangs up inside DATA while submitd waits" \
	    "for more of the message: it is sent whole on a new connection"
}
stream_lost_waiting_body()
{
	relay_start --close-once body --pipelining
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	m = msg(body=b"the first line, all the relay gets\r\n"
	    b"the last line, after the relay hung up\r\n")
	c = session()
	c.send(b"w SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	# all but the last line: submitd sends it and waits for more; the
	# relay reads it, hangs up, and only then does the last line come
	c.send(m[:m.index(b"the last")])
	wait_for("relay.log", "* close body")
	c.send(m[m.index(b"the last"):] + b"\r\n")
	c.answer("w")
	EOF
	cat out
	grep -q '^w OK SUBMIT completed' out || atf_fail "not sent"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not kept once"
	grep -q 'the last line' spool/1.eml || atf_fail "not whole"
}
stream_lost_waiting_cleanup()
{
	relay_stop
}

atf_test_case stream_client_gone cleanup
stream_client_gone_head()
{
	atf_set "descr" "the client hangs up in the middle of its literal" \
	    "while the relay already reads the message: the relay drops it," \
	    "nobody gets it, and the next SUBMIT goes through"
}
stream_client_gone_body()
{
	relay_start --data-progress
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	body = b"".join(b"line %06d of a message its sender gives up on\r\n" % i
	    for i in range(4400))
	m = msg(body=body)
	c = session()
	c.send(b"g SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	c.send(m[:len(m) // 2])
	# the relay has part of the body inside DATA: then the client goes
	wait_for("relay.log", "* got ")
	c.s.close()
	wait_for("relay.log", "* eof in data")
	d = session()
	d.submit("h", msg(body=b"the one that is sent\r\n"))
	EOF
	cat out
	grep -q '^h OK SUBMIT completed' out || atf_fail "the next was not sent"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not exactly one kept"
	grep -q 'the one that is sent' spool/*.eml ||
	    atf_fail "the kept one is not the second"
	if grep -q 'gives up on' spool/*.eml; then
		atf_fail "the abandoned message was delivered"
	fi
}
stream_client_gone_cleanup()
{
	relay_stop
}

atf_test_case stream_refused cleanup
stream_refused_head()
{
	atf_set "descr" "a recipient refused while the message still" \
	    "arrives: the draft's NO ,addr once the literal is read, no" \
	    "DATA, nothing kept, and the session goes on"
}
stream_refused_body()
{
	relay_start --pipelining --refuse 'bad@example.test=550:5.1.1 No such'
	client >out <<-'EOF' || { cat out; atf_fail "client failed"; }
	import select
	body = b"".join(b"line %06d of a message that nobody gets\r\n" % i
	    for i in range(12000))
	m = msg("bob@example.test, bad@example.test", body=body)
	c = session()
	c.send(b"r SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	first = len(m) // 10
	c.send(m[:first])
	wait_for("relay.log", "C: RSET")
	# refused, and the literal goes on: no answer in the middle of it
	if c.buf or select.select([c.s], [], [], 1)[0]:
	    raise SystemExit("an answer before the end of the literal")
	for i in range(first, len(m), 65536):
	    c.send(m[i:i + 65536])
	c.send(b"\r\n")
	print("first after the literal:", c.line(), flush=True)
	c.cmd("n", "NOOP")
	EOF
	cat out
	grep -qx 'first after the literal: r NO ,bad@example.test' out ||
	    atf_fail "not the draft's NO ,addr right after the literal"
	grep -q '^n OK' out || atf_fail "the session broke"
	[ "$(grep -c 'C: MAIL' relay.log)" = 1 ] ||
	    atf_fail "the refused message was tried again"
	grep -q 'C: DATA' relay.log && atf_fail "DATA after a refusal"
	ls spool/*.eml >/dev/null 2>&1 && atf_fail "the relay kept a message"
	return 0
}
stream_refused_cleanup()
{
	relay_stop
}

# stream_utf8_msg TAG: the client sends a message with a UTF-8 Subject,
# once the relay has its MAIL (sent when the literal was announced).
stream_utf8_msg()
{
	client >out <<-EOF || { cat out; atf_fail "client failed"; }
	m = (b"From: alice@example.test\r\nTo: bob@example.test\r\n"
	    b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n\r\nHello.\r\n")
	c = session()
	c.send(b"$1 SUBMIT {%d}\r\n" % len(m))
	assert c.line().startswith("+")
	wait_for("relay.log", "C: MAIL")
	c.send(m + b"\r\n")
	c.answer("$1")
	c.cmd("n", "NOOP")
	EOF
	cat out
	grep -q '^n OK' out || atf_fail "the session broke"
	# the MAIL of the literal's announcement knew nothing of the header
	grep 'C: MAIL' relay.log | head -1 | grep -q SMTPUTF8 &&
	    atf_fail "the streamed MAIL declared what was not known yet"
	relay_log_wait '^1 \* eof$' ||
	    atf_fail "the streamed transaction was not dropped"
}

atf_test_case stream_utf8 cleanup
stream_utf8_head()
{
	atf_set "descr" "MAIL goes when the literal is announced; an 8-bit" \
	    "header then needs SMTPUTF8: that transaction is dropped and" \
	    "the message sent whole with SMTPUTF8, kept once"
}
stream_utf8_body()
{
	relay_start --8bitmime --smtputf8 --pipelining
	stream_utf8_msg u
	grep -q '^u OK SUBMIT completed' out || atf_fail "not sent"
	[ "$(ls spool/*.eml | wc -l)" = 1 ] || atf_fail "not kept once"
	grep -qx 'param SMTPUTF8' spool/1.env ||
	    atf_fail "the kept message went without SMTPUTF8"
	grep -q 'C: MAIL .*SMTPUTF8' relay.log || atf_fail "no SMTPUTF8"
	printf 'Subject: Gr\303\274\303\237e aus K\303\266ln\r\n' >want
	grep -qF -f want spool/1.eml || atf_fail "the Subject changed"
}
stream_utf8_cleanup()
{
	relay_stop
}

atf_test_case stream_utf8_refused cleanup
stream_utf8_refused_head()
{
	atf_set "descr" "an 8-bit header for a relay without SMTPUTF8: NO" \
	    "with the reason, nothing kept, the streamed MAIL dropped"
}
stream_utf8_refused_body()
{
	relay_start --8bitmime --pipelining
	stream_utf8_msg v
	grep -q '^v NO .*(no SMTPUTF8),$' out ||
	    atf_fail "no NO telling that the relay lacks SMTPUTF8"
	ls spool/*.eml >/dev/null 2>&1 && atf_fail "the relay kept a message"
	[ "$(grep -c 'C: MAIL' relay.log)" = 1 ] ||
	    atf_fail "MAIL again for a message the relay cannot take"
	grep -q 'C: RCPT' relay.log && atf_fail "RCPT for a dropped stream"
	return 0
}
stream_utf8_refused_cleanup()
{
	relay_stop
}

atf_init_test_cases()
{
	atf_add_test_case limits
	atf_add_test_case refusing
	atf_add_test_case rcpt_refused
	atf_add_test_case relay_down
	atf_add_test_case stalled
	atf_add_test_case eightbit
	atf_add_test_case tls_auth
	atf_add_test_case large_paths
	atf_add_test_case submitd_killed
	atf_add_test_case stream_8bit
	atf_add_test_case stream_lost
	atf_add_test_case stream_lost_waiting
	atf_add_test_case stream_client_gone
	atf_add_test_case stream_refused
	atf_add_test_case stream_utf8
	atf_add_test_case stream_utf8_refused
}
