/*  twin_cuda_kernels_emu.cpp: twin_cuda_kernels.cu compiled as C++ against
 *  emu/, for strata_twin_cuda_emu (see emu/cuda_runtime.h).  */
#include "../twin_cuda_kernels.cu"
