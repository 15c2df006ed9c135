/*  lsan_mpi.c: LeakSanitizer defaults for a program that runs Open MPI.
 *  Linked into MPI programs (CMake object library strata_collective_lsan:
 *  strata-twin-train, collective_check, strata-bench-allreduce); compiled to
 *  nothing without AddressSanitizer.
 *
 *  collective.c leaves what MPI's own set-up and tear-down allocate on the
 *  calling thread out of leak checking (__lsan_disable around MPI_Init,
 *  MPI_Comm_dup, MPI_Finalize). One allocation escapes that: 32 bytes that
 *  Open MPI's progress thread (a libevent loop in a component it dlopens)
 *  makes during MPI_Init and never frees. The component is unloaded by exit,
 *  so the report reads "<unknown module>"; only the slow unwinder reaches the
 *  libevent frames below it, which the suppression then names. Both are
 *  defaults: ASAN_OPTIONS / LSAN_OPTIONS from the environment still win, key by
 *  key. The cost: stack unwinding on every malloc, noise under ASan (the
 *  trainer allocates at start-up, not per step). The slow unwinder also
 *  exposes a false leak of gcc 12's ASan with glibc 2.36, now and then: the
 *  attribute extension that pthread_getattr_np allocates when ASan sets up a
 *  new thread's stack (here OpenBLAS's threads); the second suppression names
 *  it. Neither suppression can hide an allocation of Strata's: both match
 *  only stacks that pass through libevent or glibc's pthread_getattr_np.
 *
 *  A program may hold only one definition of each hook: link this into
 *  executables only, never into a library.  */
#if defined(__SANITIZE_ADDRESS__)
#define S_LSAN_MPI 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_LSAN_MPI 1
#endif
#endif

#ifdef S_LSAN_MPI
const char *__asan_default_options (void);
const char *__lsan_default_options (void);
const char *__lsan_default_suppressions (void);

const char *
__asan_default_options (void)
{
    return "fast_unwind_on_malloc=0";
}

/*  No "Suppressions used" table on every exit of every rank.  */
const char *
__lsan_default_options (void)
{
    return "print_suppressions=0";
}

const char *
__lsan_default_suppressions (void)
{
    return "leak:libevent_core\n"
           "leak:__pthread_getattr_np\n";
}
#else
typedef int sc__lsan_mpi_unused_t; /*  ISO C wants a declaration in every file  */
#endif
