/*  fsutil.h: small file-system helpers the worker shares between modules.  */
#ifndef ST_WORKER_FSUTIL_H
#define ST_WORKER_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*  mkdir -p: creates path and missing parents with mode (existing directories
 *  are fine). Returns 0, or -1 with errno set (ENAMETOOLONG when it does not fit).  */
int st__mkdir_p (const char *path, mode_t mode);

/*  snprintf that returns 0 when the result fit in buf, -1 (errno ENAMETOOLONG) if not.  */
int st__path_fmt (char *buf, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

#endif
