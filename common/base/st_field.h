/*  st_field.h: the one validator for names and words read from people: job
 *  specs, the cluster file, the simulator's files.
 *
 *  A field is 1..max bytes of valid UTF-8 with no NUL, every character in the
 *  rule's classes or its extra punctuation. A value shown back in a message is
 *  shortened with st_utf8_cut, which never splits a character. */
#ifndef ST_FIELD_H
#define ST_FIELD_H

#include <stdbool.h>
#include <stddef.h>

#include "st_utf8.h" /*  st_utf8_char, st_utf8_valid, st_utf8_cut  */

enum {
    ST_FIELD_LOWER = 1u << 0, /*  a-z  */
    ST_FIELD_UPPER = 1u << 1, /*  A-Z  */
    ST_FIELD_DIGIT = 1u << 2, /*  0-9  */
    ST_FIELD_ANY = 1u << 3,   /*  any character (still valid UTF-8, no NUL)  */
    ST_FIELD_ALNUM = ST_FIELD_LOWER | ST_FIELD_UPPER | ST_FIELD_DIGIT,
};

typedef struct {
    size_t max;        /*  bytes; 0: no limit  */
    unsigned classes;  /*  ST_FIELD_* bits  */
    const char *extra; /*  ASCII punctuation allowed besides the classes, or NULL  */
} st_field_t;

/*  Names: 1..max of letters, digits, '.', '_', '-' (a job's name, a pool's, a tenant's).  */
#define ST_FIELD_NAME(max)           \
    {                                \
        (max), ST_FIELD_ALNUM, "._-" \
    }

/*  The len bytes at text (which may hold a NUL, refused) follow rule.  */
bool st_field_ok (const char *text, size_t len, const st_field_t *rule);
/*  The same for a NUL-terminated string.  */
bool st_field_ok_str (const char *text, const st_field_t *rule);

#endif
