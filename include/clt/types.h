/* clt — opaque handles and the small enums every other header uses. */
#ifndef CLT_TYPES_H
#define CLT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context owns one open device, its memory budgets, its program cache and its log.
 * Everything else hangs off it. */
typedef struct clt_context clt_context;

/* A block of memory on one tier, owned by a context. */
typedef struct clt_buffer clt_buffer;

/* Completion of an asynchronous transfer or op. */
typedef struct clt_event clt_event;

/* Where memory lives. Ops read and write DEVICE and HOST_PINNED buffers; HOST and NVME
 * are staging tiers for offload, moved with clt_buffer_copy. */
typedef enum clt_tier {
    CLT_TIER_DEVICE = 0,      /* device memory (for the host driver: host memory) */
    CLT_TIER_HOST_PINNED = 1, /* host memory the device can reach directly */
    CLT_TIER_HOST = 2,        /* ordinary host memory */
    CLT_TIER_NVME = 3,        /* a file in the context's NVMe directory */
} clt_tier;

#define CLT_TIER_COUNT 4

/* Storage types. Arithmetic is always f32. I32 holds indices (token ids, targets) and
 * U8 the codes of block-wise quantized optimizer states, never values ops compute with
 * directly. */
typedef enum clt_dtype {
    CLT_DTYPE_F32 = 0,
    CLT_DTYPE_F16 = 1,  /* IEEE binary16 */
    CLT_DTYPE_BF16 = 2, /* the top 16 bits of an f32 */
    CLT_DTYPE_I32 = 3,  /* signed 32-bit integer */
    CLT_DTYPE_U8 = 4,   /* byte codes of 8-bit quantized states (one f32 absmax per block) */
} clt_dtype;

#define CLT_DTYPE_COUNT 5
/* The dtypes values are stored in, 0 .. CLT_FLOAT_DTYPE_COUNT - 1: f32, f16, bf16. */
#define CLT_FLOAT_DTYPE_COUNT 3

/* "DEVICE", "HOST_PINNED", "HOST", "NVME"; "?" for an unknown value. Static. */
CLT_API const char *clt_tier_name(clt_tier tier);

/* "f32", "f16", "bf16", "i32", "u8"; "?" for an unknown value. Static. */
CLT_API const char *clt_dtype_name(clt_dtype dtype);

/* Bytes per element: 4, 2 or 1; 0 for an unknown value. */
CLT_API size_t clt_dtype_size(clt_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif
