/* dev.h: opening and closing a tq_cuda_dev (cuda.h), for the CUDA exec and the GPU tests. */
#ifndef TQ_CUDA_DEV_H
#define TQ_CUDA_DEV_H

#include "backends/cuda/cuda.h"

/* How many CUDA devices this process can use; TFMQ_ERR_UNSUPPORTED with the reason in `why`
 * ("no CUDA device: ...") when none (no driver, no GPU). Sets no thread error message, so tests
 * can print `why` as their skip reason. */
tfmq_status tq_cuda_dev_probe(int *n_devices_out, char *why, size_t why_cap);
/* Select device `device`, create its stream and the cuDNN and cuBLASLt handles. */
tfmq_status tq_cuda_dev_open(int device, tq_cuda_dev *d);
void tq_cuda_dev_close(tq_cuda_dev *d);

#endif
