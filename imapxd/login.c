/*
 * Before login: the commands imapxd answers itself (CAPABILITY, NOOP,
 * LOGOUT, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN with SASL-IR), and the
 * login to the backend with the client's own credentials.  The password
 * lives in this file's struct login only until the backend has it, and is
 * wiped then (sodium_memzero); the client's and the backend's buffers are
 * marked secret for as long as they may hold it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tls.h>

#include "canon.h"
#include "frontend.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#define PASS_MAX	1024
/* one command before login: a line and the literals of LOGIN */
#define LOGIN_CMD_MAX(l)	((l)->login_line_max + 2 * (l)->login_literal_max)
#define BTAG_ID		"x1"
#define BTAG_AUTH	"x2"
#define BTAG_STLS	"x3"
#define BTAG_CAPA	"x4"

enum bstate {
	BL_GREETING,
	BL_STARTTLS,
	BL_CAPA,
	BL_AUTH
};

struct login {
	enum bstate	 bstate;
	struct backend	*be;
	char		 user[IMAPX_USER_MAX];	/* as the client gave it */
	char		 pass[PASS_MAX];
	size_t		 passlen;
	char		*caps;			/* backend's, latest */
};

extern struct imsgbuf	*ibuf_parent;

static int	prelogin_command(struct session *, const char *, size_t);
static int	prelogin_literal_ok(const char *, size_t);
static void	prelogin_auth_data(struct session *, const char *, size_t);
static void	prelogin_caps(struct session *, char *, size_t);
static int	plaintext_ok(struct session *);
static void	backend_begin(struct session *, const char *, const char *,
		    size_t);
static void	backend_connected(struct conn *, void *);
static void	backend_login_input(struct conn *, void *);
static int	backend_line(struct session *, const char *, size_t);
static void	backend_send_auth(struct session *);
static void	send_plain(struct session *, const char *);
static void	backend_fail(struct session *, const char *, const char *);
static void	backend_success(struct session *);
static void	login_done(struct session *);
static void	set_caps(char **, const char *, size_t);
static int	has_cap(const char *, const char *);

void
login_start(struct session *s)
{
	struct tls	*cctx;
	char		 caps[512];

	s->state = S_PRELOGIN;
	s->client.flags |= CONN_SECRET;
	s->client.on_read = login_client_input;
	s->client.arg = s;
	if (s->lflags & LISTEN_TLS) {
		if (s->conf->tlsctx == NULL ||
		    tls_accept_socket(s->conf->tlsctx, &cctx,
		    s->client.fd) == -1) {
			log_warnx("session %llu: TLS accept failed",
			    (unsigned long long)s->id);
			session_close(s, NULL);
			return;
		}
		s->client.tls = cctx;
		s->tls = 1;
	}
	if (s->lflags & LISTEN_IMSP) {
		session_close(s, "IMSP service not available");
		return;
	}
	prelogin_caps(s, caps, sizeof(caps));
	conn_queuef(&s->client, "* OK [CAPABILITY %s] imapx ready\r\n", caps);
	session_timer_reset(s);
	conn_flush(&s->client);
	conn_start(&s->client);
}

void
login_free(struct session *s)
{
	if (s->login == NULL)
		return;
	free(s->login->caps);
	sodium_memzero(s->login, sizeof(*s->login));
	free(s->login);
	s->login = NULL;
}

