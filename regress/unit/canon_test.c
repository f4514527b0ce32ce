/*
 * Unit tests for common/canon.c: the one rule for "user@domain" names
 * and splitting them again.
 */
#include <atf-c.h>
#include <string.h>

#include "canon.h"

#include "atf_lsan.h"

#define DOMAIN	"example.test"

static void	 good(const char *, const char *, const char *);
static void	 bad(const char *, const char *);

static void
good(const char *login, const char *domain, const char *want)
{
	char	out[256];

	memset(out, 'z', sizeof(out));
	ATF_REQUIRE_EQ_MSG(canon_user(login, domain, out, sizeof(out)), 0,
	    "'%s'", login);
	ATF_CHECK_STREQ_MSG(out, want, "'%s'", login);
}

static void
bad(const char *login, const char *domain)
{
	char	out[256];

	ATF_CHECK_EQ_MSG(canon_user(login, domain, out, sizeof(out)), -1,
	    "'%s' with '%s' was taken", login, domain ? domain : "(null)");
}

ATF_TC_WITHOUT_HEAD(default_domain);
ATF_TC_BODY(default_domain, tc)
{
	good("alice", DOMAIN, "alice@" DOMAIN);
	good("a", DOMAIN, "a@" DOMAIN);
	good("alice.b+tag", DOMAIN, "alice.b+tag@" DOMAIN);
	/* no default domain: the name stays bare */
	good("alice", "", "alice");
	good("alice", NULL, "alice");
}

ATF_TC_WITHOUT_HEAD(case_folded);
ATF_TC_BODY(case_folded, tc)
{
	good("Alice", DOMAIN, "alice@" DOMAIN);
	good("ALICE@EXAMPLE.ORG", DOMAIN, "alice@example.org");
	good("bob", "Example.TEST", "bob@" DOMAIN);
}

ATF_TC_WITHOUT_HEAD(domain_kept);
ATF_TC_BODY(domain_kept, tc)
{
	good("a@b", DOMAIN, "a@b");
	good("alice@example.org", DOMAIN, "alice@example.org");
	good("alice@example.org", NULL, "alice@example.org");
}

ATF_TC_WITHOUT_HEAD(refused);
ATF_TC_BODY(refused, tc)
{
	bad(NULL, DOMAIN);
	bad("", DOMAIN);
	bad("", "");
	bad("al ice", DOMAIN);
	bad(" alice", DOMAIN);
	bad("alice ", DOMAIN);
	bad("al\tice", DOMAIN);
	bad("al\rice", DOMAIN);
	bad("alice\n", DOMAIN);
	bad("al\x01ice", DOMAIN);
	bad("al\x1fice", DOMAIN);
	bad("al\x7fice", DOMAIN);
	bad("../alice", DOMAIN);
	bad("al/ice", DOMAIN);
	bad("al\\ice", DOMAIN);
	bad("a@b@c", DOMAIN);
	bad("a@@b", DOMAIN);
	bad("alice@", DOMAIN);
	bad("alice@", NULL);
	bad("@", DOMAIN);
	bad("@example.org", DOMAIN);
	bad("@example.org", NULL);
	bad("a@b/c", DOMAIN);
	/* a default domain no key could carry */
	bad("alice", "exa mple.test");
	bad("alice", "a@b");
	bad("alice", "a/b");
	bad("alice", "a\nb");
}

/*
 * canon.c refuses '\\' in the login ("characters that have a meaning in
 * paths or shells"), but the default domain it appends is checked for
 * '/' only.
 */
ATF_TC_WITHOUT_HEAD(domain_backslash);
ATF_TC_BODY(domain_backslash, tc)
{
	bad("alice", "ex\\ample.test");
}

ATF_TC_WITHOUT_HEAD(too_long);
ATF_TC_BODY(too_long, tc)
{
	char	login[300], out[16];

	/* "alice@example.test" takes 19 bytes with its NUL */
	ATF_CHECK_EQ(canon_user("alice", DOMAIN, out, 18), -1);
	ATF_REQUIRE_EQ(canon_user("alice", DOMAIN, login, 19), 0);
	ATF_CHECK_STREQ(login, "alice@" DOMAIN);

	ATF_REQUIRE_EQ(canon_user("abcdefghijklmno", NULL, out, 16), 0);
	ATF_CHECK_STREQ(out, "abcdefghijklmno");
	ATF_CHECK_EQ(canon_user("abcdefghijklmnop", NULL, out, 16), -1);
	ATF_CHECK_EQ(canon_user("abcdefghij@klmnop", DOMAIN, out, 16), -1);
	ATF_CHECK_EQ(canon_user("a", NULL, out, 1), -1);
	ATF_CHECK_EQ(canon_user("a", NULL, out, 0), -1);

	memset(login, 'a', sizeof(login) - 1);
	login[sizeof(login) - 1] = '\0';
	bad(login, DOMAIN);
	bad(login, NULL);
}

ATF_TC_WITHOUT_HEAD(split);
ATF_TC_BODY(split, tc)
{
	char	local[16], domain[16];

	ATF_REQUIRE_EQ(canon_split("alice@" DOMAIN, local, sizeof(local),
	    domain, sizeof(domain)), 0);
	ATF_CHECK_STREQ(local, "alice");
	ATF_CHECK_STREQ(domain, DOMAIN);

	ATF_REQUIRE_EQ(canon_split("alice", local, sizeof(local), domain,
	    sizeof(domain)), 0);
	ATF_CHECK_STREQ(local, "alice");
	ATF_CHECK_STREQ(domain, "");

	/* exact room, one byte short */
	ATF_REQUIRE_EQ(canon_split("alice@" DOMAIN, local, 6, domain, 13), 0);
	ATF_CHECK_STREQ(local, "alice");
	ATF_CHECK_STREQ(domain, DOMAIN);
	ATF_CHECK_EQ(canon_split("alice@" DOMAIN, local, 5, domain, 13), -1);
	ATF_CHECK_EQ(canon_split("alice@" DOMAIN, local, 6, domain, 12), -1);
	ATF_CHECK_EQ(canon_split("alice", local, 6, domain, 0), -1);
	ATF_REQUIRE_EQ(canon_split("alice", local, 6, domain, 1), 0);
	ATF_CHECK_STREQ(domain, "");
}

/* What canon_user makes, canon_split takes apart. */
ATF_TC_WITHOUT_HEAD(roundtrip);
ATF_TC_BODY(roundtrip, tc)
{
	char	user[64], local[32], domain[32];

	ATF_REQUIRE_EQ(canon_user("Bob.Smith", DOMAIN, user, sizeof(user)), 0);
	ATF_REQUIRE_EQ(canon_split(user, local, sizeof(local), domain,
	    sizeof(domain)), 0);
	ATF_CHECK_STREQ(local, "bob.smith");
	ATF_CHECK_STREQ(domain, DOMAIN);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, default_domain);
	ATF_TP_ADD_TC(tp, case_folded);
	ATF_TP_ADD_TC(tp, domain_kept);
	ATF_TP_ADD_TC(tp, refused);
	ATF_TP_ADD_TC(tp, domain_backslash);
	ATF_TP_ADD_TC(tp, too_long);
	ATF_TP_ADD_TC(tp, split);
	ATF_TP_ADD_TC(tp, roundtrip);
	return atf_no_error();
}
