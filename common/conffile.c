/*
 * Shared configuration file reading: the file stack, macros and the lexer
 * that OpenBSD daemons copy into each parse.y, written once.  See
 * conffile.h for how a grammar uses it.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "log.h"

/*
 * Markers around a macro's value in the unget buffer: outside the range
 * of characters so no byte of a file can be taken for one.
 */
#define START_EXPAND	0x101
#define DONE_EXPAND	0x102

struct file {
	TAILQ_ENTRY(file)	 entry;
	FILE			*stream;
	char			*name;
	int			 lineno;
	int			 newline;	/* '\n' returned, count it next */
	int			 eof_reached;	/* the final '\n' was faked */
	int			 secret;	/* check permissions */
	int			 depth;		/* include nesting */
	struct file		*parent;	/* that included this one */
	dev_t			 dev;		/* to refuse include loops */
	ino_t			 ino;
	int			*ungetbuf;
	size_t			 ungetpos;
	size_t			 ungetsize;
};
TAILQ_HEAD(filelist, file);

struct sym {
	TAILQ_ENTRY(sym)	 entry;
	int			 used;
	int			 persist;	/* -D: a file cannot change it */
	char			*name;
	char			*value;
};
TAILQ_HEAD(symlist, sym);

/* Strings handed out in tokens, freed by conffile_close(). */
struct keptstr {
	SLIST_ENTRY(keptstr)	 entry;
	char			 s[];
};
SLIST_HEAD(keptlist, keptstr);

static struct filelist	 files = TAILQ_HEAD_INITIALIZER(files);
static struct file	*curfile;
static struct symlist	 syms = TAILQ_HEAD_INITIALIZER(syms);
static struct keptlist	 kept = SLIST_HEAD_INITIALIZER(kept);
static int		 errors;
static int		 expanding;	/* inside a macro's value */
static int		 lexerr;	/* the last token was CONFFILE_ERROR */

/* The statement being read, to name an unknown keyword. */
static int		 stmt_ntokens;
static int		 stmt_done;
static char		 stmt_unknown[64];

static struct file	*openfile(const char *, int, struct file *);
static void		 popfile(void);
static void		 count_newline(struct file *);
static int		 igetc(void);
static int		 lgetc(void);
static void		 unget(struct file *, int);
static void		 lungetc(int);
static int		 findeol(void);
static int		 lex_error(const char *, ...)
			    __attribute__((__format__ (printf, 1, 2)));
static int		 lex_quoted(int, struct conffile_token *);
static int		 lex_word(int, struct conffile_token *);
static int		 lex_number(const char *, struct conffile_token *);
static int		 expand_macro(void);
static int		 isword(int);
static int		 isnumeric(const char *);
static char		*keepstr(const char *);
static int		 valid_macro_name(const char *);

/*
 * Files
 */

int
conffile_open(const char *path, int secret)
{
	struct file	*f;

	errors = 0;
	expanding = 0;
	lexerr = 0;
	stmt_ntokens = 0;
	stmt_done = 0;
	stmt_unknown[0] = '\0';
	if ((f = openfile(path, secret, NULL)) == NULL) {
		if (errno != 0)
			log_warn("%s", path);
		return (-1);
	}
	f->lineno = 1;
	TAILQ_INSERT_TAIL(&files, f, entry);
	curfile = f;
	return (0);
}

/*
 * Stack every file the pattern matches so that they are read in sorted
 * order, then the rest of the including file.  A pattern with glob
 * characters that matches nothing includes nothing; a plain name that does
 * not exist is an error.  Each file starts with a '\n' that ends the
 * include statement (which is why its line count starts at 0).
 */
