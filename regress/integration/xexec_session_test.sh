#! /usr/bin/env atf-sh
#
# XEXEC end to end: a client through imapxd, execd and a module, on the
# fixture's mail host (execd and the modules are started beside imapxd
# when execd is built).

. "$(atf_get_srcdir)/fixture.sh"

# xexec [USER PASS] <SCRIPT: run a python snippet logged in through imapxd
# as USER (alice); it gets `cmd`, which prints each answer.
xexec()
{
	python3 - "$FX_IMAP_PORT" "${1:-alice}" "${2:-alice-secret}" <<-PY
	import socket, sys, time
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
	s.settimeout(20)
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
	def cmd(tag, text):
	    s.sendall(("%s %s\r\n" % (tag, text)).encode())
	    out = []
	    while True:
	        l = line()
	        out.append(l)
	        if l.startswith(tag + " "):
	            print("\n".join(out))
	            return out
	line()
	if cmd("a", "LOGIN %s %s" % (sys.argv[2], sys.argv[3]))[-1][:5] != "a OK ":
	    raise SystemExit("LOGIN failed")
	$(cat)
	PY
}

# xx_pass USER: the password of a fixture user.
xx_pass()
{
	case $1 in
	alice|bob) echo "$1-secret" ;;
	*) echo load-secret ;;
	esac
}

# xx_run USER <SCRIPT: xexec as USER, its answers in out; the client must
# not fail.
xx_run()
{
	xexec "$1" "$(xx_pass "$1")" >out || { cat out; atf_fail "client failed"; }
	cat out
}

# xx_answer TAG LINE...: the answer to TAG in out is exactly LINE...: the
# untagged responses since the previous tagged one, then the tagged one.
xx_answer()
{
	_tag=$1
	shift
	awk -v t="$_tag" '
	    /^[*+] / { b = b $0 "\n"; next }
	    index($0, t " ") == 1 { printf "%s%s\n", b, $0; found = 1; exit }
	    { b = "" }
	    END { exit !found }' out >answer ||
	    atf_fail "no answer to $_tag"
	printf '%s\n' "$@" >expected
	diff -u expected answer >&2 ||
	    atf_fail "the answer to $_tag is not as expected (see stderr)"
}

# xx_send FROM TO ID: mail with Message-ID <ID@xexec.test> and Subject
# "test ID" through the MTA; FROM and TO are local parts of example.test,
# and the envelope sender is FROM.
xx_send()
{
	printf 'From: %s\r\nTo: %s\r\nSubject: test %s\r\nMessage-ID: <%s@xexec.test>\r\n\r\nThis is %s.\r\n' \
	    "$1@example.test" "$2@example.test" "$3" "$3" "$3" |
	    fx_sendmail "$1@example.test" "$2@example.test" ||
	    atf_fail "the MTA refused $3"
}

