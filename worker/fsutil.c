/*  fsutil.c: see fsutil.h.  */
#include "fsutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int
st__path_fmt (char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf, size, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int
s_mkdir_one (const char *path, mode_t mode)
{
    if (mkdir (path, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    struct stat st;
    if (stat (path, &st) != 0)
        return -1;
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int
st__mkdir_p (const char *path, mode_t mode)
{
    char buf[4096];
    if (st__path_fmt (buf, sizeof buf, "%s", path) != 0)
        return -1;
    size_t len = strlen (buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    /*  Create each parent in turn; a component that exists is fine.  */
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = s_mkdir_one (buf, mode);
        *p = '/';
        if (rc != 0)
            return -1;
    }
    return s_mkdir_one (buf, mode);
}