int
conffile_include(const char *pattern)
{
	struct file	*parent = curfile, *f;
	glob_t		 g;
	size_t		 i;
	int		 rv = 0;

	if (parent->depth >= CONFFILE_MAX_DEPTH) {
		conffile_error("include %s: nested too deeply", pattern);
		return (-1);
	}

	memset(&g, 0, sizeof(g));
	switch (glob(pattern, GLOB_NOMAGIC, NULL, &g)) {
	case 0:
		break;
	case GLOB_NOMATCH:
		globfree(&g);
		return (0);
	case GLOB_NOSPACE:
		fatal("%s: glob", __func__);
	default:
		conffile_error("include %s: cannot read the directory",
		    pattern);
		globfree(&g);
		return (-1);
	}

	/* The stack is read from its tail: the first match goes last. */
	for (i = 0; i < g.gl_pathc; i++) {
		if ((f = openfile(g.gl_pathv[i], parent->secret,
		    parent)) == NULL) {
			if (errno != 0)
				conffile_error("include %s: %s",
				    g.gl_pathv[i], strerror(errno));
			rv = -1;
			continue;
		}
		f->lineno = 0;
		unget(f, '\n');
		TAILQ_INSERT_AFTER(&files, parent, f, entry);
	}
	curfile = TAILQ_LAST(&files, filelist);
	globfree(&g);
	return (rv);
}

/*
 * Close every file, drop the file's macros (the -D ones stay for the next
 * reload) and the strings of all tokens.  Returns the number of errors.
 */
int
conffile_close(void)
{
	struct sym	*sym, *next;
	struct keptstr	*ks;

	while (curfile != NULL)
		popfile();

	TAILQ_FOREACH_SAFE(sym, &syms, entry, next) {
		if (!sym->used)
			log_debug("macro %s not used", sym->name);
		sym->used = 0;
		if (sym->persist)
			continue;
		TAILQ_REMOVE(&syms, sym, entry);
		free(sym->name);
		free(sym->value);
		free(sym);
	}

	while ((ks = SLIST_FIRST(&kept)) != NULL) {
		SLIST_REMOVE_HEAD(&kept, entry);
		free(ks);
	}
	return (errors);
}

/*
 * A file that may hold secrets must belong to root or to us and must not
 * be readable or writable by anyone else.
 */
int
conffile_check_secrecy(int fd, const char *fname)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		log_warn("cannot stat %s", fname);
		return (-1);
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_warnx("%s: owner not root or current user", fname);
		return (-1);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_warnx("%s: group or others have access (mode %03o)",
		    fname, (unsigned int)(st.st_mode & 0777));
		return (-1);
	}
	return (0);
}

/*
 * Open a file, not yet on the stack.  Returns NULL with errno set (the
 * caller reports it), or with errno 0 when the problem was reported and
 * counted here.
 */
