#! /usr/bin/env atf-sh
#
# imapxd's TLS client side: a backend reached over implicit TLS, with
# the certificate verified against a configured CA, with verification
# off (noverify), and refused when it cannot be verified.  Dovecot here
# speaks plaintext, so a small TLS terminator (Python's ssl module, the
# fixture's own certificate, valid for 127.0.0.1) stands in front of it.
# The TLS backend serves the domain example.test; a bare "alice" still
# goes to the plaintext default backend.

. "$(atf_get_srcdir)/fixture.sh"

# Start the terminator; its port goes to ./relay.port, its pid to
# ./relay.pid, and each TLS handshake it completes adds a line to
# ./relay.log.
tls_relay()
{
	python3 - "$FX_DIR/cert.pem" "$FX_DIR/key.pem" "$FX_DOVECOT_PORT" \
	    >relay.port 2>relay.err <<-'PY' &
	import socket, ssl, sys, threading
	cert, key, backend = sys.argv[1], sys.argv[2], int(sys.argv[3])
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain(cert, key)
	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(16)
	print(ls.getsockname()[1], flush=True)
	def pump(a, b):
	    try:
	        while True:
	            d = a.recv(65536)
	            if not d:
	                break
	            b.sendall(d)
	    except OSError:
	        pass
	    for s in (a, b):
	        try:
	            s.shutdown(socket.SHUT_RDWR)
	        except OSError:
	            pass
	def serve(c):
	    try:
	        t = ctx.wrap_socket(c, server_side=True)
	    except (ssl.SSLError, OSError):
	        c.close()
	        return
	    with open("relay.log", "a") as f:
	        f.write("handshake\n")
	    b = socket.create_connection(("127.0.0.1", backend))
	    threading.Thread(target=pump, args=(b, t), daemon=True).start()
	    pump(t, b)
	while True:
	    c, _ = ls.accept()
	    threading.Thread(target=serve, args=(c,), daemon=True).start()
	PY
	echo $! >relay.pid
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		[ -s relay.port ] && break
		sleep 0.2
	done
	[ -s relay.port ] || { cat relay.err; atf_fail "the TLS relay did not start"; }
}

# Add a TLS backend for example.test and reload imapxd.
tls_backend()
{
	printf '%s\n' "$@" >>"$FX_DIR/imapxd.conf"
	kill -HUP "$FX_IMAPXD_PID"
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		grep -q "configuration reloaded" "$FX_DIR/imapxd.log" && return
		sleep 0.2
	done
	tail -5 "$FX_DIR/imapxd.log"
	atf_fail "imapxd did not take the TLS backend"
}

login()
{
	python3 - "$FX_IMAP_PORT" "$1" <<-'PY'
	import imaplib, sys
	m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
	try:
	    typ, data = m.login(sys.argv[2], "alice-secret")
	except imaplib.IMAP4.error as e:
	    print("NO", e)
	    sys.exit(2)
	m.select("INBOX")
	print(m.noop()[0])
	m.logout()
	PY
}

relay_stop()
{
	[ -f relay.pid ] && kill "$(cat relay.pid)" 2>/dev/null
	return 0
}

atf_test_case verified cleanup
verified_head()
{
	atf_set "descr" "a TLS backend whose certificate is checked against tls ca"
}
verified_body()
{
	fixture_start
	tls_relay
	tls_backend "tls ca \"$FX_DIR/cert.pem\"" \
	    "backend 127.0.0.1 port $(cat relay.port) tls domain \"example.test\""
	login alice@example.test || atf_fail "login over the TLS backend failed"
	[ "$(grep -c handshake relay.log)" -ge 1 ] ||
	    atf_fail "the login did not go through the TLS backend"
	# the plaintext default backend still serves bare names
	login alice || atf_fail "login over the default backend failed"
}
verified_cleanup()
{
	relay_stop
	fixture_stop
}

atf_test_case noverify cleanup
noverify_head()
{
	atf_set "descr" "a TLS backend marked noverify is used without a CA"
}
noverify_body()
{
	fixture_start
	tls_relay
	tls_backend "backend 127.0.0.1 port $(cat relay.port) tls noverify \
domain \"example.test\""
	login alice@example.test || atf_fail "login over the TLS backend failed"
	[ "$(grep -c handshake relay.log)" -ge 1 ] ||
	    atf_fail "the login did not go through the TLS backend"
}
noverify_cleanup()
{
	relay_stop
	fixture_stop
}

atf_test_case unverifiable cleanup
unverifiable_head()
{
	atf_set "descr" "a backend certificate no CA vouches for is refused"
}
unverifiable_body()
{
	fixture_start
	tls_relay
	# verification against the system's CA bundle: the self-signed
	# certificate must not pass
	tls_backend "backend 127.0.0.1 port $(cat relay.port) tls \
domain \"example.test\""
	if login alice@example.test >login.out; then
		atf_fail "a login went through an unverified backend"
	fi
	cat login.out
	grep -q "UNAVAILABLE" login.out || atf_fail "expected NO [UNAVAILABLE]"
	[ ! -s relay.log ] || atf_fail "a TLS session was completed"
	grep -q "backend TLS" "$FX_DIR/imapxd.log" ||
	    atf_fail "the failure is not logged"
	login alice || atf_fail "the default backend stopped serving"
}
unverifiable_cleanup()
{
	relay_stop
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case verified
	atf_add_test_case noverify
	atf_add_test_case unverifiable
}
