/*  resources.h: what this node offers, and which GPU each task gets.
 *
 *  Defaults come from the machine: online CPUs (sysconf), MemTotal from
 *  /proc/meminfo, and the NVML device count and name, loaded at run time with
 *  dlopen ("libnvidia-ml.so.1") so the worker needs no NVIDIA package to build
 *  or run (no library: 0 GPUs). Flags and the config file override each one. */
#ifndef ST_WORKER_RESOURCES_H
#define ST_WORKER_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

#define ST__MAX_GPUS 256u

typedef struct {
    uint32_t cpus_milli; /*  thousandths of a CPU  */
    uint64_t mem_mb;     /*  MiB  */
    uint32_t gpus;
    char gpu_type[96]; /*  NVML name of device 0, or ""  */
} st__resources_t;

/*  Online CPUs x 1000, or 0 when unknown.  */
uint32_t st__resources_cpus_milli (void);

/*  MemTotal in MiB, or 0 when unknown.  */
uint64_t st__resources_mem_mb (void);

/*  NVML device count; the name of device 0 goes to type (may be NULL).
 *  0 when NVML is absent or fails (logged at debug level).  */
uint32_t st__resources_nvml_gpus (char *type, size_t type_size);

/*  Which GPU indices are in use. Tasks get the lowest free indices.  */
typedef struct {
    uint32_t count;             /*  GPUs on the node  */
    uint8_t used[ST__MAX_GPUS]; /*  non-zero: held by a task  */
} st__gpu_set_t;

void st__gpu_set_init (st__gpu_set_t *set, uint32_t count);

/*  Takes n free GPUs, writes their indices to out (n entries) and a
 *  CUDA_VISIBLE_DEVICES list ("0,2") to list. Returns 0, or -1 (nothing taken)
 *  when fewer than n are free.  */
int st__gpu_set_take (st__gpu_set_t *set, uint32_t n, uint32_t *out, char *list, size_t list_size);

/*  Gives back what st__gpu_set_take returned.  */
void st__gpu_set_release (st__gpu_set_t *set, const uint32_t *idx, uint32_t n);

uint32_t st__gpu_set_free (const st__gpu_set_t *set);

#endif
