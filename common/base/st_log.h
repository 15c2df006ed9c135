/*  st_log.h: one line per event on stderr:
 *      2026-11-21T14:50:01.123Z strata-scheduler[1234] INFO  message
 *  Daemons call st_log_init() once; the level comes from config (--log-level). */
#ifndef ST_LOG_H
#define ST_LOG_H

typedef enum { ST_LOG_DEBUG = 0, ST_LOG_INFO, ST_LOG_WARN, ST_LOG_ERROR } st_log_level_t;

void st_log_init (const char *component, st_log_level_t level);
void st_log_set_level (st_log_level_t level);
int st_log_enabled (st_log_level_t level);

/*  Parses "debug", "info", "warn", "error". Returns 0 on success, -1 otherwise.  */
int st_log_level_parse (const char *text, st_log_level_t *out);

void st_log (st_log_level_t level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#define st_debug(...)                           \
    do {                                        \
        if (st_log_enabled (ST_LOG_DEBUG))      \
            st_log (ST_LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define st_info(...) st_log (ST_LOG_INFO, __VA_ARGS__)
#define st_warn(...) st_log (ST_LOG_WARN, __VA_ARGS__)
#define st_error(...) st_log (ST_LOG_ERROR, __VA_ARGS__)

#endif