static int
plaintext_ok(struct session *s)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&s->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&s->addr;

	if (s->tls || s->conf->tlsctx == NULL)
		return 1;
	/* like Dovecot, a loopback connection counts as secure */
	if (s->addr.ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (s->addr.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	return 0;
}

static void
prelogin_caps(struct session *s, char *buf, size_t len)
{
	snprintf(buf, len, "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE%s%s",
	    !s->tls && s->conf->tlsctx != NULL ? " STARTTLS" : "",
	    plaintext_ok(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
}

/*
 * Collect one whole command, literals included, before acting on it:
 * commands before login are small and bounded by login-line and
 * login-literal.
 */
void
login_client_input(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct imap_seg	 seg;
	struct imap_rd	 rd;
	const char	*p;
	size_t		 len, pos, need;
	int		 stop = 0;

	if (c->flags & (CONN_EOF | CONN_ERROR)) {
		session_close(s, NULL);
		return;
	}
	while (!stop && c->in.len > 0 &&
	    (s->state == S_PRELOGIN || s->state == S_AUTHCONT)) {
		p = c->in.data + c->in.off;
		len = c->in.len;
		pos = s->scan;
		for (;;) {
			if (imap_segment(p + pos, len - pos, &seg) == 0) {
				seg.len = 0;
				break;
			}
			if (seg.textlen > s->conf->limits.login_line_max) {
				session_close(s, "[TOOBIG] Line too long");
				return;
			}
			if (seg.lit == LIT_NONE || s->state == S_AUTHCONT)
				break;
			/*
			 * SUBMIT {n} or APPEND {n} before login: say so now,
			 * not after the client has sent the message (or
			 * refuse it as too large, which is not the point).
			 */
			if (pos == 0 && !(seg.lit & LIT_NONSYNC) &&
			    !prelogin_literal_ok(p, seg.textlen)) {
				s->scan = 0;
				s->litsent = 0;
				imap_rd_init(&rd, p, seg.textlen);
				if (imap_rd_tag(&rd, s->tag, sizeof(s->tag)) ==
				    TOK_ERR)
					strlcpy(s->tag, "*", sizeof(s->tag));
				conn_consume(c, seg.len);
				conn_queuef(c, "%s BAD Command unknown or not "
				    "valid before login\r\n", s->tag);
				seg.len = 0;
				pos = (size_t)-1;
				break;
			}
			if (seg.litlen > s->conf->limits.login_literal_max) {
				if (seg.lit & LIT_NONSYNC) {
					session_close(s, "[TOOBIG] Literal "
					    "too large");
					return;
				}
				s->scan = 0;
				s->litsent = 0;
				imap_rd_init(&rd, p, pos + seg.textlen);
				if (imap_rd_tag(&rd, s->tag, sizeof(s->tag)) ==
				    TOK_ERR)
					strlcpy(s->tag, "*", sizeof(s->tag));
				conn_consume(c, pos + seg.len);
				conn_queuef(c, "%s BAD [TOOBIG] Literal too "
				    "large\r\n", s->tag);
				seg.len = 0;
				pos = (size_t)-1;
				break;
			}
			need = pos + seg.len + seg.litlen;
			if (len < need) {
				if (!(seg.lit & LIT_NONSYNC) && !s->litsent) {
					conn_queuef(c, "+ Ready for literal "
					    "data\r\n");
					s->litsent = 1;
				}
				seg.len = 0;
				break;
			}
			pos = need;
			s->scan = pos;
			s->litsent = 0;
		}
		if (pos == (size_t)-1)
			continue;
		if (seg.len == 0) {
			/* a line not ended yet, or a command of many literals */
			if (len - pos > s->conf->limits.login_line_max ||
			    len > LOGIN_CMD_MAX(&s->conf->limits)) {
				session_close(s, "[TOOBIG] Line too long");
				return;
			}
			break;
		}
		pos += seg.len;
		s->scan = 0;
		s->litsent = 0;
		if (s->state == S_AUTHCONT) {
			prelogin_auth_data(s, p, seg.textlen);
			conn_consume(c, pos);
			continue;
		}
		if (++s->ncmds > s->conf->limits.login_cmds) {
			session_close(s, "Too many commands before login");
			return;
		}
		stop = prelogin_command(s, p, pos);
	}
	if (s->state == S_CLOSING)
		return;
	conn_flush(c);
}

/* Only LOGIN and ID take literals before login. */
static int
prelogin_literal_ok(const char *p, size_t len)
{
	struct imap_rd	rd;
	char		tag[TAG_MAX], name[CMDNAME_MAX];

	imap_rd_init(&rd, p, len);
	if (imap_rd_tag(&rd, tag, sizeof(tag)) == TOK_ERR ||
	    imap_rd_sp(&rd) == -1 ||
	    imap_rd_atom(&rd, name, sizeof(name)) == TOK_ERR)
		return 1;	/* the command's own BAD says more */
	return strcasecmp(name, "LOGIN") == 0 || strcasecmp(name, "ID") == 0;
}

/* Serve one complete command; returns 1 if the input loop must stop. */
static int
prelogin_command(struct session *s, const char *p, size_t len)
{
	struct imap_rd	 rd;
	struct conn	*c = &s->client;
	struct tls	*cctx;
	char		 name[CMDNAME_MAX], user[IMAPX_USER_MAX];
	char		 pass[PASS_MAX], caps[512];
	size_t		 i, passlen;
	int		 r;

	imap_rd_init(&rd, p, len);
	if (imap_rd_tag(&rd, s->tag, sizeof(s->tag)) == TOK_ERR) {
		conn_consume(c, len);
		conn_queuef(c, "* BAD Invalid tag\r\n");
		return 0;
	}
	if (imap_rd_sp(&rd) == -1 ||
	    imap_rd_atom(&rd, name, sizeof(name)) == TOK_ERR) {
		conn_consume(c, len);
		conn_queuef(c, "%s BAD Syntax error in command\r\n", s->tag);
		return 0;
	}
	for (i = 0; name[i] != '\0'; i++)
		name[i] = toupper((unsigned char)name[i]);

	if (strcmp(name, "LOGIN") == 0) {
		r = imap_rd_sp(&rd) == 0 &&
		    imap_rd_astring(&rd, user, sizeof(user), NULL) != TOK_ERR &&
		    imap_rd_sp(&rd) == 0 &&
		    imap_rd_astring(&rd, pass, sizeof(pass), &passlen) !=
		    TOK_ERR && imap_rd_eol(&rd) == 0;
		conn_consume(c, len);
		if (!r)
			conn_queuef(c, "%s BAD Syntax error in LOGIN\r\n",
			    s->tag);
		else if (!plaintext_ok(s))
			conn_queuef(c, "%s NO [PRIVACYREQUIRED] Plaintext "
			    "authentication disallowed without TLS\r\n", s->tag);
		else
			backend_begin(s, user, pass, passlen);
		sodium_memzero(pass, sizeof(pass));
		return s->state != S_PRELOGIN;
	}
	if (strcmp(name, "AUTHENTICATE") == 0) {
		r = imap_rd_sp(&rd) == 0 &&
		    imap_rd_atom(&rd, user, sizeof(user)) != TOK_ERR;
		if (r && strcasecmp(user, "PLAIN") != 0) {
			conn_consume(c, len);
			conn_queuef(c, "%s NO [CANNOT] Unsupported "
			    "authentication mechanism\r\n", s->tag);
			return 0;
		}
		if (r && !plaintext_ok(s)) {
			conn_consume(c, len);
			conn_queuef(c, "%s NO [PRIVACYREQUIRED] Plaintext "
			    "authentication disallowed without TLS\r\n", s->tag);
			return 0;
		}
		if (r && imap_rd_sp(&rd) == 0) {
			/* SASL-IR, RFC 4959 */
			i = rd.pos;
			while (rd.pos < len && p[rd.pos] != '\r' &&
			    p[rd.pos] != '\n')
				rd.pos++;
			prelogin_auth_data(s, p + i, rd.pos - i);
			conn_consume(c, len);
			return s->state != S_PRELOGIN;
		}
		r = r && imap_rd_eol(&rd) == 0;
		conn_consume(c, len);	/* wipes: parse nothing after it */
		if (!r) {
			conn_queuef(c, "%s BAD Syntax error in AUTHENTICATE\r\n",
			    s->tag);
			return 0;
		}
		s->state = S_AUTHCONT;
		conn_queuef(c, "+ \r\n");
		return 0;
	}
	conn_consume(c, len);
	if (strcmp(name, "CAPABILITY") == 0) {
		prelogin_caps(s, caps, sizeof(caps));
		conn_queuef(c, "* CAPABILITY %s\r\n%s OK Capability "
		    "completed\r\n", caps, s->tag);
	} else if (strcmp(name, "NOOP") == 0) {
		conn_queuef(c, "%s OK NOOP completed\r\n", s->tag);
	} else if (strcmp(name, "ID") == 0) {
		conn_queuef(c, "* ID (\"name\" \"imapx\")\r\n"
		    "%s OK ID completed\r\n", s->tag);
	} else if (strcmp(name, "LOGOUT") == 0) {
		conn_queuef(c, "* BYE Logging out\r\n%s OK Logout "
		    "completed\r\n", s->tag);
		session_close(s, NULL);
		return 1;
	} else if (strcmp(name, "STARTTLS") == 0) {
		if (s->tls || s->conf->tlsctx == NULL) {
			conn_queuef(c, "%s BAD STARTTLS not available\r\n",
			    s->tag);
			return 0;
		}
		conn_queuef(c, "%s OK Begin TLS negotiation now\r\n", s->tag);
		conn_flush(c);
		if (conn_outlen(c) > 0 ||
		    tls_accept_socket(s->conf->tlsctx, &cctx, c->fd) == -1) {
			session_close(s, NULL);
			return 1;
		}
		conn_starttls(c, cctx);
		s->tls = 1;
		return 1;
	} else
		conn_queuef(c, "%s BAD Command unknown or not valid before "
		    "login\r\n", s->tag);
	return 0;
}

/* The SASL PLAIN response (RFC 4616): [authzid] NUL authcid NUL passwd. */
static void
prelogin_auth_data(struct session *s, const char *b64, size_t len)
{
	unsigned char	 raw[IMAPX_USER_MAX * 2 + PASS_MAX];
	char		 user[IMAPX_USER_MAX];
	size_t		 rawlen, i, j;

	s->state = S_PRELOGIN;
	if (len == 1 && b64[0] == '*') {
		conn_queuef(&s->client, "%s BAD Authentication cancelled\r\n",
		    s->tag);
		return;
	}
	if ((len == 1 && b64[0] == '=') || len == 0) {
		rawlen = 0;
	} else if (sodium_base642bin(raw, sizeof(raw), b64, len, NULL,
	    &rawlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
		conn_queuef(&s->client, "%s BAD Invalid base64 data\r\n",
		    s->tag);
		return;
	}
	for (i = 0; i < rawlen && raw[i] != '\0'; i++)
		;
	for (j = i + 1; j < rawlen && raw[j] != '\0'; j++)
		;
	if (i >= rawlen || j >= rawlen || j - i - 1 >= sizeof(user) ||
	    j - i - 1 == 0) {
		conn_queuef(&s->client, "%s NO [AUTHENTICATIONFAILED] "
		    "Invalid PLAIN response\r\n", s->tag);
	} else if (i > 0 && (i != j - i - 1 ||
	    memcmp(raw, raw + i + 1, i) != 0)) {
		conn_queuef(&s->client, "%s NO [AUTHORIZATIONFAILED] "
		    "Authorization identity not supported\r\n", s->tag);
	} else {
		memcpy(user, raw + i + 1, j - i - 1);
		user[j - i - 1] = '\0';
		backend_begin(s, user, (char *)raw + j + 1, rawlen - j - 1);
	}
	sodium_memzero(raw, sizeof(raw));
}

static struct backend *
backend_for(struct session *s, const char *user)
{
	struct backend	*be, *dflt = NULL;
	const char	*at = strchr(user, '@');

	TAILQ_FOREACH(be, &s->conf->backends, entry) {
		if (be->domain[0] == '\0')
			dflt = be;
		else if (at != NULL && strcasecmp(at + 1, be->domain) == 0)
			return be;
	}
	return dflt;
}

static void
backend_begin(struct session *s, const char *user, const char *pass,
    size_t passlen)
{
	struct login	*l;
	size_t		 i;

	for (i = 0; user[i] != '\0'; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			break;
	if (user[i] != '\0' || i == 0 || passlen >= PASS_MAX ||
	    memchr(pass, '\0', passlen) != NULL) {
		conn_queuef(&s->client, "%s NO [AUTHENTICATIONFAILED] "
		    "Authentication failed\r\n", s->tag);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("%s", __func__);
	s->login = l;
	strlcpy(l->user, user, sizeof(l->user));
	memcpy(l->pass, pass, passlen);
	l->passlen = passlen;
	if ((l->be = backend_for(s, user)) == NULL) {
		backend_fail(s, "[UNAVAILABLE]", "No backend for this user");
		return;
	}
	s->state = S_BACKEND;
	conn_pause(&s->client, 1);
	s->backend.arg = s;
	s->backend.on_connect = backend_connected;
	/* a plaintext backend greets first; a TLS one waits for us */
	if (conn_connect(&s->backend, (struct sockaddr *)&l->be->ss,
	    l->be->sslen, !(l->be->flags & BACKEND_TLS)) == -1) {
		log_warn("session %llu: backend %s", (unsigned long long)s->id,
		    l->be->name);
		s->backend.fd = -1;
		backend_fail(s, "[UNAVAILABLE]", "Backend server not available");
	}
}

static struct tls_config *
backend_tlscfg(struct session *s)
{
	return (s->login->be->flags & BACKEND_NOVERIFY) ?
	    s->conf->btlscfg_nv : s->conf->btlscfg;
}

static void
backend_connected(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct tls	*tls;

	if (c->flags & CONN_ERROR) {
		log_warn("session %llu: backend %s", (unsigned long long)s->id,
		    s->login->be->name);
		backend_fail(s, "[UNAVAILABLE]", "Backend server not available");
		return;
	}
	c->on_read = backend_login_input;
	c->flags |= CONN_SECRET;
	if (s->login->be->flags & BACKEND_TLS) {
		if ((tls = tls_client()) == NULL ||
		    tls_configure(tls, backend_tlscfg(s)) == -1 ||
		    tls_connect_socket(tls, c->fd, s->login->be->host) == -1) {
			log_warnx("session %llu: backend TLS: %s",
			    (unsigned long long)s->id,
			    tls ? tls_error(tls) : "tls_client");
			tls_free(tls);
			backend_fail(s, "[UNAVAILABLE]",
			    "Backend server not available");
			return;
		}
		c->tls = tls;
	}
	s->login->bstate = BL_GREETING;
	conn_start(c);
}

static void
backend_login_input(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct imap_seg	 seg;
	const char	*p;

	while (c->in.len > 0 && s->state == S_BACKEND) {
		p = c->in.data + c->in.off;
		if (imap_segment(p, c->in.len, &seg) == 0) {
			if (c->in.len > 65536) {
				backend_fail(s, "[UNAVAILABLE]",
				    "Backend protocol error");
				return;
			}
			break;
		}
		if (seg.lit != LIT_NONE) {
			backend_fail(s, "[UNAVAILABLE]", "Backend protocol error");
			return;
		}
		switch (backend_line(s, p, seg.textlen)) {
		case -1:
			return;
		case 1:
			conn_consume(c, seg.len);
			backend_success(s);
			return;
		}
		/* STARTTLS dropped what was buffered */
		if (c->in.len >= seg.len)
			conn_consume(c, seg.len);
	}
	if (s->state != S_BACKEND)
		return;
	if (c->flags & (CONN_EOF | CONN_ERROR)) {
		if (c->tlserr != NULL)
			log_warnx("session %llu: backend TLS: %s",
			    (unsigned long long)s->id, c->tlserr);
		backend_fail(s, "[UNAVAILABLE]", "Backend server not available");
		return;
	}
	conn_flush(c);
}

static int
tagged(const char *p, size_t len, const char *tag, const char **rest)
{
	size_t	tl = strlen(tag);

	if (len > tl + 1 && strncmp(p, tag, tl) == 0 && p[tl] == ' ') {
		*rest = p + tl + 1;
		return 1;
	}
	return 0;
}

static int
backend_line(struct session *s, const char *p, size_t len)
{
	struct login	*l = s->login;
	struct tls	*tls;
	const char	*rest;
	size_t		 cs, ce;

	if (len >= 2 && strncmp(p, "* ", 2) == 0) {
		if (imap_find_capcode(p, len, &cs, &ce))
			set_caps(&l->caps, p + cs, ce - cs);
		else if (len > 13 && strncasecmp(p + 2, "CAPABILITY ", 11) == 0)
			set_caps(&l->caps, p + 13, len - 13);
	}
	switch (l->bstate) {
	case BL_GREETING:
		if (len < 4 || strncasecmp(p, "* OK", 4) != 0) {
			log_warnx("session %llu: backend greeting: %.*s",
			    (unsigned long long)s->id, (int)(len > 200 ? 200 :
			    len), p);
			backend_fail(s, "[UNAVAILABLE]",
			    "Backend server not available");
			return -1;
		}
		if (l->be->flags & BACKEND_STARTTLS) {
			conn_queuef(&s->backend, BTAG_STLS " STARTTLS\r\n");
			l->bstate = BL_STARTTLS;
		} else
			backend_send_auth(s);
		return 0;
	case BL_STARTTLS:
		if (!tagged(p, len, BTAG_STLS, &rest))
			return 0;
		if (strncasecmp(rest, "OK", 2) != 0 ||
		    (tls = tls_client()) == NULL) {
			backend_fail(s, "[UNAVAILABLE]",
			    "Backend server refused STARTTLS");
			return -1;
		}
		if (tls_configure(tls, backend_tlscfg(s)) == -1 ||
		    tls_connect_socket(tls, s->backend.fd,
		    l->be->host) == -1) {
			log_warnx("session %llu: backend TLS: %s",
			    (unsigned long long)s->id, tls_error(tls));
			tls_free(tls);
			backend_fail(s, "[UNAVAILABLE]",
			    "Backend server not available");
			return -1;
		}
		conn_starttls(&s->backend, tls);
		free(l->caps);
		l->caps = NULL;
		conn_queuef(&s->backend, BTAG_CAPA " CAPABILITY\r\n");
		conn_flush(&s->backend);
		l->bstate = BL_CAPA;
		return 0;
	case BL_CAPA:
		if (tagged(p, len, BTAG_CAPA, &rest))
			backend_send_auth(s);
		return 0;
	case BL_AUTH:
		if (len >= 1 && p[0] == '+') {
			/* AUTHENTICATE without SASL-IR: the data now */
			send_plain(s, "");
			return 0;
		}
		if (!tagged(p, len, BTAG_AUTH, &rest))
			return 0;
		if (strncasecmp(rest, "OK", 2) == 0) {
			if (imap_find_capcode(p, len, &cs, &ce))
				set_caps(&l->caps, p + cs, ce - cs);
			return 1;
		}
		rest += rest[0] == 'N' || rest[0] == 'n' ? 3 : 4;
		if (rest > p + len)
			rest = p + len;
		/* the backend's own words: [AUTHENTICATIONFAILED] and so on */
		conn_queuef(&s->client, "%s NO %.*s\r\n", s->tag,
		    (int)(p + len - rest), rest);
		backend_fail(s, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Send prefix + base64(NUL user NUL password) (RFC 4616), then wipe. */
static void
send_plain(struct session *s, const char *prefix)
{
	struct login	*l = s->login;
	char		 raw[IMAPX_USER_MAX + PASS_MAX + 2];
	char		 b64[sizeof(raw) * 4 / 3 + 8];
	size_t		 ul = strlen(l->user);

	raw[0] = '\0';
	memcpy(raw + 1, l->user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, l->pass, l->passlen);
	sodium_bin2base64(b64, sizeof(b64), (unsigned char *)raw,
	    ul + 2 + l->passlen, sodium_base64_VARIANT_ORIGINAL);
	conn_queuef(&s->backend, "%s%s\r\n", prefix, b64);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(b64, sizeof(b64));
	sodium_memzero(l->pass, sizeof(l->pass));
}

static void
backend_send_auth(struct session *s)
{
	struct login	*l = s->login;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char		 laddr[64] = "", qu[IMAPX_USER_MAX * 2 + 3];
	char		 qp[PASS_MAX * 2 + 3];
	size_t		 ul;
	int		 lport = 0;

	if (l->be->flags & BACKEND_FORWARD_ID) {
		if (s->laddr.ss_family == AF_INET) {
			sin = (struct sockaddr_in *)&s->laddr;
			inet_ntop(AF_INET, &sin->sin_addr, laddr, sizeof(laddr));
			lport = ntohs(sin->sin_port);
		} else if (s->laddr.ss_family == AF_INET6) {
			sin6 = (struct sockaddr_in6 *)&s->laddr;
			inet_ntop(AF_INET6, &sin6->sin6_addr, laddr,
			    sizeof(laddr));
			lport = ntohs(sin6->sin6_port);
		}
		conn_queuef(&s->backend, BTAG_ID " ID (\"x-originating-ip\" "
		    "\"%s\" \"x-originating-port\" \"%d\" \"x-connected-ip\" "
		    "\"%s\" \"x-connected-port\" \"%d\" \"x-session-ext-id\" "
		    "\"imapx-%llu\")\r\n", s->addrstr, s->port, laddr, lport,
		    (unsigned long long)s->id);
	}
	l->bstate = BL_AUTH;
	ul = strlen(l->user);
	if (has_cap(l->caps, "AUTH=PLAIN") || l->caps == NULL) {
		if (has_cap(l->caps, "SASL-IR"))
			send_plain(s, BTAG_AUTH " AUTHENTICATE PLAIN ");
		else
			conn_queuef(&s->backend, BTAG_AUTH
			    " AUTHENTICATE PLAIN\r\n");
	} else if (imap_quote(l->user, qu, sizeof(qu)) == 0 &&
	    imap_quote(l->pass, qp, sizeof(qp)) == 0) {
		conn_queuef(&s->backend, BTAG_AUTH " LOGIN %s %s\r\n", qu, qp);
		sodium_memzero(qp, sizeof(qp));
		sodium_memzero(l->pass, sizeof(l->pass));
	} else if (has_cap(l->caps, "LITERAL+")) {
		conn_queuef(&s->backend, BTAG_AUTH " LOGIN {%zu+}\r\n", ul);
		conn_queue(&s->backend, l->user, ul);
		conn_queuef(&s->backend, " {%zu+}\r\n", l->passlen);
		conn_queue(&s->backend, l->pass, l->passlen);
		conn_queue(&s->backend, "\r\n", 2);
		sodium_memzero(l->pass, sizeof(l->pass));
	} else {
		backend_fail(s, "[UNAVAILABLE]", "Cannot pass these "
		    "credentials to the backend");
		return;
	}
	conn_flush(&s->backend);
}

/* Give up on the backend; the client stays connected, not logged in. */
static void
backend_fail(struct session *s, const char *code, const char *text)
{
	conn_close(&s->backend);
	s->backend.fd = -1;
	login_free(s);
	s->state = S_PRELOGIN;
	if (text != NULL) {
		conn_queuef(&s->client, "%s NO %s %s\r\n", s->tag, code, text);
		conn_flush(&s->client);
	}
	conn_pause(&s->client, 0);
}

/* The backend took the credentials; its last capability list stands. */
static void
backend_success(struct session *s)
{
	struct imsg_user	 u;
	char			 canon[IMAPX_USER_MAX];

	s->bcaps = s->login->caps;
	s->login->caps = NULL;
	s->be = s->login->be;
	if (canon_user(s->login->user, s->conf->domain, canon,
	    sizeof(canon)) == -1)
		strlcpy(canon, s->login->user, sizeof(canon));
	if ((s->user = strdup(canon)) == NULL)
		fatal("%s", __func__);
	s->backend.flags &= ~CONN_SECRET;
	login_free(s);
	if (s->conf->limits.max_user_sessions == 0) {
		login_done(s);
		return;
	}
	s->state = S_USERCHECK;
	memset(&u, 0, sizeof(u));
	u.id = s->id;
	strlcpy(u.user, s->user, sizeof(u.user));
	if (imsg_compose(ibuf_parent, IMSG_USER_LOGIN, 0, 0, -1, &u,
	    sizeof(u)) == -1)
		fatal("imsg_compose");
	imsgbuf_flush(ibuf_parent);
}

void
login_user_reply(struct session *s, int ok, const char *reason)
{
	if (s->state != S_USERCHECK)
		return;
	if (ok) {
		login_done(s);
		return;
	}
	log_info("session %llu: user %s refused: %s",
	    (unsigned long long)s->id, s->user, reason);
	free(s->user);
	s->user = NULL;
	free(s->bcaps);
	s->bcaps = NULL;
	conn_queuef(&s->backend, "x9 LOGOUT\r\n");
	conn_flush(&s->backend);
	backend_fail(s, "[LIMIT]", reason);
}

static void
login_done(struct session *s)
{
	char	*caps;
	size_t	 n, max;

	max = (s->bcaps ? strlen(s->bcaps) : 0) + 512;
	if ((caps = malloc(max)) == NULL)
		fatal("%s", __func__);
	n = proxy_caps_rewrite(s, s->bcaps ? s->bcaps : "IMAP4rev1",
	    s->bcaps ? strlen(s->bcaps) : 9, caps, max);
	if (n == (size_t)-1)
		strlcpy(caps, "IMAP4rev1", max);
	conn_queuef(&s->client, "%s OK [CAPABILITY ", s->tag);
	conn_queue(&s->client, caps, strlen(caps));
	conn_queuef(&s->client, "] Logged in\r\n");
	free(caps);
	/* nothing per session keeps the list after this, but a flag */
	if (has_cap(s->bcaps, "LITERAL+"))
		s->bflags |= BCAP_LITERALPLUS;
	free(s->bcaps);
	s->bcaps = NULL;
	log_info("session %llu: %s logged in from %s", (unsigned long long)s->id,
	    s->user, s->addrstr);
	proxy_start(s);
}

static void
set_caps(char **dst, const char *p, size_t len)
{
	free(*dst);
	if ((*dst = strndup(p, len)) == NULL)
		fatal("%s", __func__);
}

static int
has_cap(const char *caps, const char *cap)
{
	size_t		 n = strlen(cap);
	const char	*p = caps;

	while (p != NULL && *p != '\0') {
		if (strncasecmp(p, cap, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	}
	return 0;
}
