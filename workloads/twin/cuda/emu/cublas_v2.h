/*  emu/cublas_v2.h: a CPU stand-in for cublasSgemm and
 *  cublasSgemmStridedBatched (column-major, as cuBLAS), with cuBLAS's
 *  argument checks, for the emulated build only (see emu/cuda_runtime.h).
 *  Sums run in float, k ascending: another order than OpenBLAS's, as a GPU's
 *  would be.  */
#ifndef STRATA_TWIN_EMU_CUBLAS_V2_H
#define STRATA_TWIN_EMU_CUBLAS_V2_H

#include "cuda_runtime.h"

typedef struct twin_emu_blas *cublasHandle_t;
enum cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
};
enum cublasOperation_t {
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
};
enum cublasMath_t {
    CUBLAS_DEFAULT_MATH = 0,
};

static inline const char *
cublasGetStatusString (cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    }
    return "unknown cuBLAS status";
}

static inline cublasStatus_t
cublasCreate (cublasHandle_t *h)
{
    *h = (cublasHandle_t) malloc (1);
    return *h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}

static inline cublasStatus_t
cublasDestroy (cublasHandle_t h)
{
    free (h);
    return CUBLAS_STATUS_SUCCESS;
}

static inline cublasStatus_t
cublasSetStream (cublasHandle_t h, cudaStream_t s)
{
    return h && s ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

static inline cublasStatus_t
cublasSetMathMode (cublasHandle_t h, cublasMath_t mode)
{
    return h && mode == CUBLAS_DEFAULT_MATH ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

/*  C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C, column-major; C is not
 *  read when beta == 0 (as cuBLAS).  */
static inline cublasStatus_t
cublasSgemmStridedBatched (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, long long sA, const float *B, int ldb,
                           long long sB, const float *beta, float *C, int ldc, long long sC, int batch)
{
    int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (!h || m < 0 || n < 0 || k < 0 || batch < 0 || lda < (rows_a > 1 ? rows_a : 1)
        || ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    for (int p = 0; p < batch; p++) {
        const float *a = A + p * sA, *b = B + p * sB;
        float *c = C + p * sC;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float acc = 0.0f;
                for (int l = 0; l < k; l++) {
                    float x = ta == CUBLAS_OP_N ? a[i + (size_t) l * lda] : a[l + (size_t) i * lda];
                    float y = tb == CUBLAS_OP_N ? b[l + (size_t) j * ldb] : b[j + (size_t) l * ldb];
                    acc += x * y;
                }
                float *cij = &c[i + (size_t) j * ldc];
                *cij = *beta == 0.0f ? *alpha * acc : *alpha * acc + *beta * *cij;
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

static inline cublasStatus_t
cublasSgemm (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
             const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc)
{
    return cublasSgemmStridedBatched (h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

#endif