static struct file *
openfile(const char *name, int secret, struct file *parent)
{
	struct file	*f, *p;
	struct stat	 st;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->name = strdup(name)) == NULL)
		fatal("%s", __func__);
	if ((f->stream = fopen(name, "re")) == NULL)
		goto fail;
	if (fstat(fileno(f->stream), &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	for (p = parent; p != NULL; p = p->parent)
		if (p->dev == st.st_dev && p->ino == st.st_ino) {
			conffile_error("include %s: includes itself", name);
			errno = 0;
			goto fail;
		}
	if (secret && conffile_check_secrecy(fileno(f->stream), name) == -1) {
		errors++;
		errno = 0;
		goto fail;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->secret = secret;
	f->parent = parent;
	f->depth = parent != NULL ? parent->depth + 1 : 0;
	return (f);

 fail:
	if (f->stream != NULL) {
		int	saved_errno = errno;

		fclose(f->stream);
		errno = saved_errno;
	}
	free(f->name);
	free(f);
	return (NULL);
}

static void
popfile(void)
{
	struct file	*f = curfile;

	curfile = TAILQ_PREV(f, filelist, entry);
	TAILQ_REMOVE(&files, f, entry);
	fclose(f->stream);
	free(f->name);
	free(f->ungetbuf);
	free(f);
	if (curfile != NULL)
		count_newline(curfile);
}

/*
 * A '\n' token is counted when the next token is read, not when it is
 * returned: yacc often reads the '\n' before it runs the statement's
 * action, and an error there belongs to the statement's line.
 */
static void
count_newline(struct file *f)
{
	if (f->newline) {
		f->lineno++;
		f->newline = 0;
	}
}

/*
 * Characters
 */

/* The next character of this file, from the unget buffer first. */
static int
igetc(void)
{
	int	c;

	for (;;) {
		if (curfile->ungetpos > 0)
			c = curfile->ungetbuf[--curfile->ungetpos];
		else
			c = getc(curfile->stream);
		if (c == START_EXPAND)
			expanding = 1;
		else if (c == DONE_EXPAND)
			expanding = 0;
		else
			return (c);
	}
}

/*
 * The next character of the configuration: a backslash at the end of a
 * line joins it to the next, a missing final newline is supplied, and at
 * the end of an included file reading goes on in the one that included it.
 */
static int
lgetc(void)
{
	int	c, next;

	for (;;) {
		c = igetc();
		if (c == '\\') {
			if ((next = igetc()) == '\n') {
				curfile->lineno++;
				continue;
			}
			lungetc(next);
			return (c);
		}
		if (c != EOF)
			return (c);
		if (!curfile->eof_reached) {
			curfile->eof_reached = 1;
			return ('\n');
		}
		if (curfile == TAILQ_FIRST(&files))
			return (EOF);
		popfile();
	}
}

static void
lungetc(int c)
{
	unget(curfile, c);
}

static void
unget(struct file *f, int c)
{
	int	*p;
	size_t	 n;

	if (c == EOF)
		return;
	if (f->ungetpos >= f->ungetsize) {
		n = f->ungetsize == 0 ? 64 : f->ungetsize * 2;
		if ((p = reallocarray(f->ungetbuf, n, sizeof(*p))) == NULL)
			fatal("%s", __func__);
		f->ungetbuf = p;
		f->ungetsize = n;
	}
	f->ungetbuf[f->ungetpos++] = c;
}

/* Skip the rest of the line but leave its '\n' to end the statement. */
static int
findeol(void)
{
	int	c;

	while ((c = lgetc()) != '\n' && c != EOF)
		;	/* nothing */
	lungetc(c);
	lexerr = 1;
	return (CONFFILE_ERROR);
}

/*
 * Tokens
 */

int
conffile_lex(struct conffile_token *t)
{
	int	c;

	memset(t, 0, sizeof(*t));
	count_newline(curfile);
	lexerr = 0;

 top:
	/* '\r' too: a file from elsewhere may end its lines with "\r\n". */
	while ((c = lgetc()) == ' ' || c == '\t' || c == '\r')
		;	/* nothing */
	t->lineno = curfile->lineno;

	if (c == '#') {
		/* Read raw: a backslash ending a comment continues nothing. */
		while ((c = igetc()) != '\n' && c != EOF)
			;	/* nothing */
		if (c == EOF)
			c = lgetc();
	}

	if (c == '$' && !expanding) {
		if (expand_macro() == -1)
			c = findeol();
		else
			goto top;
	} else if (c == '"' || c == '\'')
		c = lex_quoted(c, t);
	else if (isword(c))
		c = lex_word(c, t);
	else if (c == EOF)
		c = 0;

	if (stmt_done) {
		stmt_ntokens = 0;
		stmt_unknown[0] = '\0';
		stmt_done = 0;
	}
	stmt_ntokens++;
	if (c == '\n') {
		curfile->newline = 1;
		stmt_done = 1;
	}
	return (c);
}

/* Returns the keyword's token, or -1.  Tables are short: any order. */
int
conffile_keyword(const char *word, const struct conffile_keyword *kw,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(word, kw[i].word) == 0)
			return (kw[i].token);
	if (stmt_ntokens == 1)
		strlcpy(stmt_unknown, word, sizeof(stmt_unknown));
	return (-1);
}

static int
lex_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	conffile_verror(fmt, ap);
	va_end(ap);
	return (findeol());
}

