/*  Per-test scratch directories: made under /tmp, removed with
    everything in them.  */
#ifndef ST_TEST_TMPDIR_H
#define ST_TEST_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static inline int
st_test_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

/*  Removes dir and everything under it; a missing dir is fine.  */
static inline void
st_test_rmtree (const char *dir)
{
    nftw (dir, st_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
