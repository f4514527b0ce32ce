/*
 * LeakSanitizer settings every atf-c test program needs in the sanitizer
 * build.  Include it once, from the test program's one .c file: it
 * defines the two hooks LSan looks up at start.
 */
#ifndef REGRESS_ATF_LSAN_H
#define REGRESS_ATF_LSAN_H

#ifdef IMAPX_SANITIZE
const char	*__lsan_default_options(void);
const char	*__lsan_default_suppressions(void);

/*
 * libatf-c leaks its list of test cases when kyua asks for it (-l), and
 * kyua wants a silent stderr then.  Only atf-c's own allocations are let
 * through, so a leak in a test still fails it.
 */
const char *
__lsan_default_options(void)
{
	return "print_suppressions=0";
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:atf_tp_get_tcs\n"
	    "leak:atf_list_init\n"
	    "leak:atf_list_append\n"
	    "leak:atf_map_insert\n"
	    "leak:atf_map_init_charpp\n";
}
#endif

#endif
