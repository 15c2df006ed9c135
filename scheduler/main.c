/*  main.c: strata-scheduler.  */
#include "sched.h"

int
main (int argc, char **argv)
{
    return st__sched_main (argc, argv);
}
