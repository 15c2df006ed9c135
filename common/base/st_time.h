/*  st_time.h: the two clocks. Monotonic for timeouts, wall for records.  */
#ifndef ST_TIME_H
#define ST_TIME_H
#include <stdint.h>

uint64_t st_mono_ms (void); /*  CLOCK_MONOTONIC, milliseconds  */
uint64_t st_mono_us (void); /*  CLOCK_MONOTONIC, microseconds  */
uint64_t st_wall_ms (void); /*  Unix time, milliseconds  */
void st_sleep_ms (uint64_t ms);

/*  Formats a Unix-ms time as "2026-11-21 14:50:01" (UTC) into buf; "-" for 0.  */
const char *st_format_time (uint64_t unix_ms, char *buf, unsigned size);

#endif
