/* dev.c: the device context of a CUDA session (cuda.h): device choice, stream, cuDNN and
 * cuBLASLt handles, and CUDA error translation. */
#include <stdio.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "backends/cuda/cuda.h"
#include "backends/cuda/dev.h"

tfmq_status tq_cuda_check(int cuda_err, const char *what)
{
    if (cuda_err == (int)cudaSuccess) {
        return TFMQ_OK;
    }
    return tq_fail(TFMQ_ERR_BACKEND, "%s: %s", what, cudaGetErrorString((cudaError_t)cuda_err));
}

tfmq_status tq_cuda_dev_probe(int *n_devices_out, char *why, size_t why_cap)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    *n_devices_out = 0;
    if (e != cudaSuccess) {
        snprintf(why, why_cap, "no CUDA device: %s", cudaGetErrorString(e));
        (void)cudaGetLastError();
        return TFMQ_ERR_UNSUPPORTED;
    }
    if (n <= 0) {
        snprintf(why, why_cap, "no CUDA device: the driver reports none");
        return TFMQ_ERR_UNSUPPORTED;
    }
    *n_devices_out = n;
    why[0] = '\0';
    return TFMQ_OK;
}

tfmq_status tq_cuda_dev_open(int device, tq_cuda_dev *d)
{
    char why[256];
    int n = 0;
    memset(d, 0, sizeof(*d));
    d->device = device;
    if (tq_cuda_dev_probe(&n, why, sizeof(why)) != TFMQ_OK) {
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "device cuda: %s", why);
    }
    if (device < 0 || device >= n) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "device cuda:%d: only %d CUDA device(s)", device, n);
    }
    tfmq_status st = tq_cuda_check(cudaSetDevice(device), "cudaSetDevice");
    struct cudaDeviceProp prop;
    if (st == TFMQ_OK) {
        st = tq_cuda_check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    }
    if (st != TFMQ_OK) {
        return st;
    }
    d->sm = prop.major * 10 + prop.minor;
    d->n_sms = prop.multiProcessorCount;
    snprintf(d->name, sizeof(d->name), "%.127s", prop.name);
    d->cudnn_version = (int64_t)cudnnGetVersion();
    cudaStream_t s = NULL;
    st = tq_cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    if (st != TFMQ_OK) {
        return st;
    }
    d->stream = s;
    cudnnHandle_t h = NULL;
    cudnnStatus_t cs = cudnnCreate(&h);
    if (cs != CUDNN_STATUS_SUCCESS) {
        tq_cuda_dev_close(d);
        return tq_fail(TFMQ_ERR_BACKEND, "cudnnCreate: %s", cudnnGetErrorString(cs));
    }
    d->cudnn = h;
    cs = cudnnSetStream(h, s);
    if (cs != CUDNN_STATUS_SUCCESS) {
        tq_cuda_dev_close(d);
        return tq_fail(TFMQ_ERR_BACKEND, "cudnnSetStream: %s", cudnnGetErrorString(cs));
    }
    cublasLtHandle_t lt = NULL;
    cublasStatus_t bs = cublasLtCreate(&lt);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        tq_cuda_dev_close(d);
        return tq_fail(TFMQ_ERR_BACKEND, "cublasLtCreate: status %d", (int)bs);
    }
    d->cublaslt = lt;
    return TFMQ_OK;
}

void tq_cuda_dev_close(tq_cuda_dev *d)
{
    if (d->cublaslt) {
        cublasLtDestroy((cublasLtHandle_t)d->cublaslt);
    }
    if (d->cudnn) {
        cudnnDestroy((cudnnHandle_t)d->cudnn);
    }
    if (d->stream) {
        cudaStreamDestroy((cudaStream_t)d->stream);
    }
    memset(d, 0, sizeof(*d));
}
