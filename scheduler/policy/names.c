/*  names.c: the policy vocabulary's names, for files, specs, messages and flags.  */
#include "policy.h"

#include <string.h>

static const char *const s_sites[SP_SITE__COUNT] = {"onprem", "private_cloud", "public_cloud", "edge"};
static const char *const s_classes[SP_CLASS__COUNT] = {"public", "internal", "confidential", "restricted"};
static const char *const s_policies[SP_POLICY__COUNT] = {"default", "fifo", "backfill", "las", "sjf"};

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
sp_site_name (sp_site_t s)
{
    return (unsigned) s < SP_SITE__COUNT ? s_sites[s] : "?";
}

int
sp_site_parse (const char *name, sp_site_t *out)
{
    int i;
    if (s_parse (s_sites, SP_SITE__COUNT, name, &i) != 0)
        return -1;
    *out = (sp_site_t) i;
    return 0;
}

const char *
sp_class_name (sp_class_t c)
{
    return (unsigned) c < SP_CLASS__COUNT ? s_classes[c] : "?";
}

int
sp_class_parse (const char *name, sp_class_t *out)
{
    int i;
    if (s_parse (s_classes, SP_CLASS__COUNT, name, &i) != 0)
        return -1;
    *out = (sp_class_t) i;
    return 0;
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
