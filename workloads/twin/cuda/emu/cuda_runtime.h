/*  emu/cuda_runtime.h: a CPU stand-in for the part of the CUDA runtime that
 *  twin_cuda uses, so its kernels can run (and be checked under ASan and
 *  UBSan) on a machine without a GPU. Only for the emulated build
 *  (-DSTRATA_TWIN_CUDA_EMU=ON: strata_twin_cuda_emu, strata-twin-cuda-emu-check,
 *  test_twin_cuda_emu); never part of strata_twin_cuda.
 *
 *  Execution model: a launch runs its blocks one after another, on the
 *  calling thread. Each GPU thread of a block is a fiber with its own stack
 *  (switched by twin_emu_switch.cpp on x86-64, by ucontext elsewhere); the block's fibers run round-robin, each until it finishes or
 *  reaches a barrier (__syncthreads, __syncwarp, a shuffle), and a barrier
 *  opens once every thread it names has arrived: the whole block for
 *  __syncthreads, the warp's 32 threads for the warp ones. A barrier that can
 *  never open (some of its threads finished or wait elsewhere: divergent
 *  __syncthreads, a shuffle after part of a warp returned) aborts with a
 *  message. __shared__ becomes `static`: one copy, right because one block
 *  runs at a time. Device memory is host memory, filled with 0xff (NaN as
 *  floats) when allocated, so reading something never written shows.
 *
 *  What it cannot show: performance, coalescing, races between blocks (they
 *  never overlap), a missing barrier whose absence the fixed round-robin
 *  order happens to hide, and anything about real cuBLAS beyond its argument
 *  checks (emu/cublas_v2.h).  */
#ifndef STRATA_TWIN_EMU_CUDA_RUNTIME_H
#define STRATA_TWIN_EMU_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <functional>
#include <tuple>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define TWIN_EMU_ASAN 1
#else
#define TWIN_EMU_ASAN 0
#endif

/*  Fiber contexts. x86-64: a saved stack pointer and twin_emu_switch
 *  (emu/twin_emu_switch.cpp: callee-saved registers, MXCSR and the x87
 *  control word), a few nanoseconds; elsewhere ucontext, a system call per
 *  switch. A fiber never returns from its entry function: it switches away
 *  for good.  */
#if defined(__x86_64__)
extern "C" void twin_emu_switch (void **save_sp, void *load_sp);
struct twin_emu_ctx {
    void *sp;
};

static inline void
twin_emu_ctx_switch (twin_emu_ctx *from, twin_emu_ctx *to)
{
    twin_emu_switch (&from->sp, to->sp);
}

/*  The frame twin_emu_switch pops: control words, r15..r12, rbx, rbp, then
 *  `ret` into entry with the stack aligned as after a call.  */
static inline void
twin_emu_ctx_make (twin_emu_ctx *c, void *stack, size_t size, void (*entry) (void))
{
    uint64_t *sp = (uint64_t *) (((uintptr_t) stack + size) & ~(uintptr_t) 15);
    *--sp = 0; /*  entry's return address: never used  */
    *--sp = (uint64_t) (uintptr_t) entry;
    for (int i = 0; i < 6; i++)
        *--sp = 0;
    *--sp = (0x037Full << 32) | 0x1F80u; /*  x87 control word, MXCSR: the defaults  */
    c->sp = sp;
}
#else
struct twin_emu_ctx {
    ucontext_t uc;
};

static inline void
twin_emu_ctx_switch (twin_emu_ctx *from, twin_emu_ctx *to)
{
    swapcontext (&from->uc, &to->uc);
}

