/*  main.c: strata-scheduler.  */
#include "sched.h"

int
main (int argc, char **argv)
{
    return st_sched_main (argc, argv);
}
