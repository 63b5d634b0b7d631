/* Text helpers shared by the parts of `fabscope accept` (src/accept.h):
 * sizes as a spec writes them, figures to three significant digits, and
 * appending to a fixed buffer.  Every function cuts at `len` (a result is
 * always terminated) and never fails. */
#ifndef FSC_ACCEPT_TEXT_H
#define FSC_ACCEPT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Sizes as the spec writes them: 8B, 64K, 1M, 2G (x1024; the largest
 * unit that divides b exactly). */
void fsc_accept_fmt_size(char *buf, size_t len, uint64_t b);

/* Three significant digits without exponents for ordinary figures
 * (1234, 123.4, 12.34, 1.23, 0.00123); "n/a" for NAN. */
void fsc_accept_fmt_num(char *buf, size_t len, double v);

/* printf onto the end of the string in buf (len bytes in all); nothing
 * when buf is already full. */
void fsc_accept_appendf(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#endif
