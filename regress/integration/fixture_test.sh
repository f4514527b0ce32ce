#! /usr/bin/env atf-sh
#
# The integration fixture itself: the mail host starts, Dovecot takes
# logins, the MTA delivers to Dovecot over LMTP, and imapxd comes up on
# its three listeners.

atf_test_case backend cleanup
backend_head()
{
	atf_set descr "Dovecot and OpenSMTPD start; mail from alice reaches bob"
	atf_set require.user root
	atf_set timeout 120
}
backend_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start_backend

	# Both spellings of a user name log in.
	for u in alice alice@example.test; do
		imapc 127.0.0.1 "$FX_DOVECOT_PORT" >login.out 2>&1 <<-EOF ||
		< ^\* OK
		> a LOGIN $u alice-secret
		< ^a OK
		> b LOGOUT
		< ^b OK
		EOF
		    { cat login.out; atf_fail "login as $u to Dovecot failed"; }
	done
	imapc 127.0.0.1 "$FX_DOVECOT_PORT" >bad.out 2>&1 <<-EOF ||
	< ^\* OK
	> a LOGIN alice wrong-secret
	< ^a NO
	EOF
	    { cat bad.out; atf_fail "a wrong password was not refused"; }

	cat >msg <<-EOF
	From: alice@example.test
	To: bob@example.test
	Subject: fixture check $$
	Message-ID: <fixture-$$@example.test>

	Hello Bob.
	EOF
	fx_sendmail alice@example.test bob@example.test <msg ||
	    atf_fail "the MTA refused mail for bob"
	fx_wait_messages bob bob-secret 1 ||
	    atf_fail "the mail did not reach bob's INBOX"
	imapc 127.0.0.1 "$FX_DOVECOT_PORT" >fetch.out 2>&1 <<-EOF ||
	< ^\* OK
	> a LOGIN bob bob-secret
	< ^a OK
	> b EXAMINE INBOX
	< ^b OK
	> c FETCH 1 (BODY.PEEK[])
	< ^c OK
	EOF
	    { cat fetch.out; atf_fail "cannot fetch bob's mail"; }
	grep -q "^S: Subject: fixture check $$" fetch.out ||
	    { cat fetch.out; atf_fail "bob's message is not alice's"; }
	grep -q "^S: Hello Bob\." fetch.out ||
	    { cat fetch.out; atf_fail "the body did not arrive"; }

	# Nothing for unknown users or other domains.
	fx_sendmail alice@example.test nobody@example.test <msg 2>err &&
	    atf_fail "the MTA took mail for an unknown user"
	fx_sendmail alice@example.test someone@example.org <msg 2>err &&
	    atf_fail "the MTA relays to other domains"
	return 0
}
backend_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_test_case imapxd cleanup
imapxd_head()
{
	atf_set descr "imapxd starts in front of the mail host and greets"
	atf_set require.user root
	atf_set timeout 120
}
imapxd_body()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_start
	kill -0 "$FX_IMAPXD_PID" || atf_fail "imapxd is not running"
	imapc 127.0.0.1 "$FX_IMAP_PORT" >imap.out 2>&1 <<-EOF ||
	< ^\* OK
	EOF
	    { cat imap.out; atf_fail "no IMAP greeting"; }
	imapc --starttls 127.0.0.1 "$FX_IMAP_PORT" >starttls.out 2>&1 <<-EOF ||
	> a LOGIN alice alice-secret
	< ^a OK
	> b LOGOUT
	< ^b OK
	EOF
	    { cat starttls.out; atf_fail "no login through STARTTLS"; }
	imapc --tls 127.0.0.1 "$FX_IMAPS_PORT" >imaps.out 2>&1 <<-EOF ||
	< ^\* OK
	EOF
	    { cat imaps.out; atf_fail "no IMAPS greeting"; }
}
imapxd_cleanup()
{
	. "$(atf_get_srcdir)/fixture.sh"
	fixture_stop
}

atf_init_test_cases()
{
	atf_add_test_case backend
	atf_add_test_case imapxd
}
