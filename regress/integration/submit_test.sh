#! /usr/bin/env atf-sh
#
# SUBMIT end to end: a client through imapxd and submitd to the mail
# host's OpenSMTPD, which delivers to Dovecot over LMTP (doc/submit.md).

. "$(atf_get_srcdir)/fixture.sh"

# submit USER PASS: run a python snippet logged in as USER; it gets
# cmd(tag, text), submit(tag, message, form="{%d}") and raw access.
submit()
{
	python3 - "$FX_IMAP_PORT" "$1" "$2" <<-PY
	import os, re, socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.settimeout(60)
	buf = b""
	def line():
	    global buf
	    while b"\r\n" not in buf:
	        d = s.recv(65536)
	        if not d:
	            raise SystemExit("connection closed")
	        buf += d
	    l, buf = buf.split(b"\r\n", 1)
	    return l.decode("latin-1")
	def answer(tag):
	    out = []
	    while True:
	        l = line()
	        out.append(l)
	        if l.startswith(tag + " "):
	            print("\n".join(o[:2000] for o in out), flush=True)
	            return out
	def cmd(tag, text):
	    s.sendall(("%s %s\r\n" % (tag, text)).encode())
	    return answer(tag)
	def submit(tag, msg, form="{%d}"):
	    if isinstance(msg, str):
	        msg = msg.encode()
	    lit = form % len(msg)
	    s.sendall(("%s SUBMIT %s\r\n" % (tag, lit)).encode())
	    if "+" not in lit:
	        l = line()
	        if not l.startswith("+"):
	            print(l, flush=True)
	            return [l]
	    s.sendall(msg + b"\r\n")
	    return answer(tag)
	line()
	cmd("a", "LOGIN %s %s" % (sys.argv[2], sys.argv[3]))
	$(cat)
	PY
}

# message FROM TO [HEADER...]: a small message on stdout.
message()
{
	_from=$1 _to=$2
	shift 2
	printf 'From: %s\r\nTo: %s\r\nSubject: test\r\n' "$_from" "$_to"
	for _h in "$@"; do
		printf '%s\r\n' "$_h"
	done
	printf '\r\nHello from SUBMIT.\r\n'
}

# fetch USER PASS MAILBOX: every message of MAILBOX on stdout, raw.
fetch()
{
	python3 - "$FX_DOVECOT_PORT" "$1" "$2" "$3" <<-'PY'
	import imaplib, sys
	m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
	m.login(sys.argv[2], sys.argv[3])
	m.select(sys.argv[4], readonly=True)
	typ, data = m.search(None, "ALL")
	for n in data[0].split():
	    typ, d = m.fetch(n, "(BODY.PEEK[])")
	    sys.stdout.write("=== message %s\n" % n.decode())
	    sys.stdout.write(d[0][1].decode("latin-1"))
	m.logout()
	PY
}

atf_test_case alice_to_bob cleanup
alice_to_bob_head()
{
	atf_set "descr" "alice submits to bob: OK; Message-ID and Date added," \
	    "Bcc gone, every recipient served"
}
alice_to_bob_body()
{
	fixture_start
	message alice@example.test bob@example.test \
	    'Bcc: load0001@example.test' >msg
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	cmd("c", "CAPABILITY")
	submit("s", open("msg", "rb").read())
	cmd("n", "NOOP")
	EOF
	cat out
	grep -q '^\* CAPABILITY .*CAN-SUBMIT' out || atf_fail "no CAN-SUBMIT"
	grep -qx 's OK SUBMIT completed' out || atf_fail "not the draft's OK"
	grep -q '^n OK' out || atf_fail "the session broke"
	fx_wait_messages bob bob-secret 1 || atf_fail "bob got nothing"
	fx_wait_messages load0001 load-secret 1 || atf_fail "Bcc got nothing"
	fetch bob bob-secret INBOX >bob.txt
	cat bob.txt
	grep -qi '^Message-ID: <.*@mail.example.test>' bob.txt ||
	    atf_fail "no Message-ID added"
	grep -qi '^Date: ' bob.txt || atf_fail "no Date added"
	grep -qi '^Bcc:' bob.txt && atf_fail "Bcc reached a recipient"
	grep -q 'Hello from SUBMIT' bob.txt || atf_fail "body lost"
	fetch load0001 load-secret INBOX | grep -qi '^Bcc:' &&
	    atf_fail "Bcc reached the Bcc recipient"
	grep -q 'alice@example.test: sent' "$FX_DIR/imapxd.log" ||
	    atf_fail "submitd did not log the submission"
}
alice_to_bob_cleanup()
{
	fixture_stop
}

