/*  names.c: the policy names, for files, messages and flags (site kinds and
 *  classifications are the base vocabulary, st_vocab.h).  */
#include "policy.h"

#include <string.h>

static const char *const s_policies[SP_POLICY__COUNT] = { "default", "fifo", "backfill", "las", "sjf" };

static int
s_parse (const char *const *names, int n, const char *name, int *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp (names[i], name) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *
sp_policy_name (sp_policy_t p)
{
    return (unsigned) p < SP_POLICY__COUNT ? s_policies[p] : "?";
}

int
sp_policy_parse (const char *name, sp_policy_t *out)
{
    int i;
    if (s_parse (s_policies, SP_POLICY__COUNT, name, &i) != 0)
        return -1;
    *out = (sp_policy_t) i;
    return 0;
}
