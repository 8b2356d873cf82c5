/* SPDX-License-Identifier: MIT */
/*
 * test_runner.c - settings of the whole Criterion runner, not of one suite.
 */
#include <criterion/criterion.h>

/*
 * Under LeakSanitizer, Criterion 2.4.1's runner process reports a leak of
 * its own (48 bytes from a calloc inside libcriterion, in some runs with
 * two jobs or more, never with -j1), which makes a run where every test
 * passed exit with status 1.  Leaks with a libcriterion frame are
 * suppressed for that reason.  This also hides leaks that a test's own
 * process reports (their stacks pass through libcriterion too), which
 * never affected the runner's status: they were only printed.  Weak, so
 * that another test file linked into the same runner may define the hook.
 */
const char *__lsan_default_suppressions(void);
__attribute__((weak)) const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

/* ...and quietly, so that the suite's summary stays its last line. */
const char *__lsan_default_options(void);
__attribute__((weak)) const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
