/*  st_vocab.c: the name tables, generated from the X-macro rows of st_vocab.h.  */
#include "st_vocab.h"

#include <string.h>

#define S_NAME(id, text) text,

static const char *const s_job_states[] = { ST_JOB_STATES (S_NAME) NULL };
static const char *const s_sites[] = { ST_SITES (S_NAME) NULL };
static const char *const s_classes[] = { ST_CLASSES (S_NAME) NULL };
static const char *const s_kinds[] = { ST_KINDS (S_NAME) NULL };
static const char *const s_launchers[] = { ST_LAUNCHERS (S_NAME) NULL };

/*  Each table has exactly its enum's rows.  */
_Static_assert(sizeof s_job_states / sizeof *s_job_states == ST_JOB__COUNT + 1, "job states");
_Static_assert((int) ST_TASK__COUNT == (int) ST_JOB__COUNT, "task states");
_Static_assert(sizeof s_sites / sizeof *s_sites == ST_SITE__COUNT + 1, "sites");
_Static_assert(sizeof s_classes / sizeof *s_classes == ST_CLASS__COUNT + 1, "classes");
_Static_assert(sizeof s_kinds / sizeof *s_kinds == ST_KIND__COUNT + 1, "kinds");
_Static_assert(sizeof s_launchers / sizeof *s_launchers == ST_LAUNCHER__COUNT + 1, "launchers");

static const char *
s_name (const char *const *names, unsigned count, unsigned i, const char *unknown)
{
    return i < count ? names[i] : unknown;
}

static int
s_parse (const char *const *names, const char *name, int *out)
{
    if (!name)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp (names[i], name) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

#define S_TABLE(prefix, type, names, count, unknown)         \
    const char *prefix##_name (type v)                       \
    {                                                        \
        return s_name (names, count, (unsigned) v, unknown); \
    }                                                        \
    int prefix##_parse (const char *name, type *out)         \
    {                                                        \
        int i;                                               \
        if (s_parse (names, name, &i) != 0)                  \
            return -1;                                       \
        *out = (type) i;                                     \
        return 0;                                            \
    }

S_TABLE (st_job_state, st_job_state_t, s_job_states, ST_JOB__COUNT, "UNKNOWN")
S_TABLE (st_task_state, st_task_state_t, s_job_states, ST_TASK__COUNT, "UNKNOWN")
S_TABLE (st_site, st_site_t, s_sites, ST_SITE__COUNT, "?")
S_TABLE (st_class, st_class_t, s_classes, ST_CLASS__COUNT, "?")
S_TABLE (st_kind, st_kind_t, s_kinds, ST_KIND__COUNT, "?")
S_TABLE (st_launcher, st_launcher_t, s_launchers, ST_LAUNCHER__COUNT, "?")

size_t
st_vocab_join (const char *const *names, const char *sep, char *buf, size_t size)
{
    size_t len = 0, seplen = strlen (sep);
    if (size)
        buf[0] = 0;
    for (size_t i = 0; names[i]; i++) {
        const char *parts[2] = { i ? sep : "", names[i] };
        size_t lens[2] = { i ? seplen : 0, strlen (names[i]) };
        for (int p = 0; p < 2; p++) {
            if (size && len < size - 1) {
                size_t room = size - 1 - len;
                size_t n = lens[p] < room ? lens[p] : room;
                memcpy (buf + len, parts[p], n);
                buf[len + n] = 0;
            }
            len += lens[p];
        }
    }
    return len;
}

const char *const *
st_job_state_names (void)
{
    return s_job_states;
}
const char *const *
st_site_names (void)
{
    return s_sites;
}
const char *const *
st_class_names (void)
{
    return s_classes;
}
const char *const *
st_kind_names (void)
{
    return s_kinds;
}
const char *const *
st_launcher_names (void)
{
    return s_launchers;
}

int
st_job_state_terminal (st_job_state_t s)
{
    return s == ST_JOB_SUCCEEDED || s == ST_JOB_FAILED || s == ST_JOB_CANCELLED;
}

int
st_job_state_name_terminal (const char *name)
{
    st_job_state_t s;
    return st_job_state_parse (name, &s) == 0 && st_job_state_terminal (s);
}
