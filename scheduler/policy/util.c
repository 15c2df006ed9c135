/*  util.c: the engine's arena, hashing and text helpers.
 *
 *  The arena holds everything a cycle builds (the scratch node model, classes,
 *  the job order); sp_schedule resets it at the start of the next cycle, so a
 *  cycle does a handful of allocations however many jobs it looks at. */
#include "policy_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define S_BLOCK_MIN (256u * 1024u)

struct sp__block {
    sp__block_t *next;
    size_t size; /*  bytes in data  */
    max_align_t data[];
};

void *
sp__alloc (sp__arena_t *a, size_t size)
{
    void *p = sp__alloc_raw (a, size);
    if (p)
        memset (p, 0, size);
    return p;
}

void *
sp__alloc_raw (sp__arena_t *a, size_t size)
{
    size = (size + sizeof (max_align_t) - 1) / sizeof (max_align_t) * sizeof (max_align_t);
    if (size == 0)
        size = sizeof (max_align_t);
    if (!a->head || a->used + size > a->head->size) {
        size_t want = size > S_BLOCK_MIN ? size : S_BLOCK_MIN;
        /*  Grow geometrically so a big cycle settles into one block after a reset.  */
        if (a->head && want < a->head->size * 2)
            want = a->head->size * 2;
        sp__block_t *b = malloc (sizeof *b + want);
        if (!b)
            return NULL;
        b->size = want;
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    void *p = (char *) a->head->data + a->used;
    a->used += size;
    return p;
}

char *
sp__strdup (sp__arena_t *a, const char *s)
{
    size_t n = strlen (s) + 1;
    char *p = sp__alloc (a, n);
    if (p)
        memcpy (p, s, n);
    return p;
}

void
sp__arena_reset (sp__arena_t *a)
{
    /*  Keep one block as large as everything the last cycle used, so the
     *  next cycle, about as big, allocates nothing (a fresh block each cycle
     *  would be mapped and page-faulted anew).  */
    if (!a->head)
        return;
    if (a->head->next) {
        size_t total = 0;
        for (sp__block_t *b = a->head; b; b = b->next)
            total += b->size;
        while (a->head) {
            sp__block_t *next = a->head->next;
            free (a->head);
            a->head = next;
        }
        sp__block_t *b = malloc (sizeof *b + total);
        if (b) {
            b->size = total;
            b->next = NULL;
            a->head = b;
        }
    }
    a->used = 0;
}

void
sp__arena_free (sp__arena_t *a)
{
    sp__arena_reset (a);
    free (a->head);
    a->head = NULL;
    a->used = 0;
}

int
sp__streq (const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp (a, b) == 0;
}

void
sp__catf (char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf + *used, size - *used, fmt, ap);
    va_end (ap);
    if (n > 0)
        *used = *used + (size_t) n < size ? *used + (size_t) n : size - 1;
}

void
sp__copy (char *dst, size_t size, const char *src)
{
    size_t n = strlen (src);
    if (n >= size)
        n = size - 1;
    memcpy (dst, src, n);
    dst[n] = '\0';
}

void
sp__fmt_duration (char *buf, size_t size, double s)
{
    if (s < 90)
        snprintf (buf, size, "%.0f s", s < 0 ? 0 : s);
    else if (s < 90 * 60)
        snprintf (buf, size, "%.0f min", s / 60);
    else if (s < 48 * 3600)
        snprintf (buf, size, "%.1f h", s / 3600);
    else
        snprintf (buf, size, "%.1f days", s / 86400);
}

int
sp__las_queue (double attained_gpu_s)
{
    if (attained_gpu_s < 3600)
        return 0;
    if (attained_gpu_s < 36000)
        return 1;
    if (attained_gpu_s < 360000)
        return 2;
    return 3;
}

double
sp__attempt_gpu_s (const sp_job_t *j, double now_s)
{
    if (!j->running || now_s <= j->start_s)
        return 0;
    return (double) sp__job_gpus (j) * (now_s - j->start_s);
}

void
sp__fmt_need (const sp_job_t *job, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    if (job->ntasks > 1)
        sp__catf (buf, size, &used, "%u %s of ", job->ntasks, job->gang ? "ranks" : "shards");
    if (job->gpus) {
        sp__catf (buf, size, &used, "%u GPU", job->gpus);
        if (job->ngpu_types) {
            sp__catf (buf, size, &used, " (");
            for (size_t i = 0; i < job->ngpu_types; i++)
                sp__catf (buf, size, &used, "%s%s", i ? " or " : "", job->gpu_types[i]);
            sp__catf (buf, size, &used, ")");
        }
        sp__catf (buf, size, &used, ", ");
    }
    sp__catf (buf, size, &used, "%g CPU, %llu MiB", job->cpus_milli / 1000.0, (unsigned long long) job->mem_mb);
}

void
sp_node_take (sp_node_t *node, const sp_job_t *job)
{
    node->used_cpus_milli += job->cpus_milli;
    node->used_mem_mb += job->mem_mb;
    node->used_gpus += job->gpus;
}

void
sp_node_give (sp_node_t *node, const sp_job_t *job)
{
    node->used_cpus_milli -= job->cpus_milli;
    node->used_mem_mb -= job->mem_mb;
    node->used_gpus -= job->gpus;
}
