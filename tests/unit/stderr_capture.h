/* Unit-test helper: capture what a test writes to stderr (fd 2, so the
 * log of the code under test too).  stderr goes to a temporary file
 * between capture_begin() and capture_end(), which returns what was
 * written (the caller frees it).  One capture at a time.  Header-only:
 * every test is one cmocka executable.
 */
#ifndef FSC_TEST_STDERR_CAPTURE_H
#define FSC_TEST_STDERR_CAPTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static FILE *capture_file;
static int saved_stderr = -1;

static void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), 2) >= 0);
}

static char *capture_end(void)
{
	long len;
	char *text;

	fflush(stderr);
	assert_true(dup2(saved_stderr, 2) >= 0);
	close(saved_stderr);
	saved_stderr = -1;
	len = ftell(capture_file);
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	rewind(capture_file);
	assert_int_equal(fread(text, 1, (size_t)len, capture_file), (size_t)len);
	fclose(capture_file);
	capture_file = NULL;
	return text;
}

#endif
