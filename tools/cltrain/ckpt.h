/* cltrain's checkpoints: a directory holding
 *   model.safetensors  every parameter under its GPT-2 name, shape and layout (f32),
 *                      the config in the header metadata (n_layer, n_head, n_embd,
 *                      n_ctx, vocab_size), so that other tools load it;
 *   state.safetensors  what a resumed run needs: optimizer state tensors, step, data
 *                      position and RNG state, as tensors and metadata the caller names.
 *
 * Both files are written through clt_checkpoint_save (temporary file, fsync, rename).
 * The pair is kept consistent across crashes: both new files are first written in full
 * under "*.next" names, then renamed into place, state first, the directory fsynced
 * after each rename; both carry the same checkpoint id (metadata CKPT_ID_KEY). A reader
 * that finds ids that differ finishes the interrupted rename from the "*.next" file
 * (which is complete, fsynced and has the matching id; without write access to the
 * directory it reads that file where it stands), so a crash at any instant leaves a
 * loadable checkpoint: the previous one, or the new one. Ids that differ with no
 * "*.next" to join them (files copied by hand) are an error naming both ids. A save
 * first completes an interrupted pair, then removes "*.next" leftovers and the
 * temporary files of writers that died.
 *
 * One writer per directory at a time. A file without an id (model.safetensors written
 * by another tool) is read without the pairing check. */
#ifndef CLTRAIN_CKPT_H
#define CLTRAIN_CKPT_H

#include <stdbool.h>
#include <stddef.h>

#include <clt/clt.h>

#include "gpt.h"

/* The metadata key of the checkpoint id, in both files. It and "clt_version" are set by
 * ckpt_save and may not be in state_meta. */
#define CKPT_ID_KEY "checkpoint_id"

/* Writes the model's master parameters and the state tensors, with state_meta (NULL or
 * key, value, ..., NULL) in state.safetensors' metadata, into dir (created if missing,
 * one level). model.safetensors' metadata: format "pt", n_layer, n_head, n_embd, n_ctx,
 * vocab_size, clt_version and the id. Errors (false, err names the directory or file
 * and why: unwritable, disk full): the checkpoint previously in dir stays loadable. */
bool ckpt_save(clt_context *ctx, const char *dir, gpt_model *m,
               const clt_named_tensor *state, size_t n_state, const char *const *state_meta,
               char *err, size_t cap);

/* The config stored in dir/model.safetensors (after recovering an interrupted save).
 * Errors: missing directory or file, corrupt or truncated file, missing or malformed
 * config keys, a config gpt_config_valid refuses or that the embeddings' shapes
 * contradict. */
bool ckpt_read_config(const char *dir, struct gpt_config *cfg, char *err, size_t cap);

/* Loads the master parameters (and updates the working copy). A file of another shape
 * is refused with the model unchanged: the error names the tensor and both shapes, a
 * tensor one side lacks, or the head counts (which no shape shows). */
bool ckpt_load_model(clt_context *ctx, const char *dir, gpt_model *m, char *err, size_t cap);

/* Loads the state tensors from dir/state.safetensors; each is checked (dtype, shape)
 * before any is written. */
bool ckpt_load_state(clt_context *ctx, const char *dir, const clt_named_tensor *state,
                     size_t n_state, char *err, size_t cap);

/* A metadata value of dir/state.safetensors into out (cap bytes); false with err when
 * the key is missing. */
bool ckpt_state_meta(const char *dir, const char *key, char *out, size_t cap, char *err,
                     size_t errcap);

#endif
