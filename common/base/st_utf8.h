/*  st_utf8.h: the one place Strata decides what a string's bytes may be.
 *
 *  Text that crosses a boundary (a worker's message, a path in a job's spec, a
 *  hostname, a label) is UTF-8 by contract but not by proof: protobuf-c packs
 *  and unpacks string fields without checking them, and snprintf cuts a
 *  string at a byte count, mid-character. Anything that goes on into JSON or
 *  PostgreSQL (both refuse invalid UTF-8) passes through here first:
 *
 *    - cuts never split a character (st_utf8_cut, st_utf8_copy, st_utf8_fmt);
 *    - every byte that does not begin a valid character (RFC 3629: no stray
 *      continuation bytes, overlongs, surrogates, code points past U+10FFFF or
 *      characters cut short) becomes U+FFFD, one replacement per bad byte
 *      (st_utf8_scrub and everything built on it).
 *
 *  Strings here are NUL-terminated unless a length is given; a NUL always ends
 *  the text. */
#ifndef ST_UTF8_H
#define ST_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*  U+FFFD REPLACEMENT CHARACTER, 3 bytes.  */
#define ST_UTF8_REPLACEMENT "\xEF\xBF\xBD"
#define ST_UTF8_REPLACEMENT_LEN 3

/*  Length of the valid UTF-8 character at p (at most avail bytes), 0 when the
 *  bytes are not one: stray continuation or overlong bytes, surrogates, code
 *  points past U+10FFFF, or a character cut short.  */
size_t st_utf8_char (const unsigned char *p, size_t avail);

/*  The len bytes at text are valid UTF-8 (NUL counts as a character here).  */
bool st_utf8_valid (const char *text, size_t len);

/*  The longest length <= max that does not end inside a multi-byte character
 *  of text (len bytes). Counts back over continuation bytes only, so it works
 *  on invalid text too.  */
size_t st_utf8_cut (const char *text, size_t len, size_t max);

/*  Receives text in order: runs of valid UTF-8 (never split inside a
 *  character), and ST_UTF8_REPLACEMENT for each bad byte. Returns 0 to go on,
 *  non-zero to stop.  */
typedef int (*st_utf8_sink_fn) (void *arg, const char *run, size_t n);

/*  Walks the len bytes at text (a NUL among them ends the text; SIZE_MAX for a
 *  NUL-terminated string read in one pass) and hands them to sink as described
 *  above. Returns the number of bytes replaced, or -1 when
 *  the sink stopped early.  */
long st_utf8_scrub (const char *text, size_t len, st_utf8_sink_fn sink, void *arg);

/*  Copies text into dst (size bytes, NUL included), bad bytes replaced, and
 *  stops before the first character or replacement that would not fit. dst
 *  is always NUL-terminated when size > 0; text NULL copies "". Returns the
 *  length written.  */
size_t st_utf8_copy (char *dst, size_t size, const char *text);

/*  snprintf into dst (size bytes) whose result is valid UTF-8: the formatted
 *  text is scrubbed and, when too long, cut before the character that does
 *  not fit (st_utf8_copy). Returns the length written.  */
size_t st_utf8_fmt (char *dst, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
size_t st_utf8_vfmt (char *dst, size_t size, const char *fmt, va_list ap) __attribute__ ((format (printf, 3, 0)));

/*  A valid UTF-8 copy of text, bad bytes replaced (caller frees); NULL only
 *  without memory. text NULL gives "".  */
char *st_utf8_dup (const char *text);

#endif
