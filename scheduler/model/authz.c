/*  authz.c: what a principal may see and do.
 *
 *  Every client request is decided here from its principal (model.h
 *  st__principal_t), which net/ builds from the request's token. A development
 *  install (no tokens, loopback only) has one principal: the local admin. */
#include "model.h"

const st__principal_t st__principal_development = {
    .user = "admin",
    .role = ST__ROLE_ADMIN,
    .tenants = NULL,
    .ntenants = 0,
    .development = 1,
    .token_id = 0,
};