atf_test_case sent_copy cleanup
sent_copy_head()
{
	atf_set "descr" "with sent \"Sent\", the message as relayed lands in" \
	    "the user's Sent mailbox too"
}
sent_copy_body()
{
	FX_SUBMITD_CONF='sent "Sent"' fixture_start
	message alice@example.test bob@example.test >msg
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	submit("s", open("msg", "rb").read())
	EOF
	cat out
	grep -q '^s OK SUBMIT completed' out || atf_fail "SUBMIT failed"
	fx_wait_messages bob bob-secret 1 || atf_fail "bob got nothing"
	fx_wait_messages alice alice-secret 1 Sent || atf_fail "no Sent copy"
	fetch alice alice-secret Sent >sent.txt
	fetch bob bob-secret INBOX >bob.txt
	id=$(grep -i '^Message-ID:' bob.txt)
	grep -qF "$id" sent.txt || atf_fail "the Sent copy is another message"
}
sent_copy_cleanup()
{
	fixture_stop
}

atf_test_case dot_lines cleanup
dot_lines_head()
{
	atf_set "descr" "lines that begin with a dot, a lone dot among them," \
	    "reach bob as they were sent, in a small and a large message," \
	    "and so does the Sent copy"
}
dot_lines_body()
{
	FX_SUBMITD_CONF='sent "Sent"' fixture_start
	python3 - <<-'PY'
	import random
	random.seed(4)
	lines = [".", "..", ".x", "text .", "...", "", "plain line"]
	for name, n in (("small", 12), ("large", 30000)):
	    body = "\r\n".join(random.choice(lines) for _ in range(n))
	    with open(name + ".body", "wb") as f:
	        f.write((".first\r\n" + body + "\r\n.\r\n").encode())
	PY
	for m in small large; do
		message alice@example.test bob@example.test "X-Case: $m" |
		    sed '$d' >"$m.msg"
		cat "$m.body" >>"$m.msg"
	done
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	submit("s1", open("small.msg", "rb").read())
	submit("s2", open("large.msg", "rb").read())
	EOF
	grep -q '^s1 OK SUBMIT completed' out || atf_fail "small: $(cat out)"
	grep -q '^s2 OK SUBMIT completed' out || atf_fail "large: $(cat out)"
	fx_wait_messages bob bob-secret 2 || atf_fail "bob got nothing"
	fx_wait_messages alice alice-secret 2 Sent || atf_fail "no Sent copy"
	python3 - "$FX_DOVECOT_PORT" <<-'PY' || atf_fail "a body changed"
	import imaplib, sys
	want = {m: open(m + ".body", "rb").read() for m in ("small", "large")}
	bad = 0
	for user, pw, box in (("bob", "bob-secret", "INBOX"),
	                      ("alice", "alice-secret", "Sent")):
	    c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
	    c.login(user, pw)
	    c.select(box, readonly=True)
	    for n in c.search(None, "ALL")[1][0].split():
	        raw = c.fetch(n, "(BODY.PEEK[])")[1][0][1]
	        head, body = raw.split(b"\r\n\r\n", 1)
	        case = "small" if b"X-Case: small" in head else "large"
	        ok = body == want[case]
	        print(user, box, case, len(body), len(want[case]),
	              "same" if ok else "DIFFERENT")
	        bad += not ok
	    c.logout()
	sys.exit(bad)
	PY
}
dot_lines_cleanup()
{
	fixture_stop
}