/*
 * A quoted string ends on its line: a missing closing quote is reported
 * where it is missing.  Backslash escapes the quote, a backslash and the
 * end of the line; before anything else it stays as written.
 */
static int
lex_quoted(int quote, struct conffile_token *t)
{
	char	 buf[CONFFILE_STRING_MAX];
	size_t	 len = 0;
	int	 c, next;

	for (;;) {
		c = igetc();
		if (c == '\n' || c == EOF) {
			lungetc(c);
			return (lex_error("missing closing quote"));
		}
		if (c == quote)
			break;
		if (c == '\0')
			return (lex_error("NUL character in string"));
		if (c == '\\') {
			next = igetc();
			if (next == '\n') {
				curfile->lineno++;
				continue;
			}
			if (next == quote || next == '\\')
				c = next;
			else
				lungetc(next);
		}
		if (len + 1 >= sizeof(buf))
			return (lex_error("string too long"));
		buf[len++] = c;
	}
	buf[len] = '\0';
	t->string = keepstr(buf);
	return (CONFFILE_STRING);
}

static int
lex_word(int c, struct conffile_token *t)
{
	char	 buf[CONFFILE_STRING_MAX];
	size_t	 len = 0;

	do {
		if (len + 1 >= sizeof(buf))
			return (lex_error("word too long"));
		buf[len++] = c;
	} while (isword(c = lgetc()));
	lungetc(c);
	buf[len] = '\0';

	if (isnumeric(buf))
		return (lex_number(buf, t));
	t->string = keepstr(buf);
	return (CONFFILE_WORD);
}

/*
 * "1143", "-1", "64K": an integer with an optional K, M or G for 1024,
 * 1024^2, 1024^3.  Any other letters after the digits are an error, not
 * a word, so "64KB" does not turn into a confusing syntax error.
 */
