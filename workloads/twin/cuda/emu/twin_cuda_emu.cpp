/*  twin_cuda_emu.cpp: twin_cuda.cu compiled as C++ against emu/ (CPU
 *  stand-ins for cuda_runtime.h and cublas_v2.h), for strata_twin_cuda_emu
 *  (test_twin_cuda_emu, strata-twin-cuda-emu-check). emu/cuda_runtime.h says
 *  what this proves.  */
#include "../twin_cuda.cu"
