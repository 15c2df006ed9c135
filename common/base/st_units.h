/*  st_units.h: durations, sizes and CPU counts as people write them, in one
 *  place for job specs, config files, the cluster file and flags.
 *
 *  Parsers return 0 and fill *out, or -1 (NULL, malformed, out of range). */
#ifndef ST_UNITS_H
#define ST_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*  "512M", "2G", "1Gi", "1.5GiB", "300" (MiB) into MiB; K rounds up to a MiB.  */
int st_parse_mem_mb (const char *text, uint64_t *mb);

/*  "90", "90s", "30m", "2h", "1d", "1h30m" into seconds: a bare number is seconds.  */
int st_parse_duration_s (const char *text, uint32_t *seconds);

/*  "250ms", "2s", "1.5s", "1m", "1h", "1m30s", or a bare number of milliseconds.  */
int st_parse_duration_ms (const char *text, uint64_t *ms);

/*  "2", "0.5", "1.125" into thousandths of a CPU. Returns 0, -1 (not a number)
 *  or -2 (more than three decimal places).  */
int st_parse_cpus_milli (const char *text, uint64_t *milli);

/*  The shortest exact text for a value, into buf (returned): "2h", "1500ms";
 *  "4G", "512M"; "2", "0.5".  */
const char *st_format_ms (uint64_t ms, char *buf, size_t size);
const char *st_format_mb (uint64_t mb, char *buf, size_t size);
const char *st_format_milli (uint64_t milli, char *buf, size_t size);

#endif
