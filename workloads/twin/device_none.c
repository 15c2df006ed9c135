/*  device_none.c: twin_device_cuda (device.h) of a strata-twin-train built
 *  without CUDA (CMake found no CUDA compiler and toolkit): none, so
 *  --device cuda is refused and --device auto runs on the CPU.  */
#include "device.h"

const twin_device_ops_t *
twin_device_cuda (void)
{
    return NULL;
}
