/* clt — saving and loading named tensors (model weights, optimizer state) as
 * safetensors files.
 *
 * A checkpoint is a list of (name, tensor) pairs. Saving streams every tensor from its
 * buffer, on any tier, into a safetensors file through the atomic writer of
 * clt/safetensors.h: the bytes move in chunks of CLT_CHECKPOINT_CHUNK, so a model is
 * never held in host memory as a whole, and on any failure the file previously at the
 * path stays as it was. Loading checks every requested tensor against the file (present,
 * same dtype, same shape) before it writes any buffer, so a checkpoint of the wrong
 * model or size is refused with the buffers unchanged.
 *
 * Optimizer state goes in as ordinary tensors: f32 moments, or the u8 codes and f32
 * absmax of 8-bit states, each under its own name (e.g. "h.0.mlp.c_fc.weight.m" and
 * "h.0.mlp.c_fc.weight.m_absmax"); the bytes round-trip exactly. */
#ifndef CLT_CHECKPOINT_H
#define CLT_CHECKPOINT_H

#include "clt/status.h"
#include "clt/tensor.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes moved per step between a buffer and the file, in both directions: the host
 * memory a save or load needs beyond the tensors' descriptors (a load keeps two such
 * blocks so that reading the file overlaps the upload of the previous block). Equal to
 * the safetensors writer's chunk for source tensors. */
#define CLT_CHECKPOINT_CHUNK ((size_t)4 << 20)

/* A tensor and the name it has in the file. The tensor must be row-major contiguous
 * (strides of dimensions of size 1 do not matter) and lie inside its buffer. */
typedef struct clt_named_tensor {
    const char *name;
    clt_tensor tensor;
} clt_named_tensor;

/* Writes the tensors, in the order given, to a safetensors file that replaces `path`
 * atomically. `metadata` is NULL or a list of key, value, key, value, ..., NULL stored
 * in "__metadata__" (strings; e.g. {"format", "pt", "step", "1200", NULL}).
 *
 * Errors: CLT_ERR_INVALID_ARG for a NULL argument, a tensor that is not contiguous, lies
 * outside its buffer or belongs to another context, an empty, duplicate or non-UTF-8
 * name, or a key without a value (the text names the tensor or key); CLT_ERR_IO when the
 * file cannot be written (a missing directory, a full disk); the status of
 * clt_buffer_read when a buffer cannot be read. In every failure `path` is untouched.
 * The tensors, names and metadata are read during the call only. Reading the buffers
 * is work on ctx: one thread at a time per context (clt.h). */
CLT_API clt_status clt_checkpoint_save(clt_context *ctx, const char *path,
                                       const clt_named_tensor *tensors, size_t n,
                                       const char *const *metadata);

/* Flags for clt_checkpoint_load, OR'd together. */
typedef unsigned clt_checkpoint_load_flags;
enum {
    CLT_CHECKPOINT_LOAD_STRICT = 0u,          /* every named tensor must be in the file */
    CLT_CHECKPOINT_ALLOW_MISSING = 1u << 0,   /* tensors not in the file are left as they
                                               * are (logged at INFO) */
};

/* Reads each named tensor from the file at `path` into its buffer. Tensors in the file
 * that are not asked for are ignored. Before any buffer is written, every tensor is
 * found and checked: its dtype and shape must equal the file's exactly.
 *
 * Errors: CLT_ERR_INVALID_ARG for a NULL argument, unknown flags, or a tensor that is
 * not contiguous, lies outside its buffer or belongs to another context; CLT_ERR_IO when
 * the file cannot be opened or read; CLT_ERR_FORMAT when it is not a valid safetensors
 * file (corrupt, truncated), lacks a named tensor (without
 * CLT_CHECKPOINT_ALLOW_MISSING), or holds it with another dtype or shape — the text
 * names the file, the tensor, and both dtypes and shapes. After any of these the buffers
 * are unchanged, except after a read or transfer error in the middle of the data (the
 * file shrank, the device failed), which can leave tensors partly loaded. Writing the
 * buffers is work on ctx: one thread at a time per context (clt.h). */
CLT_API clt_status clt_checkpoint_load(clt_context *ctx, const char *path,
                                       const clt_named_tensor *tensors, size_t n,
                                       clt_checkpoint_load_flags flags);

/* Copies the "__metadata__" value of `key` in the file at `path` into out (cap bytes,
 * NUL-terminated). With `found` non-NULL, a key that is not in the file is not an
 * error: *found is set to false and out to "". With `found` NULL, it is CLT_ERR_FORMAT
 * naming the file and key (for values a caller cannot go on without, like the step).
 *
 * Errors: CLT_ERR_INVALID_ARG for a NULL path, key or out, cap 0, or a value that does
 * not fit in cap bytes with its NUL (the text says how many it needs); CLT_ERR_IO or
 * CLT_ERR_FORMAT as for clt_checkpoint_load. On failure out holds "" when cap > 0.
 * Needs no context; thread-safe. */
CLT_API clt_status clt_checkpoint_metadata(const char *path, const char *key, char *out,
                                           size_t cap, bool *found);

#ifdef __cplusplus
}
#endif
#endif
