/*  explain.c: strata explain, the client's question "why does this job wait,
 *  or why was it placed there?".
 *
 *  A job in memory is explained by the model (st__place_explain: the engine's
 *  verdict against the cluster as it is now, or the placement's score against
 *  its runners-up); a finished one from its row (through st__net_store_t).
 *  Only jobs the principal sees (authz.c): another tenant's answers as missing. */
#include "net.h"

#include <stdlib.h>
#include <string.h>

#include "st_log.h"

static void
s_explain_reply (st__net_t *s, const st_peer_t *peer, uint64_t reply_to, uint64_t job_id, const char *state,
                 const char *json)
{
    Strata__Envelope env;
    Strata__ExplainReply rep = STRATA__EXPLAIN_REPLY__INIT;
    st_wire_envelope_init (&env, st__net_next_seq (s));
    env.reply_to = reply_to;
    rep.job_id = job_id;
    rep.state = st_wire_job_state_named (state);
    rep.json = (char *) json;
    env.body_case = STRATA__ENVELOPE__BODY_EXPLAIN_REPLY;
    env.explain_reply = &rep;
    st_rc_t rc = st_wire_send (s->client_sock, peer, &env);
    if (rc != ST_OK)
        st_debug ("could not send an explanation: %s", st_strerror (rc));
}

void
st__client_explain (st__net_t *s, const st_peer_t *peer, const st__principal_t *who, Strata__Envelope *env)
{
    uint64_t id = env->explain->job_id;
    st__job_t *job = st_map_get_u64 (s->m->jobs, id);
    st_error_t err = { 0 };
    if (job) {
        /*  Same visibility as show (authz.c): another tenant's job does not exist.  */
        st__authz_t a = st__authz_job (who, ST__ACT_SEE, id, job->spec->tenant, job->submitted_by, &err);
        if (a == ST__AUTHZ_HIDDEN) {
            st__client_no_job (s, peer, env->seq, id, NULL);
            return;
        }
        if (a == ST__AUTHZ_DENIED) {
            st__client_denied (s, peer, env->seq, &err);
            return;
        }
        const char *state;
        char *json = st__place_explain (s->m, job, &state);
        if (json)
            s_explain_reply (s, peer, env->seq, id, state, json);
        else
            st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL,
                              "could not build the explanation (out of memory)", NULL);
        free (json);
        return;
    }
    st__job_record_t *info = NULL;
    st_rc_t rc = s->store.get_job ? s->store.get_job (s->store.ctx, id, &info, &err)
                                  : st_error_set (&err, ST_EDB, NULL, "no database");
    if (rc == ST_ENOTFOUND) {
        st__client_no_job (s, peer, env->seq, id, NULL);
        return;
    }
    if (rc != ST_OK) {
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL, err.msg,
                          err.hint[0] ? err.hint : NULL);
        return;
    }
    st__authz_t a = st__authz_job (who, ST__ACT_SEE, id, info->tenant, info->submitted_by, &err);
    if (a != ST__AUTHZ_ALLOW) {
        st__job_record_free (info);
        if (a == ST__AUTHZ_HIDDEN)
            st__client_no_job (s, peer, env->seq, id, NULL);
        else
            st__client_denied (s, peer, env->seq, &err);
        return;
    }
    char *json = info->placement_json && info->placement_json[0]
                     ? strdup (info->placement_json)
                     : st__place_reason_json (id, info->state, info->reason);
    if (json)
        s_explain_reply (s, peer, env->seq, id, info->state, json);
    else
        st__client_error (s, peer, env->seq, STRATA__ERROR_CODE__ERROR_INTERNAL,
                          "could not build the explanation (out of memory)", NULL);
    free (json);
    st__job_record_free (info);
}