static int
lex_number(const char *word, struct conffile_token *t)
{
	char		 digits[64];
	const char	*errstr, *suffix;
	long long	 n, scale;

	suffix = word + strspn(word, "-0123456789");
	if ((size_t)(suffix - word) >= sizeof(digits))
		return (lex_error("number %s is too large", word));
	if (strlen(suffix) > 1)
		return (lex_error("invalid number %s (suffix K, M or G)",
		    word));
	switch (*suffix) {
	case '\0':
		scale = 1;
		break;
	case 'K': case 'k':
		scale = 1024LL;
		break;
	case 'M': case 'm':
		scale = 1024LL * 1024;
		break;
	case 'G': case 'g':
		scale = 1024LL * 1024 * 1024;
		break;
	default:
		return (lex_error("invalid number %s (suffix K, M or G)",
		    word));
	}
	memcpy(digits, word, suffix - word);
	digits[suffix - word] = '\0';
	n = strtonum(digits, LLONG_MIN, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return (lex_error("number %s is %s", word, errstr));
	if (n > LLONG_MAX / scale || n < LLONG_MIN / scale)
		return (lex_error("number %s is too large", word));
	t->number = n * scale;
	return (CONFFILE_NUMBER);
}

/* Digits, or digits with letters after them; "-" alone is a word. */
static int
isnumeric(const char *s)
{
	if (*s == '-')
		s++;
	if (!isdigit((unsigned char)*s))
		return (0);
	while (isdigit((unsigned char)*s))
		s++;
	while (isalpha((unsigned char)*s))
		s++;
	return (*s == '\0');
}

/*
 * Words are runs of printable characters up to white space, a quote, a
 * comment or the punctuation a grammar may use on its own.
 */
static int
isword(int c)
{
	if (c == EOF || c < 0 || c > UCHAR_MAX || !isgraph(c))
		return (0);
	return (strchr("\"'#$=,;(){}<>!", c) == NULL);
}

/* "$name": push the macro's value back to be read as input. */
static int
expand_macro(void)
{
	char		 name[64];
	const char	*val, *p;
	size_t		 len = 0;
	int		 c;

	while ((c = igetc()) != EOF && (isalnum(c) || c == '_')) {
		if (len + 1 >= sizeof(name)) {
			conffile_error("macro name too long");
			return (-1);
		}
		name[len++] = c;
	}
	lungetc(c);
	name[len] = '\0';
	if (len == 0) {
		conffile_error("missing macro name after '$'");
		return (-1);
	}
	if ((val = conffile_symget(name)) == NULL) {
		conffile_error("macro '%s' not defined", name);
		return (-1);
	}
	lungetc(DONE_EXPAND);
	for (p = val + strlen(val); p > val; )
		lungetc((unsigned char)*--p);
	lungetc(START_EXPAND);
	return (0);
}

static char *
keepstr(const char *s)
{
	struct keptstr	*ks;
	size_t		 len = strlen(s) + 1;

	if ((ks = malloc(sizeof(*ks) + len)) == NULL)
		fatal("%s", __func__);
	memcpy(ks->s, s, len);
	SLIST_INSERT_HEAD(&kept, ks, entry);
	return (ks->s);
}

/*
 * Errors
 */

void
conffile_error(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	conffile_verror(fmt, ap);
	va_end(ap);
}

/*
 * "file:line: message".  yacc says "syntax error" about any token it did
 * not expect: after a lexer error that only repeats it, and for a first
 * word that is no keyword the real problem can be named.
 */
void
conffile_verror(const char *fmt, va_list ap)
{
	char	msg[1024];

	if (curfile == NULL)
		fatalx("%s: no file open", __func__);
	if (strcmp(fmt, "syntax error") == 0) {
		if (lexerr)
			return;
		errors++;
		if (stmt_ntokens == 2 && stmt_unknown[0] != '\0')
			log_warnx("%s:%d: unknown keyword '%s'", curfile->name,
			    curfile->lineno, stmt_unknown);
		else
			log_warnx("%s:%d: syntax error", curfile->name,
			    curfile->lineno);
		return;
	}
	errors++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_warnx("%s:%d: %s", curfile->name, curfile->lineno, msg);
}

const char *
conffile_name(void)
{
	return (curfile != NULL ? curfile->name : NULL);
}

int
conffile_lineno(void)
{
	return (curfile != NULL ? curfile->lineno : 0);
}

/*
 * Macros
 */

static int
valid_macro_name(const char *name)
{
	const char	*p;

	if (*name == '\0')
		return (0);
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return (0);
	return (1);
}

/*
 * Define or redefine a macro; a persistent one (-D) wins over a file's.
 * Returns -1 for a name that $name could never expand.
 */
int
conffile_symset(const char *name, const char *value, int persist)
{
	struct sym	*sym;

	if (!valid_macro_name(name))
		return (-1);
	TAILQ_FOREACH(sym, &syms, entry)
		if (strcmp(name, sym->name) == 0)
			break;
	if (sym != NULL) {
		if (sym->persist && !persist)
			return (0);
		TAILQ_REMOVE(&syms, sym, entry);
		free(sym->name);
		free(sym->value);
		free(sym);
	}

	if ((sym = calloc(1, sizeof(*sym))) == NULL ||
	    (sym->name = strdup(name)) == NULL ||
	    (sym->value = strdup(value)) == NULL)
		fatal("%s", __func__);
	sym->persist = persist;
	TAILQ_INSERT_TAIL(&syms, sym, entry);
	return (0);
}

const char *
conffile_symget(const char *name)
{
	struct sym	*sym;

	TAILQ_FOREACH(sym, &syms, entry)
		if (strcmp(name, sym->name) == 0) {
			sym->used = 1;
			return (sym->value);
		}
	return (NULL);
}

/* -D name=value */
int
conffile_cmdline_symset(const char *arg)
{
	char	*name, *eq;
	int	 rv;

	if ((eq = strchr(arg, '=')) == NULL)
		return (-1);
	if ((name = strndup(arg, eq - arg)) == NULL)
		fatal("%s", __func__);
	rv = conffile_symset(name, eq + 1, 1);
	free(name);
	return (rv);
}