/*  Apart, because getcontext returns twice (its caller's locals "might be clobbered").  */
__attribute__ ((noinline)) static void
twin_emu_ctx_make (twin_emu_ctx *c, void *stack, size_t size, void (*entry) (void))
{
    getcontext (&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    makecontext (&c->uc, entry, 0);
}
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3 (unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x (x_), y (y_), z (z_)
    {
    }
};

#define TWIN_EMU_MAX_THREADS 1024
#define TWIN_EMU_STACK (128u << 10)
#define TWIN_EMU_BLOCK_BARRIER 32 /*  barrier ids: 0..31 the warps, 32 the block  */

enum { TWIN_EMU_RUNNABLE, TWIN_EMU_WAITING, TWIN_EMU_DONE };

struct twin_emu_fiber {
    twin_emu_ctx ctx;
    void *stack; /*  TWIN_EMU_STACK bytes, kept across launches  */
    int state;
    int barrier;      /*  while WAITING  */
    void *fake_stack; /*  ASan's, while switched away  */
};

/*  The block being run.  */
struct twin_emu_block {
    unsigned nthreads;
    dim3 block;
    unsigned running; /*  the fiber on the CPU  */
    twin_emu_fiber fiber[TWIN_EMU_MAX_THREADS];
    twin_emu_ctx scheduler;
    const void *sched_bottom; /*  the scheduler's stack, for ASan  */
    size_t sched_size;
    std::function<void ()> body;             /*  the kernel with its arguments  */
    uint64_t exchange[TWIN_EMU_MAX_THREADS]; /*  shuffle values  */
};

/*  Set by the scheduler before it resumes a fiber, so they read as the
 *  running GPU thread's.  */
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline twin_emu_block *twin_emu_current;

static inline unsigned
twin_emu_tid (void)
{
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

/*  From a fiber: wait at barrier id until the scheduler opens it.  */
static inline void
twin_emu_wait (int id)
{
    twin_emu_block *b = twin_emu_current;
    twin_emu_fiber *f = &b->fiber[b->running];
    f->state = TWIN_EMU_WAITING;
    f->barrier = id;
#if TWIN_EMU_ASAN
    __sanitizer_start_switch_fiber (&f->fake_stack, b->sched_bottom, b->sched_size);
#endif
    twin_emu_ctx_switch (&f->ctx, &b->scheduler);
#if TWIN_EMU_ASAN
    __sanitizer_finish_switch_fiber (f->fake_stack, &b->sched_bottom, &b->sched_size);
#endif
}

static inline void
__syncthreads (void)
{
    twin_emu_wait (TWIN_EMU_BLOCK_BARRIER);
}

static inline void
__syncwarp (unsigned mask = 0xffffffffu)
{
    (void) mask;
    twin_emu_wait ((int) (twin_emu_tid () / 32));
}

/*  Every lane of the warp must call it (whole warps may have returned).  */
template <typename V>
static inline V
__shfl_xor_sync (unsigned mask, V v, int lane_mask)
{
    static_assert (sizeof (V) <= sizeof (uint64_t), "shuffle of a value wider than 8 bytes");
    (void) mask;
    unsigned t = twin_emu_tid ();
    twin_emu_block *b = twin_emu_current;
    memcpy (&b->exchange[t], &v, sizeof v);
    __syncwarp ();
    unsigned from = (t & ~31u) | ((t & 31u) ^ (unsigned) lane_mask);
    V r;
    memcpy (&r, &b->exchange[from < b->nthreads ? from : t], sizeof r);
    __syncwarp ();
    return r;
}

static inline void
twin_emu_fiber_main (void)
{
    twin_emu_block *b = twin_emu_current;
#if TWIN_EMU_ASAN
    __sanitizer_finish_switch_fiber (NULL, &b->sched_bottom, &b->sched_size);
#endif
    b->body ();
    twin_emu_fiber *f = &b->fiber[b->running];
    f->state = TWIN_EMU_DONE;
#if TWIN_EMU_ASAN
    __sanitizer_start_switch_fiber (NULL, b->sched_bottom, b->sched_size); /*  this fiber ends  */
#endif
    twin_emu_ctx_switch (&f->ctx, &b->scheduler); /*  for good  */
    abort ();
}

static inline void
twin_emu_set_thread (twin_emu_block *b, unsigned t)
{
    b->running = t;
    threadIdx = uint3 { t % b->block.x, (t / b->block.x) % b->block.y, t / (b->block.x * b->block.y) };
}

/*  A fresh fiber at the start of twin_emu_fiber_main.  */
static inline void
twin_emu_fiber_init (twin_emu_fiber *f)
{
#if TWIN_EMU_ASAN
    __asan_unpoison_memory_region (f->stack, TWIN_EMU_STACK); /*  frames the last fiber left  */
#endif
    twin_emu_ctx_make (&f->ctx, f->stack, TWIN_EMU_STACK, twin_emu_fiber_main);
    f->state = TWIN_EMU_RUNNABLE;
}

/*  Runs the current block's fibers to completion.  */
static inline void
twin_emu_run_block (twin_emu_block *b)
{
    unsigned nt = b->nthreads;
    for (unsigned t = 0; t < nt; t++)
        twin_emu_fiber_init (&b->fiber[t]);
    for (;;) {
        unsigned done = 0;
        for (unsigned t = 0; t < nt; t++) {
            twin_emu_fiber *f = &b->fiber[t];
            if (f->state == TWIN_EMU_RUNNABLE) {
                twin_emu_set_thread (b, t);
                void *fake = NULL;
#if TWIN_EMU_ASAN
                __sanitizer_start_switch_fiber (&fake, f->stack, TWIN_EMU_STACK);
#endif
                twin_emu_ctx_switch (&b->scheduler, &f->ctx);
#if TWIN_EMU_ASAN
                __sanitizer_finish_switch_fiber (fake, NULL, NULL);
#endif
                (void) fake;
            }
            done += f->state == TWIN_EMU_DONE;
        }
        if (done == nt)
            return;
        /*  Open every barrier all of whose threads wait at it.  */
        unsigned waiting[TWIN_EMU_BLOCK_BARRIER + 1] = { 0 }, opened = 0;
        for (unsigned t = 0; t < nt; t++)
            if (b->fiber[t].state == TWIN_EMU_WAITING)
                waiting[b->fiber[t].barrier]++;
        for (unsigned id = 0; id <= TWIN_EMU_BLOCK_BARRIER; id++) {
            unsigned want = id == TWIN_EMU_BLOCK_BARRIER ? nt : (nt - 32 * id < 32 ? nt - 32 * id : 32);
            if (waiting[id] == 0 || waiting[id] != want)
                continue;
            for (unsigned t = 0; t < nt; t++)
                if (b->fiber[t].state == TWIN_EMU_WAITING && b->fiber[t].barrier == (int) id)
                    b->fiber[t].state = TWIN_EMU_RUNNABLE;
            opened++;
        }
        if (!opened) {
            fprintf (stderr, "twin emu: barrier deadlock in block (%u,%u,%u):", blockIdx.x, blockIdx.y, blockIdx.z);
            for (unsigned id = 0; id <= TWIN_EMU_BLOCK_BARRIER; id++)
                if (waiting[id])
                    fprintf (stderr, " %s %u: %u waiting", id == TWIN_EMU_BLOCK_BARRIER ? "block" : "warp", id,
                             waiting[id]);
            fprintf (stderr, " (%u of %u threads finished)\n", done, nt);
            abort ();
        }
    }
}

/*  kernel<<<grid, block>>>(args...)  */
template <typename... P, typename... A>
static void
twin_emu_launch (void (*kernel) (P...), dim3 grid, dim3 block, A... args)
{
    static twin_emu_block *b = new twin_emu_block (); /*  with its stacks, kept for the process  */
    static unsigned stacks = 0;
    unsigned nt = block.x * block.y * block.z;
    if (nt == 0 || nt > TWIN_EMU_MAX_THREADS || grid.x == 0 || grid.y == 0 || grid.z == 0 || block.z > 64) {
        fprintf (stderr, "twin emu: bad launch shape (%u,%u,%u) x (%u,%u,%u)\n", grid.x, grid.y, grid.z, block.x,
                 block.y, block.z);
        abort ();
    }
    for (; stacks < nt; stacks++) {
        void *st = mmap (NULL, TWIN_EMU_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (st == MAP_FAILED) {
            fprintf (stderr, "twin emu: cannot map a fiber stack\n");
            abort ();
        }
        b->fiber[stacks].stack = st;
    }
    std::tuple<P...> params (static_cast<P> (args)...);
    b->body = [&] () { std::apply (kernel, params); };
    b->nthreads = nt;
    b->block = block;
    twin_emu_current = b;
    blockDim = block;
    gridDim = grid;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = uint3 { bx, by, bz };
                twin_emu_run_block (b);
            }
    b->body = nullptr;
}

/* ---- runtime API (the subset twin_cuda.cu calls) ------------------------ */

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidDevice = 101,
};
typedef struct twin_emu_stream *cudaStream_t;
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
};
#define cudaStreamNonBlocking 0x01

