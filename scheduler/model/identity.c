/*  identity.c: role names and the records of users and API tokens.  */
#include "identity.h"

#include <stdlib.h>
#include <string.h>

static const char *const s_roles[] = { "", "viewer", "submitter", "operator", "admin" };

const char *
st__role_name (st__role_t role)
{
    return role >= ST__ROLE_VIEWER && role <= ST__ROLE_ADMIN ? s_roles[role] : "";
}

st__role_t
st__role_parse (const char *name)
{
    for (int r = ST__ROLE_VIEWER; name && r <= ST__ROLE_ADMIN; r++)
        if (!strcmp (name, s_roles[r]))
            return (st__role_t) r;
    return ST__ROLE_NONE;
}

void
st__user_records_free (st__user_record_t *users, size_t n)
{
    for (size_t i = 0; users && i < n; i++) {
        free (users[i].name);
        for (size_t k = 0; k < users[i].ntenants; k++)
            free (users[i].tenants[k]);
        free (users[i].tenants);
    }
    free (users);
}
