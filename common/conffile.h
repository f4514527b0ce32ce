/*
 * The part of an OpenBSD parse.y that every configuration grammar shares:
 * the stack of files with `include "pattern"`, macros (`name = "value"`,
 * `$name`, -D name=value), the lexer's character reader and the file
 * permission check.  A grammar keeps only its keyword table, its yacc
 * rules and a short yylex():
 *
 *	int
 *	yylex(void)
 *	{
 *		struct conffile_token	t;
 *		int			c;
 *
 *		switch (c = conffile_lex(&t)) {
 *		case CONFFILE_WORD:
 *			if ((c = conffile_keyword(t.string, keywords,
 *			    nitems(keywords))) != -1)
 *				return (c);
 *			yylval.v.string = t.string;
 *			return (STRING);
 *		case CONFFILE_STRING:
 *			yylval.v.string = t.string;
 *			return (STRING);
 *		case CONFFILE_NUMBER:
 *			yylval.v.number = t.number;
 *			return (NUMBER);
 *		case CONFFILE_ERROR:
 *			return (ERROR);
 *		default:
 *			return (c);	(0 at the end, or a character: '\n', '=')
 *		}
 *	}
 *
 * with the rules `grammar error '\n' { yyerrok; }`, `include : INCLUDE
 * STRING { conffile_include($2); }` and `varset : STRING '=' STRING {
 * conffile_symset($1, $3, 0) }`; yyerror() passes its arguments on to
 * conffile_verror().  Strings in tokens belong to conffile and stay valid
 * until conffile_close(): a grammar never frees them (so nothing leaks when
 * yacc discards tokens after an error) and copies what it keeps.
 *
 * One file is parsed at a time per process; the state is file-static.
 */
#ifndef IMAPX_CONFFILE_H
#define IMAPX_CONFFILE_H

#include <stdarg.h>
#include <stddef.h>

/* What conffile_lex() returns besides 0 (end) and single characters. */
#define CONFFILE_WORD		256	/* unquoted: keyword, host, name */
#define CONFFILE_STRING		257	/* "quoted" or 'quoted' */
#define CONFFILE_NUMBER		258	/* 1143, -1, 64K, 64M, 1G */
#define CONFFILE_ERROR		259	/* reported; rest of line skipped */

#define CONFFILE_MAX_DEPTH	16	/* include nesting */
#define CONFFILE_STRING_MAX	8192	/* longest word or string */

struct conffile_token {
	char		*string;	/* WORD, STRING; owned by conffile */
	long long	 number;	/* NUMBER */
	int		 lineno;	/* where the token starts */
};

struct conffile_keyword {
	const char	*word;
	int		 token;
};

/*
 * Files.  conffile_open() starts a parse (secret: refuse files, included
 * ones too, that others could read); conffile_include() is the include
 * statement; conffile_close() ends the parse and returns the number of
 * errors reported.  -1 means failure, already logged.
 */
int		 conffile_open(const char *, int);
int		 conffile_include(const char *);
int		 conffile_close(void);
int		 conffile_check_secrecy(int, const char *);

/*
 * Lexer and errors.  conffile_keyword() maps a word through a grammar's
 * table (any order), -1 if it is none.  conffile_error() logs
 * "file:line: message" for the statement being read and counts it.
 */
int		 conffile_lex(struct conffile_token *);
int		 conffile_keyword(const char *, const struct conffile_keyword *,
		    size_t);
void		 conffile_error(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));
void		 conffile_verror(const char *, va_list)
		    __attribute__((__format__ (printf, 1, 0)));
const char	*conffile_name(void);
int		 conffile_lineno(void);

/*
 * Macros.  conffile_symset(name, value, persist) returns -1 for a name
 * that is not letters, digits and '_'; a persistent (-D) macro is not
 * changed by a later non-persistent definition and outlives
 * conffile_close().  conffile_cmdline_symset() takes "name=value".
 */
int		 conffile_symset(const char *, const char *, int);
const char	*conffile_symget(const char *);
int		 conffile_cmdline_symset(const char *);

#endif
