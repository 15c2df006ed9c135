/*  resources.c: see resources.h.  */
#include "resources.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "st_log.h"

uint32_t
st__resources_cpus_milli (void)
{
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        return 0;
    return (uint32_t) n * 1000u;
}

uint64_t
st__resources_mem_mb (void)
{
    FILE *f = fopen ("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets (line, sizeof line, f))
        if (sscanf (line, "MemTotal: %llu kB", &kb) == 1)
            break;
    fclose (f);
    return kb / 1024u;
}

/*  NVML's C API, as much of it as the worker uses. The library's header is not
 *  packaged in Debian; these signatures are NVML's stable ABI (nvml.h).  */
typedef int s_nvml_return_t; /*  nvmlReturn_t: 0 is NVML_SUCCESS  */
typedef struct s_nvml_device *s_nvml_device_t;

typedef s_nvml_return_t (*s_nvml_init_fn) (void);
typedef s_nvml_return_t (*s_nvml_shutdown_fn) (void);
typedef s_nvml_return_t (*s_nvml_count_fn) (unsigned int *);
typedef s_nvml_return_t (*s_nvml_handle_fn) (unsigned int, s_nvml_device_t *);
typedef s_nvml_return_t (*s_nvml_name_fn) (s_nvml_device_t, char *, unsigned int);

/*  dlsym returns void *; converting it to a function pointer is what POSIX
 *  requires to work, but ISO C does not define it, so go through memcpy.  */
static void *
s_sym (void *lib, const char *name, size_t fn_size, void *fn_out)
{
    void *sym = dlsym (lib, name);
    if (sym)
        memcpy (fn_out, &sym, fn_size);
    return sym;
}

uint32_t
st__resources_nvml_gpus (char *type, size_t type_size)
{
    if (type && type_size)
        type[0] = '\0';
    void *lib = dlopen ("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        st_debug ("no NVML (%s): 0 GPUs", dlerror ());
        return 0;
    }
    s_nvml_init_fn nv_init = NULL;
    s_nvml_shutdown_fn nv_shutdown = NULL;
    s_nvml_count_fn nv_count = NULL;
    s_nvml_handle_fn nv_handle = NULL;
    s_nvml_name_fn nv_name = NULL;
    uint32_t gpus = 0;
    if (!s_sym (lib, "nvmlInit_v2", sizeof nv_init, &nv_init)
        || !s_sym (lib, "nvmlShutdown", sizeof nv_shutdown, &nv_shutdown)
        || !s_sym (lib, "nvmlDeviceGetCount_v2", sizeof nv_count, &nv_count)) {
        st_warn ("NVML library lacks nvmlInit_v2/nvmlDeviceGetCount_v2: 0 GPUs");
        goto out;
    }
    s_sym (lib, "nvmlDeviceGetHandleByIndex_v2", sizeof nv_handle, &nv_handle);
    s_sym (lib, "nvmlDeviceGetName", sizeof nv_name, &nv_name);

    s_nvml_return_t rc = nv_init ();
    if (rc != 0) {
        st_info ("NVML initialisation failed (error %d): 0 GPUs", rc);
        goto out;
    }
    unsigned int n = 0;
    rc = nv_count (&n);
    if (rc != 0)
        st_warn ("NVML device count failed (error %d): 0 GPUs", rc);
    else
        gpus = n > ST__MAX_GPUS ? ST__MAX_GPUS : n;
    if (gpus > 0 && nv_handle && nv_name && type && type_size) {
        s_nvml_device_t dev = NULL;
        char buf[96] = "";
        if (nv_handle (0, &dev) == 0 && nv_name (dev, buf, sizeof buf) == 0) {
            buf[sizeof buf - 1] = '\0';
            snprintf (type, type_size, "%s", buf);
        }
    }
    nv_shutdown ();
out:
    dlclose (lib);
    return gpus;
}

void
st__gpu_set_init (st__gpu_set_t *set, uint32_t count)
{
    memset (set, 0, sizeof *set);
    set->count = count > ST__MAX_GPUS ? ST__MAX_GPUS : count;
}

uint32_t
st__gpu_set_free (const st__gpu_set_t *set)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < set->count; i++)
        if (!set->used[i])
            n++;
    return n;
}

int
st__gpu_set_take (st__gpu_set_t *set, uint32_t n, uint32_t *out, char *list, size_t list_size)
{
    if (list_size)
        list[0] = '\0';
    if (n > st__gpu_set_free (set))
        return -1;
    size_t len = 0;
    uint32_t got = 0;
    for (uint32_t i = 0; i < set->count && got < n; i++) {
        if (set->used[i])
            continue;
        set->used[i] = 1;
        out[got++] = i;
        if (len < list_size) {
            int w = snprintf (list + len, list_size - len, "%s%u", got > 1 ? "," : "", i);
            len += w > 0 ? (size_t) w : 0;
        }
    }
    return 0;
}

void
st__gpu_set_release (st__gpu_set_t *set, const uint32_t *idx, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (idx[i] < set->count)
            set->used[idx[i]] = 0;
}