atf_test_case refused cleanup
refused_head()
{
	atf_set "descr" "From someone else, an unknown recipient, no" \
	    "recipient, not a message: NO, nobody receives anything"
}
refused_body()
{
	fixture_start
	message bob@example.test bob@example.test >forged
	message alice@example.test \
	    'bob@example.test, nosuch@example.test' >unknown
	printf 'From: alice@example.test\r\nSubject: x\r\n\r\nx\r\n' >norcpt
	printf 'this is not a message\r\n' >junk
	message alice@example.test bob@example.test 'X-Marker: yes' >marker
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	submit("f", open("forged", "rb").read())
	submit("u", open("unknown", "rb").read())
	submit("r", open("norcpt", "rb").read())
	submit("j", open("junk", "rb").read())
	submit("e", b"")
	cmd("b", "SUBMIT hello")
	submit("m", open("marker", "rb").read())
	EOF
	cat out
	grep -q '^f NO .*not yours' out || atf_fail "a forged From went through"
	grep -qx 'u NO ,nosuch@example.test' out ||
	    atf_fail "not the draft's NO ,addr form"
	grep -q '^r NO .*recipients' out || atf_fail "no recipient: not NO"
	grep -q '^j NO ' out || atf_fail "junk: not NO"
	grep -q '^e BAD ' out || atf_fail "empty literal: not BAD"
	grep -q '^b BAD ' out || atf_fail "no literal: not BAD"
	grep -q '^m OK SUBMIT completed' out || atf_fail "the session broke"
	# The marker arrives; nothing refused before it ever does.
	fx_wait_messages bob bob-secret 1 || atf_fail "no marker"
	sleep 1
	fetch bob bob-secret INBOX >bob.txt
	[ "$(grep -c '^=== message' bob.txt)" = 1 ] ||
	    { cat bob.txt; atf_fail "a refused message was delivered"; }
	grep -q 'X-Marker: yes' bob.txt || atf_fail "not the marker"
}
refused_cleanup()
{
	fixture_stop
}

atf_test_case before_login cleanup
before_login_head()
{
	atf_set "descr" "SUBMIT before login is refused and sends nothing"
}
before_login_body()
{
	fixture_start
	imapc --starttls 127.0.0.1 "$FX_IMAP_PORT" >out 2>&1 <<-EOF ||
	> s SUBMIT {5}
	< ^s (BAD|NO)
	> n NOOP
	< ^n OK
	EOF
	    { cat out; atf_fail "SUBMIT before login not refused"; }
}
before_login_cleanup()
{
	fixture_stop
}