static inline const char *
cudaGetErrorString (cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal";
    }
    return "unknown error";
}

static inline cudaError_t
cudaGetDeviceCount (int *n)
{
    *n = 1;
    return cudaSuccess;
}

static inline cudaError_t
cudaSetDevice (int d)
{
    return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

static inline cudaError_t
cudaGetDevice (int *d)
{
    *d = 0;
    return cudaSuccess;
}

static inline cudaError_t
cudaGetLastError (void)
{
    return cudaSuccess;
}

static inline cudaError_t
cudaStreamCreateWithFlags (cudaStream_t *s, unsigned flags)
{
    (void) flags;
    *s = (cudaStream_t) malloc (1);
    return *s ? cudaSuccess : cudaErrorMemoryAllocation;
}

static inline cudaError_t
cudaStreamDestroy (cudaStream_t s)
{
    free (s);
    return cudaSuccess;
}

static inline cudaError_t
cudaStreamSynchronize (cudaStream_t s)
{
    return s ? cudaSuccess : cudaErrorInvalidValue;
}

static inline cudaError_t
cudaMalloc (void **p, size_t n)
{
    *p = malloc (n ? n : 1);
    if (!*p)
        return cudaErrorMemoryAllocation;
    memset (*p, 0xff, n);
    return cudaSuccess;
}

static inline cudaError_t
cudaFree (void *p)
{
    free (p);
    return cudaSuccess;
}

static inline cudaError_t
cudaMemcpyAsync (void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s)
{
    (void) kind, (void) s;
    memcpy (dst, src, n);
    return cudaSuccess;
}

static inline cudaError_t
cudaMemsetAsync (void *p, int v, size_t n, cudaStream_t s)
{
    (void) s;
    memset (p, v, n);
    return cudaSuccess;
}

#endif
