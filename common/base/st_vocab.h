/*  st_vocab.h: Strata's shared words, each with one name table.
 *
 *  Every list below is an X-macro table of (enumerator, name): the enum, its
 *  name() and its parse() come from the same rows, so a word is written once.
 *  The numbers are the rows' order; the scheduler stores names, never numbers,
 *  and strata.proto carries its own numbers (see st_wire.h), so a row may be
 *  added at the end without breaking anything written before.
 *
 *  name() never returns NULL: out of range gives "UNKNOWN" for the states and
 *  "?" for the lowercase words. parse() returns 0 and fills *out, or -1 for
 *  NULL or an unknown name (names are case-sensitive). */
#ifndef ST_VOCAB_H
#define ST_VOCAB_H

#include <stddef.h>

/*  Job states (DESIGN.md "Job states"). Task states use the same words: a
 *  task is PENDING until placed, then follows its job's attempt.  */
#define ST_JOB_STATES(X)       \
    X (PENDING, "PENDING")     \
    X (SCHEDULED, "SCHEDULED") \
    X (STARTING, "STARTING")   \
    X (RUNNING, "RUNNING")     \
    X (SUCCEEDED, "SUCCEEDED") \
    X (FAILED, "FAILED")       \
    X (CANCELLED, "CANCELLED") \
    X (PREEMPTED, "PREEMPTED") \
    X (LOST, "LOST")

/*  Site kinds of a pool.  */
#define ST_SITES(X)                    \
    X (ONPREM, "onprem")               \
    X (PRIVATE_CLOUD, "private_cloud") \
    X (PUBLIC_CLOUD, "public_cloud")   \
    X (EDGE, "edge")

/*  Data classifications, in order: a pool's clearance is the highest it may hold.  */
#define ST_CLASSES(X)                \
    X (PUBLIC, "public")             \
    X (INTERNAL, "internal")         \
    X (CONFIDENTIAL, "confidential") \
    X (RESTRICTED, "restricted")

/*  Job kinds.  */
#define ST_KINDS(X)          \
    X (COMMAND, "command")   \
    X (FINETUNE, "finetune") \
    X (INFERENCE, "inference")

/*  How a gang's ranks are started. A spec may also say "auto", which the spec
 *  parser resolves to one of these; "auto" is never stored.  */
#define ST_LAUNCHERS(X)                                                             \
    X (DIRECT, "direct") /*  each rank by its own worker (torchrun's variables)  */ \
    X (MPIRUN, "mpirun") /*  rank 0's worker runs mpirun; the other ranks are held for it  */

#define ST__JOB_ENUM(id, text) ST_JOB_##id,
#define ST__TASK_ENUM(id, text) ST_TASK_##id,
#define ST__SITE_ENUM(id, text) ST_SITE_##id,
#define ST__CLASS_ENUM(id, text) ST_CLASS_##id,
#define ST__KIND_ENUM(id, text) ST_KIND_##id,
#define ST__LAUNCHER_ENUM(id, text) ST_LAUNCHER_##id,

typedef enum { ST_JOB_STATES (ST__JOB_ENUM) ST_JOB__COUNT } st_job_state_t;
typedef enum { ST_JOB_STATES (ST__TASK_ENUM) ST_TASK__COUNT } st_task_state_t;
typedef enum { ST_SITES (ST__SITE_ENUM) ST_SITE__COUNT } st_site_t;
typedef enum { ST_CLASSES (ST__CLASS_ENUM) ST_CLASS__COUNT } st_class_t;
typedef enum { ST_KINDS (ST__KIND_ENUM) ST_KIND__COUNT } st_kind_t;
typedef enum { ST_LAUNCHERS (ST__LAUNCHER_ENUM) ST_LAUNCHER__COUNT } st_launcher_t;

const char *st_job_state_name (st_job_state_t s);
int st_job_state_parse (const char *name, st_job_state_t *out);
/*  SUCCEEDED, FAILED or CANCELLED: the job will not run again.  */
int st_job_state_terminal (st_job_state_t s);
/*  The same for a state's name; 0 for NULL or an unknown name.  */
int st_job_state_name_terminal (const char *name);

const char *st_task_state_name (st_task_state_t s);
int st_task_state_parse (const char *name, st_task_state_t *out);

const char *st_site_name (st_site_t s);
int st_site_parse (const char *name, st_site_t *out);

const char *st_class_name (st_class_t c);
int st_class_parse (const char *name, st_class_t *out);

const char *st_kind_name (st_kind_t k);
int st_kind_parse (const char *name, st_kind_t *out);

const char *st_launcher_name (st_launcher_t l);
int st_launcher_parse (const char *name, st_launcher_t *out);

/*  A table's names, in order, NULL-terminated: for help texts and "one of" hints.  */
const char *const *st_job_state_names (void);
const char *const *st_site_names (void);
const char *const *st_class_names (void);
const char *const *st_kind_names (void);
const char *const *st_launcher_names (void);

/*  Writes a table's names into buf, each after sep but the first, cut to fit
 *  size bytes and always terminated (when size > 0). Returns the length the
 *  whole list has, as snprintf does: a result >= size means it was cut.  */
size_t st_vocab_join (const char *const *names, const char *sep, char *buf, size_t size);

#endif