atf_test_case size_limit cleanup
size_limit_head()
{
	atf_set "descr" "a 25 MiB message is delivered; one byte over the" \
	    "limit is refused before the literal is sent"
}
size_limit_body()
{
	fixture_start
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	limit = 25 * 1024 * 1024
	head = b"From: alice@example.test\r\nTo: bob@example.test\r\n" \
	    b"Subject: big\r\n\r\n"
	row = b"x" * 78 + b"\r\n"
	body = row * ((limit - len(head)) // len(row))
	msg = head + body
	msg += b"y" * (limit - len(msg) - 2) + b"\r\n"
	assert len(msg) == limit
	# one byte over: NO [TOOBIG] instead of the continuation
	s.sendall(b"o SUBMIT {%d}\r\n" % (limit + 1))
	print(line())
	cmd("n", "NOOP")
	submit("b", msg)
	EOF
	grep -q '^o NO \[TOOBIG\]' out || atf_fail "over the limit: no TOOBIG"
	grep -q '^n OK' out || atf_fail "the session broke"
	grep -q '^b OK SUBMIT completed' out || atf_fail "25 MiB not sent"
	fx_wait_messages bob bob-secret 1 || atf_fail "bob got nothing"
}
size_limit_cleanup()
{
	fixture_stop
}

atf_test_case forward_part cleanup
forward_part_head()
{
	atf_set "descr" "SUBMIT CATENATE forwards a part of alice's messages" \
	    "to bob without the client downloading it: from the selected" \
	    "mailbox (UID FETCH) and from another one (URLAUTH)"
}
forward_part_body()
{
	fixture_start
	submit alice alice-secret >out <<-'EOF' || atf_fail "client failed"
	import base64
	blob = os.urandom(3000)
	open("blob", "wb").write(blob)
	orig = (b"From: carol@example.test\r\nTo: alice@example.test\r\n"
	    b"Subject: report\r\nMIME-Version: 1.0\r\n"
	    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    b"--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
	    b"--b1\r\nContent-Type: application/octet-stream; name=r.bin\r\n"
	    b"Content-Transfer-Encoding: base64\r\n\r\n" +
	    base64.encodebytes(blob).replace(b"\n", b"\r\n") +
	    b"--b1--\r\n")
	cmd("c", "CREATE Archive")
	uidv = {}
	for box in ("INBOX", "Archive"):
	    s.sendall(b"p APPEND %s {%d}\r\n" % (box.encode(), len(orig)))
	    assert line().startswith("+")
	    s.sendall(orig + b"\r\n")
	    answer("p")
	    st = cmd("v", "STATUS %s (UIDVALIDITY)" % box)
	    uidv[box] = re.search(r"UIDVALIDITY (\d+)", st[0]).group(1)
	cmd("sel", "SELECT INBOX")
	def catenate(tag, box):
	    head = (b"From: alice@example.test\r\nTo: bob@example.test\r\n"
	        b"Subject: fwd %s\r\nMIME-Version: 1.0\r\n"
	        b"Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n"
	        b"--f\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n"
	        b"--f\r\n" % box.encode())
	    tail = b"\r\n--f--\r\n"
	    url = ("/%s;UIDVALIDITY=%s/;UID=1/;SECTION=2" %
	        (box, uidv[box])).encode()
	    s.sendall(b"%s SUBMIT CATENATE (TEXT {%d}\r\n" %
	        (tag.encode(), len(head)))
	    assert line().startswith("+")
	    s.sendall(head + b' URL "%s.MIME" URL "%s" TEXT {%d}\r\n' %
	        (url, url, len(tail)))
	    l = line()
	    if not l.startswith("+"):
	        print(l)
	        return
	    s.sendall(tail + b")\r\n")
	    answer(tag)
	catenate("f1", "INBOX")
	catenate("f2", "Archive")
	# a URL that resolves to nothing
	s.sendall(b'f3 SUBMIT CATENATE (URL "/INBOX;UIDVALIDITY=%s/;UID=99")'
	    b"\r\n" % uidv["INBOX"].encode())
	answer("f3")
	cmd("n", "NOOP")
	cmd("fl", "FETCH 1 (FLAGS)")
	EOF
	cat out
	grep -q '^f1 OK SUBMIT completed' out || atf_fail "selected: not sent"
	grep -q '^f2 OK SUBMIT completed' out || atf_fail "URLAUTH: not sent"
	grep -q '^f3 NO \[BADURL' out || atf_fail "a bad URL: no BADURL"
	grep -q '^n OK' out || atf_fail "the session broke"
	fx_wait_messages bob bob-secret 2 || atf_fail "bob did not get both"
	python3 - "$FX_DOVECOT_PORT" <<-'PY' || atf_fail "the part changed"
	import email, imaplib, sys
	blob = open("blob", "rb").read()
	m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
	m.login("bob", "bob-secret")
	m.select("INBOX", readonly=True)
	for n in (b"1", b"2"):
	    typ, d = m.fetch(n, "(BODY.PEEK[])")
	    msg = email.message_from_bytes(d[0][1])
	    parts = [p for p in msg.walk()
	        if p.get_content_type() == "application/octet-stream"]
	    if len(parts) != 1 or parts[0].get_payload(decode=True) != blob:
	        print(d[0][1].decode("latin-1"))
	        sys.exit(1)
	PY
	# the client's state is its own: INBOX stays selected and the
	# fetches marked nothing seen
	grep -q '^\* 1 FETCH (FLAGS (' out || atf_fail "INBOX not selected"
	grep -q '^\* 1 FETCH (FLAGS (.*Seen' out &&
	    atf_fail "the forwarded message was marked seen"
	return 0
}
forward_part_cleanup()
{
	fixture_stop
}

atf_test_case sandbox cleanup
sandbox_head()
{
	atf_set "descr" "submitd runs as _submitd, chrooted to its spool," \
	    "under a seccomp filter, without capabilities"
}
sandbox_body()
{
	fixture_start
	pid=$(pgrep -P "$FX_IMAPXD_PID" -f 'submitd -f') ||
	    atf_fail "no submitd child of imapxd"
	grep -E '^(Uid|Gid|NoNewPrivs|Seccomp|CapEff):' "/proc/$pid/status"
	uid=$(id -u _submitd)
	grep -q "^Uid:[[:space:]]*$uid[[:space:]]*$uid[[:space:]]*$uid" \
	    "/proc/$pid/status" || atf_fail "not running as _submitd"
	grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status" ||
	    atf_fail "no seccomp filter"
	grep -q '^CapEff:[[:space:]]*0*$' "/proc/$pid/status" ||
	    atf_fail "capabilities left"
	[ "$(readlink "/proc/$pid/root")" = "$FX_DIR/submitd" ] ||
	    atf_fail "root is $(readlink "/proc/$pid/root"), not the spool"
	[ "$(stat -c '%U %a' "$FX_DIR/submitd")" = "_submitd 700" ] ||
	    atf_fail "the spool is not _submitd's alone"
}
sandbox_cleanup()
{
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case sandbox
	atf_add_test_case alice_to_bob
	atf_add_test_case sent_copy
	atf_add_test_case dot_lines
	atf_add_test_case refused
	atf_add_test_case before_login
	atf_add_test_case size_limit
	atf_add_test_case forward_part
}