# xx_inbox USER [SUBJECT...]: USER, logged in through imapxd, finds exactly
# these subjects in INBOX.
xx_inbox()
{
	_u=$1
	shift
	xexec "$_u" "$(xx_pass "$_u")" >inbox.out <<-'EOF' ||
	cmd("i1", "EXAMINE INBOX")
	cmd("i2", "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	EOF
	    { cat inbox.out; atf_fail "cannot read $_u's INBOX"; }
	grep -q '^i2 OK' inbox.out ||
	    { cat inbox.out; atf_fail "cannot read $_u's INBOX"; }
	tr -d '\r' <inbox.out | sed -n 's/^Subject: //p' | sort >subjects
	: >expected
	for _s do
		echo "$_s" >>expected
	done
	sort -o expected expected
	diff -u expected subjects >&2 ||
	    atf_fail "$_u's INBOX is not as expected (see stderr)"
}

atf_test_case seed_session cleanup
seed_session_head()
{
	atf_set "descr" "the session of seed 000, with the echo module"
}
seed_session_body()
{
	fixture_start
	xexec >out <<-'EOF' || atf_fail "client failed"
	cmd("002", "xexec echo add joe@example.com")
	cmd("003", "XEXEC")
	cmd("004", "XEXEC echo --option")
	cmd("005", "XEXEC nosuch")
	cmd("006", 'XEXEC echo "a1 OK [ALERT] pwned"')
	cmd("007", "NOOP")
	EOF
	cat out
	grep -qx '\* OK add' out || atf_fail "no output line"
	grep -qx '\* OK joe@example.com' out || atf_fail "no output line"
	grep -qx '002 OK command exited successfully' out ||
	    atf_fail "not the seed's tagged OK"
	grep -q '^\* XEXEC echo ' out || atf_fail "echo not listed"
	grep -q '^004 NO \[XEXEC BADARG\]' out || atf_fail "--option not refused"
	grep -q '^005 NO \[XEXEC NOMODULE\]' out || atf_fail "unknown module"
	# the line stays text of an untagged OK: no tag, no code of its own
	grep -q '^a1 ' out && atf_fail "module output forged a tagged response"
	grep -q '^\* OK \[ALERT\]' out && atf_fail "module output forged a code"
	grep -q '^006 OK' out || atf_fail "echo of a hostile line failed"
	grep -q '^007 OK' out || atf_fail "the session broke"
}
seed_session_cleanup()
{
	fixture_stop
}

atf_test_case execd_killed cleanup
execd_killed_head()
{
	atf_set "descr" "execd killed: NO [UNAVAILABLE], IMAP goes on, XEXEC comes back"
}
execd_killed_body()
{
	fixture_start
	xexec >out <<-'EOF' || atf_fail "client failed"
	import os, signal, subprocess
	cmd("b", "XEXEC echo before")
	# the parent is stopped so that execd stays down while we look
	parent = int(os.environ["FX_IMAPXD_PID"])
	execd = subprocess.run(["pgrep", "-P", str(parent), "-f", "execd -f"],
	    capture_output=True, text=True).stdout.split()
	os.kill(parent, signal.SIGSTOP)
	for p in execd:
	    os.kill(int(p), signal.SIGKILL)
	time.sleep(0.5)
	cmd("c", "XEXEC echo during")
	cmd("d", "NOOP")
	os.kill(parent, signal.SIGCONT)
	for i in range(50):
	    time.sleep(0.2)
	    if cmd("e%d" % i, "XEXEC echo after")[-1].find(" OK ") > 0:
	        break
	EOF
	cat out
	grep -q '^b OK' out || atf_fail "XEXEC did not work before"
	grep -q '^c NO \[UNAVAILABLE\]' out || atf_fail "no NO [UNAVAILABLE]"
	grep -q '^d OK' out || atf_fail "IMAP stopped with execd"
	grep -qE '^e[0-9]+ OK command exited successfully' out ||
	    atf_fail "XEXEC did not come back"
	grep -q "execd 0 (pid [0-9]*) killed by signal 9" "$FX_DIR/imapxd.log" ||
	    atf_fail "the parent did not see execd die"
}
execd_killed_cleanup()
{
	fixture_stop
}

atf_test_case sieve_modules cleanup
sieve_modules_head()
{
	atf_set "descr" "blacklist, whitelist and vacation set through XEXEC" \
	    "change how Dovecot delivers bob's mail"
}
sieve_modules_body()
{
	fixture_start
	# bob, over IMAP through imapxd: the modules run under execd
	python3 - "$FX_IMAP_PORT" >out <<-'PY' || { cat out; atf_fail "XEXEC failed"; }
	import imaplib, sys
	imaplib.Commands["XEXEC"] = ("AUTH", "SELECTED")
	m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
	m.login("bob", "bob-secret")
	for args in (("blacklist", "add", "joe@example.com"),
	    ("whitelist", "add", "alice@example.test"),
	    ("vacation", "set", "3", '"Away"', '"Back soon"')):
	    typ, data = m._simple_command("XEXEC", *args)
	    print(args[0], typ, m.untagged_responses.pop("OK", None))
	    if typ != "OK":
	        sys.exit(1)
	m.logout()
	PY
	cat out
	printf 'From: joe@example.com\r\nTo: bob@example.test\r\nSubject: spam\r\n\r\nbuy now\r\n' |
	    fx_sendmail joe@example.com bob@example.test ||
	    atf_fail "sending as joe failed"
	printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\nhello bob\r\n' |
	    fx_sendmail alice@example.test bob@example.test ||
	    atf_fail "sending as alice failed"
	# alice's mail arrives, and her INBOX gets bob's vacation reply
	fx_wait_messages bob bob-secret 1 || atf_fail "alice's mail did not arrive"
	fx_wait_messages alice alice-secret 1 ||
	    atf_fail "no vacation reply reached alice"
	fx_mta_done joe@example.com bob@example.test
	fx_wait_messages bob bob-secret 1 ||
	    atf_fail "joe's mail was delivered despite the blacklist"
}
sieve_modules_cleanup()
{
	fixture_stop
}

atf_test_case changepassword cleanup
changepassword_head()
{
	atf_set "descr" "XEXEC changepassword: the new password works, the old" \
	    "does not, and the password never shows in ps or the logs"
}
changepassword_body()
{
	fixture_start
	python3 - "$FX_IMAP_PORT" >out 2>&1 <<-'PY' || { cat out; atf_fail "see stdout"; }
	import imaplib, sys
	port = int(sys.argv[1])
	imaplib.Commands["XEXEC"] = ("AUTH", "SELECTED")
	def login(pw):
	    m = imaplib.IMAP4("127.0.0.1", port)
	    try:
	        m.login("bob", pw)
	    except imaplib.IMAP4.error:
	        return None
	    return m
	m = login("bob-secret")
	# the password as a literal argument; execd passes it on stdin
	typ, data = m._simple_command("XEXEC", "changepassword",
	    "{20}\r\nN3w-pass-phrase-2026")
	print("changepassword:", typ, m.untagged_responses.pop("OK", None))
	if typ != "OK":
	    sys.exit(1)
	m.logout()
	if login("bob-secret") is not None:
	    print("the old password still works"); sys.exit(1)
	if login("N3w-pass-phrase-2026") is None:
	    print("the new password does not work"); sys.exit(1)
	print("ok")
	PY
	cat out
	grep -q "N3w-pass-phrase" "$FX_DIR"/*.log &&
	    atf_fail "the password is in a log"
	return 0
}
changepassword_cleanup()
{
	fixture_stop
}

atf_test_case calendar cleanup
calendar_head()
{
	atf_set "descr" "the interactive calendar of seed 001 over XEXEC"
}
calendar_body()
{
	fixture_start
	xexec >out <<-'EOF' || atf_fail "client failed"
	s.sendall(b"100 XEXEC calendar\r\n")
	print(line())
	s.sendall(b"add today 9:00 meeting with boss\r\n")
	s.sendall(b"add today 8:00 make coffee\r\n")
	s.sendall(b"list schedule today 8:00 10:00\r\n")
	s.sendall(b"DONE\r\n")
	while True:
	    l = line()
	    print(l)
	    if l.startswith("100 "):
	        break
	cmd("101", "NOOP")
	EOF
	cat out
	grep -q '^+ ' out || atf_fail "no continuation for the session"
	grep -q '^\* OK .*8:00.*make coffee' out || atf_fail "no 8:00 entry"
	grep -q '^\* OK .*9:00.*meeting with boss' out || atf_fail "no 9:00 entry"
	grep -q '^100 OK command exited successfully' out ||
	    atf_fail "the session did not end with the tagged OK"
	grep -q '^101 OK' out || atf_fail "IMAP did not go on after the session"
}
calendar_cleanup()
{
	fixture_stop
}

atf_test_case forward cleanup
forward_head()
{
	atf_set "descr" "XEXEC forward: bob's mail goes on to alice, with a" \
	    "copy for bob only with keep, and no more after off"
}
forward_body()
{
	fixture_start
	xx_run bob <<-'EOF'
	cmd("f1", "XEXEC forward show")
	cmd("f2", "XEXEC forward set alice@example.test keep")
	cmd("f3", "XEXEC forward show")
	EOF
	xx_answer f1 "* OK forward: off" "f1 OK command exited successfully"
	xx_answer f2 \
	    "* OK forwarding your mail to alice@example.test, a copy stays here" \
	    "f2 OK command exited successfully"
	xx_answer f3 "* OK forward: on" "* OK to: alice@example.test" \
	    "* OK keep: yes" "f3 OK command exited successfully"
	xx_send load0001 bob f1
	fx_forwarded bob f1@xexec.test alice
	fx_mta_done load0001@example.test bob@example.test
	fx_mta_done load0001@example.test alice@example.test
	xx_inbox bob "test f1"
	xx_inbox alice "test f1"

	xx_run bob <<-'EOF'
	cmd("f4", "XEXEC forward set alice@example.test")
	cmd("f5", "XEXEC forward show")
	EOF
	xx_answer f4 "* OK forwarding your mail to alice@example.test" \
	    "f4 OK command exited successfully"
	xx_answer f5 "* OK forward: on" "* OK to: alice@example.test" \
	    "* OK keep: no" "f5 OK command exited successfully"
	xx_send load0002 bob f2
	fx_forwarded bob f2@xexec.test alice
	fx_mta_done load0002@example.test bob@example.test
	fx_mta_done load0002@example.test alice@example.test
	xx_inbox bob "test f1"
	xx_inbox alice "test f1" "test f2"

	xx_run bob <<-'EOF'
	cmd("f6", "XEXEC forward off")
	cmd("f7", "XEXEC forward show")
	EOF
	xx_answer f6 "* OK forward off" "f6 OK command exited successfully"
	xx_answer f7 "* OK forward: off" "f7 OK command exited successfully"
	xx_send load0003 bob f3
	fx_mta_done load0003@example.test bob@example.test
	# Dovecot hands a forward to the MTA before it ends the delivery
	fx_log_none smtpd.log "from=<load0003@example.test> to=<alice@example.test>"
	fx_log_none dovecot.log "msgid=<f3@xexec.test>: redirect"
	xx_inbox bob "test f1" "test f3"
	xx_inbox alice "test f1" "test f2"
}
forward_cleanup()
{
	fixture_stop
}

atf_test_case sieve_together cleanup
sieve_together_head()
{
	atf_set "descr" "blacklist, whitelist, vacation and forward set" \
	    "through XEXEC for one user all hold at once, and turning one" \
	    "off leaves the others on"
}
sieve_together_body()
{
	fixture_start
	# The blacklist takes all of example.test, so that the whitelist has
	# something to override: only load0002 and load0005 get through.
	xx_run bob <<-'EOF'
	cmd("b1", "XEXEC blacklist add @example.test")
	cmd("w1", "XEXEC whitelist add load0002@example.test")
	cmd("w2", "XEXEC whitelist add load0005@example.test")
	cmd("v1", 'XEXEC vacation set 1 "Away" "Back soon."')
	cmd("f1", "XEXEC forward set alice@example.test keep")
	EOF
	xx_answer b1 \
	    "* OK added @example.test to your blacklist: its mail is discarded" \
	    "b1 OK command exited successfully"
	xx_answer w2 \
	    "* OK added load0005@example.test to your whitelist: its mail always reaches you" \
	    "w2 OK command exited successfully"
	xx_answer v1 "* OK vacation on: a reply at most every 1 days" \
	    "v1 OK command exited successfully"
	xx_answer f1 \
	    "* OK forwarding your mail to alice@example.test, a copy stays here" \
	    "f1 OK command exited successfully"

	# All four at once.
	xx_send load0002 bob t1		# whitelisted
	xx_send load0003 bob t2		# blacklisted
	fx_discarded bob t2@xexec.test
	fx_mta_done load0003@example.test bob@example.test
	fx_replied bob t1@xexec.test load0002
	fx_forwarded bob t1@xexec.test alice
	fx_mta_done load0002@example.test bob@example.test
	fx_mta_done load0002@example.test alice@example.test
	fx_wait_messages load0002 load-secret 1 ||
	    atf_fail "the vacation reply did not reach load0002"
	fx_log_none smtpd.log "to=<load0003@example.test>"
	fx_log_none dovecot.log "msgid=<t2@xexec.test>: (redirect|vacation)"
	xx_inbox bob "test t1"
	xx_inbox alice "test t1"
	xx_inbox load0002 "Away"
	xx_inbox load0003

	# Forward off: the lists and the vacation stay as they were.
	xx_run bob <<-'EOF'
	cmd("f2", "XEXEC forward off")
	cmd("b2", "XEXEC blacklist list")
	cmd("w3", "XEXEC whitelist list")
	cmd("v2", "XEXEC vacation show")
	EOF
	xx_answer f2 "* OK forward off" "f2 OK command exited successfully"
	xx_answer b2 "* OK @example.test" "b2 OK command exited successfully"
	xx_answer w3 "* OK load0002@example.test" "* OK load0005@example.test" \
	    "w3 OK command exited successfully"
	xx_answer v2 "* OK vacation: on" "* OK days: 1" "* OK subject: Away" \
	    "* OK text: Back soon." "v2 OK command exited successfully"
	xx_send load0005 bob t3		# whitelisted
	xx_send load0004 bob t4		# blacklisted
	fx_discarded bob t4@xexec.test
	fx_mta_done load0004@example.test bob@example.test
	fx_replied bob t3@xexec.test load0005
	fx_mta_done load0005@example.test bob@example.test
	fx_wait_messages load0005 load-secret 1 ||
	    atf_fail "the vacation reply did not reach load0005"
	fx_log_none smtpd.log "to=<load0004@example.test>"
	fx_log_none smtpd.log "from=<load0005@example.test> to=<alice@example.test>"
	xx_inbox bob "test t1" "test t3"
	xx_inbox alice "test t1"
	xx_inbox load0005 "Away"
	xx_inbox load0004

	# The blacklist off as well: the vacation is still on, forward off.
	xx_run bob <<-'EOF'
	cmd("b3", "XEXEC blacklist del @example.test")
	cmd("b4", "XEXEC blacklist list")
	EOF
	xx_answer b3 "* OK removed @example.test from your blacklist" \
	    "b3 OK command exited successfully"
	xx_answer b4 "b4 OK command exited successfully"
	xx_send load0006 bob t5
	fx_replied bob t5@xexec.test load0006
	fx_mta_done load0006@example.test bob@example.test
	fx_wait_messages load0006 load-secret 1 ||
	    atf_fail "the vacation reply did not reach load0006"
	fx_log_none smtpd.log "from=<load0006@example.test> to=<alice@example.test>"
	xx_inbox bob "test t1" "test t3" "test t5"
	xx_inbox alice "test t1"
	xx_inbox load0006 "Away"
}
sieve_together_cleanup()
{
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case changepassword
	atf_add_test_case calendar
	atf_add_test_case sieve_modules
	atf_add_test_case forward
	atf_add_test_case sieve_together
	atf_add_test_case seed_session
	atf_add_test_case execd_killed
}
