/* What the runtime needs to know of the host driver beyond its table: where a host
 * memory's bytes are, to stage ops the device cannot run. */
#ifndef CLT_HOST_DRIVER_H
#define CLT_HOST_DRIVER_H

#include "runtime/driver.h"

/* The bytes of memory allocated by the host driver. */
void *clt_host_mem_data(const struct clt_mem *mem);

/* C = alpha·op(A)·op(B) + beta·C + bias on the host, through CBLAS when clt was built
 * with it, else through the reference. Pointers and dtypes as in clt_ref_gemm. Fails
 * only for want of memory to widen f16/bf16 tensors. */
clt_status clt_host_gemm(const clt_gemm_args *args, const void *a, const void *b, void *c,
                         const void *bias);

/* Element 0 of a tensor whose buffer is host memory; NULL for an absent optional one. */
void *clt_host_tensor_data(const clt_tensor *t);

/* Each op family on the host (runtime/ops.h's clt_op_family), for validated ops of its
 * kinds: resolves the tensors' memory and runs the reference (or a fast path). Scratch goes through clt_dev_reserve
 * on `dev`, so that it shows in the context's accounting. */
clt_status clt_host_attention(struct clt_dev *dev, const clt_op *op);   /* ATTENTION_* */
clt_status clt_host_rows(struct clt_dev *dev, const clt_op *op);        /* SOFTMAX*,
                                                         LAYERNORM_*, CROSS_ENTROPY_* */
clt_status clt_host_elementwise(struct clt_dev *dev, const clt_op *op); /* GELU_*, ADD,
                                                         SCALE, BIAS_*, SQNORM */
clt_status clt_host_embedding(struct clt_dev *dev, const clt_op *op);   /* EMBEDDING_* */
clt_status clt_host_optim(struct clt_dev *dev, const clt_op *op);       /* ADAMW, SGD,
                                                         LAMB, QUANTIZE8, DEQUANTIZE8 */

#endif
