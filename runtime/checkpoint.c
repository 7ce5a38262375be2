/* Checkpoints: named tensors streamed between buffers on any tier and safetensors
 * files. Saving hands each tensor to the atomic writer as a source that reads its buffer
 * a chunk at a time during commit, so the previous file survives every failure and the
 * host never holds more than one chunk of a tensor. Loading validates every requested
 * tensor against the file's header before it writes anything, then streams the data
 * through two host chunks, reading the next from the file while the previous uploads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clt/buffer.h"
#include "clt/checkpoint.h"
#include "clt/safetensors.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/logger.h"

/* What a checked tensor needs for the file. */
typedef struct ck_tensor {
    clt_st_dtype dtype;
    size_t bytes;
} ck_tensor;

/* "[4, 768]" into out; enough room for CLT_ST_MAX_RANK dimensions of 20 digits. */
#define CK_SHAPE_TEXT 256
static void shape_text(const int64_t *shape, int rank, char *out)
{
    size_t len = 0;
    out[len++] = '[';
    for (int i = 0; i < rank; i++)
        len += (size_t)snprintf(out + len, CK_SHAPE_TEXT - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    snprintf(out + len, CK_SHAPE_TEXT - len, "]");
}

/* Checks that tensors[i] names a contiguous tensor inside a buffer of ctx, and works out
 * its file dtype and byte size. Both save and load go through here, so a descriptor the
 * one accepts the other accepts too. */
static clt_status check_tensor(clt_context *ctx, const char *fn,
                               const clt_named_tensor *tensors, size_t i, ck_tensor *out)
{
    const clt_named_tensor *nt = &tensors[i];
    const clt_tensor *t = &nt->tensor;
    if (!nt->name)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensors[%zu].name is NULL", fn, i);
    if (!t->buf)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor \"%s\": buffer is NULL", fn,
                        nt->name);
    /* A buffer of another context would be moved through that context's queue; refusing
     * it keeps one checkpoint on one device. */
    if (t->buf->ctx != ctx)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: tensor \"%s\": its buffer belongs to another context", fn,
                        nt->name);
    size_t esize = clt_dtype_size(t->dtype);
    if (esize == 0 || clt_st_dtype_from_clt(t->dtype, &out->dtype) != CLT_OK)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor \"%s\": dtype %d is not a dtype", fn,
                        nt->name, (int)t->dtype);
    if (t->rank < 1 || t->rank > CLT_MAX_RANK)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: tensor \"%s\": rank %d is outside 1..%d",
                        fn, nt->name, t->rank, CLT_MAX_RANK);
    /* Row-major contiguity, from the innermost dimension out. A dimension of size 1 is
     * never stepped over, so its stride is irrelevant (views made by slicing keep odd
     * ones there). */
    int64_t expect = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] < 1)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: tensor \"%s\": shape[%d] is %lld; every dimension must be "
                            ">= 1",
                            fn, nt->name, d, (long long)t->shape[d]);
        if (t->shape[d] > 1 && t->strides[d] != expect) {
            char shp[CK_SHAPE_TEXT], str[CK_SHAPE_TEXT];
            shape_text(t->shape, t->rank, shp);
            shape_text(t->strides, t->rank, str);
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: tensor \"%s\" is not contiguous: shape %s, strides %s "
                            "(dimension %d has stride %lld, row-major needs %lld); copy it "
                            "into a contiguous tensor first",
                            fn, nt->name, shp, str, d, (long long)t->strides[d],
                            (long long)expect);
        }
        if (__builtin_mul_overflow(expect, t->shape[d], &expect))
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "%s: tensor \"%s\": the number of elements overflows", fn,
                            nt->name);
    }
    size_t bytes, end;
    if (__builtin_mul_overflow((size_t)expect, esize, &bytes) ||
        __builtin_add_overflow(t->offset, bytes, &end) || end > clt_buffer_size(t->buf))
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "%s: tensor \"%s\": %lld elements of %s at byte offset %zu do not "
                        "fit in its buffer of %zu bytes",
                        fn, nt->name, (long long)expect, clt_dtype_name(t->dtype), t->offset,
                        clt_buffer_size(t->buf));
    out->bytes = bytes;
    return CLT_OK;
}

/* ---- saving ---------------------------------------------------------------------------- */

/* The writer's source for a tensor: its buffer, read straight into the writer's chunk.
 * clt_buffer_read blocks, so the chunk is filled when this returns. */
static clt_status read_source(void *user, size_t offset, void *dst, size_t bytes)
{
    const clt_tensor *t = user;
    return clt_buffer_read(t->buf, t->offset + offset, dst, bytes, NULL);
}

clt_status clt_checkpoint_save(clt_context *ctx, const char *path,
                               const clt_named_tensor *tensors, size_t n,
                               const char *const *metadata)
{
    static const char fn[] = "clt_checkpoint_save";
    clt_st_writer *w = NULL;
    clt_status st = CLT_OK;

    if (!ctx || !path || (!tensors && n > 0)) {
        st = clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                      !ctx ? "ctx" : !path ? "path" : "tensors");
        goto done;
    }
    /* Everything the caller got wrong is found before the temporary file exists. */
    for (size_t i = 0; i < n; i++) {
        ck_tensor ck;
        if ((st = check_tensor(ctx, fn, tensors, i, &ck)) != CLT_OK)
            goto done;
    }
    for (size_t k = 0; metadata && metadata[k]; k += 2)
        if (!metadata[k + 1]) {
            st = clt_fail(CLT_ERR_INVALID_ARG,
                          "%s: metadata key \"%s\" has no value (the list is key, value, "
                          "..., NULL)",
                          fn, metadata[k]);
            goto done;
        }

    if ((st = clt_st_writer_open(path, &w)) != CLT_OK)
        goto fail_prefix;
    for (size_t k = 0; metadata && metadata[k]; k += 2)
        if ((st = clt_st_writer_set_metadata(w, metadata[k], metadata[k + 1])) != CLT_OK)
            goto fail_prefix;
    for (size_t i = 0; i < n; i++) {
        const clt_tensor *t = &tensors[i].tensor;
        ck_tensor ck;
        int64_t shape[CLT_ST_MAX_RANK];
        (void)check_tensor(ctx, fn, tensors, i, &ck); /* passed above; recomputes ck */
        for (int d = 0; d < t->rank; d++)
            shape[d] = t->shape[d];
        /* The source only reads the descriptor; the writer's callback type is not const. */
        st = clt_st_writer_add_source(w, tensors[i].name, ck.dtype, t->rank, shape, ck.bytes,
                                      read_source, (void *)t);
        if (st != CLT_OK)
            goto fail_prefix;
    }
    st = clt_st_writer_commit(w);
    if (st != CLT_OK)
        goto fail_prefix;
    clt_log(&ctx->log, CLT_LOG_INFO, "checkpoint: saved %zu tensors to %s", n, path);
    goto done;

fail_prefix:
    st = clt_fail_prefix(st, "%s", fn);
done:
    clt_st_writer_destroy(w);   /* after a failure: removes the temporary file */
    return st;
}

/* ---- loading --------------------------------------------------------------------------- */

/* Checks tensors[i] against the file's entry. Sets *present to whether the file has it;
 * a missing tensor is an error unless `allow_missing`. */
static clt_status check_against_file(const clt_st_reader *r, const char *path,
                                     const clt_named_tensor *nt, const ck_tensor *ck,
                                     bool allow_missing, bool *present)
{
    static const char fn[] = "clt_checkpoint_load";
    const clt_tensor *t = &nt->tensor;
    clt_st_info info;
    char want[CK_SHAPE_TEXT], have[CK_SHAPE_TEXT];

    *present = clt_st_reader_find(r, nt->name, &info) == CLT_OK;
    if (!*present)
        return allow_missing ? CLT_OK
                             : clt_fail(CLT_ERR_FORMAT,
                                        "%s: %s has no tensor \"%s\" (%zu tensors in the "
                                        "file): not a checkpoint of this model or state",
                                        fn, path, nt->name, clt_st_reader_count(r));
    bool same = info.dtype == ck->dtype && info.rank == t->rank;
    for (int d = 0; same && d < t->rank; d++)
        same = info.shape[d] == t->shape[d];
    if (same)
        return CLT_OK;
    shape_text(info.shape, info.rank, have);
    shape_text(t->shape, t->rank, want);
    return clt_fail(CLT_ERR_FORMAT,
                    "%s: %s: tensor \"%s\" is %s %s in the file but %s %s in memory: state "
                    "of the wrong format or size",
                    fn, path, nt->name, clt_st_dtype_name(info.dtype), have,
                    clt_st_dtype_name(ck->dtype), want);
}

clt_status clt_checkpoint_load(clt_context *ctx, const char *path,
                               const clt_named_tensor *tensors, size_t n,
                               clt_checkpoint_load_flags flags)
{
    static const char fn[] = "clt_checkpoint_load";
    clt_st_reader *r = NULL;
    ck_tensor *ck = NULL;
    bool *present = NULL;
    unsigned char *stage = NULL;
    clt_event *ev[2] = {NULL, NULL};
    clt_status st = CLT_OK;

    if (!ctx || !path || (!tensors && n > 0)) {
        st = clt_fail(CLT_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                      !ctx ? "ctx" : !path ? "path" : "tensors");
        goto done;
    }
    if (flags & ~(clt_checkpoint_load_flags)CLT_CHECKPOINT_ALLOW_MISSING) {
        st = clt_fail(CLT_ERR_INVALID_ARG, "%s: unknown flags 0x%x", fn, flags);
        goto done;
    }
    if (n > 0 && (!(ck = malloc(n * sizeof *ck)) || !(present = malloc(n * sizeof *present)))) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu tensor records", fn,
                      n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if ((st = check_tensor(ctx, fn, tensors, i, &ck[i])) != CLT_OK)
            goto done;
    if ((st = clt_st_reader_open(path, &r)) != CLT_OK) {
        st = clt_fail_prefix(st, "%s", fn);
        goto done;
    }

    /* Every check before the first write, so that a refused file changes nothing. */
    size_t largest = 0, loaded = 0;
    for (size_t i = 0; i < n; i++) {
        st = check_against_file(r, path, &tensors[i], &ck[i],
                                (flags & CLT_CHECKPOINT_ALLOW_MISSING) != 0, &present[i]);
        if (st != CLT_OK)
            goto done;
        if (present[i] && ck[i].bytes > largest)
            largest = ck[i].bytes;
    }

    /* Two staging chunks, no larger than the largest tensor needs: while one uploads,
     * the file is read into the other. */
    size_t chunk = largest < CLT_CHECKPOINT_CHUNK ? largest : CLT_CHECKPOINT_CHUNK;
    if (chunk > 0 && !(stage = malloc(2 * chunk))) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: no host memory for two %zu-byte chunks", fn,
                      chunk);
        goto done;
    }
    int slot = 0;
    for (size_t i = 0; i < n; i++) {
        const clt_tensor *t = &tensors[i].tensor;
        if (!present[i]) {
            clt_log(&ctx->log, CLT_LOG_INFO, "checkpoint: %s has no tensor \"%s\"; left as is",
                    path, tensors[i].name);
            continue;
        }
        for (size_t off = 0; off < ck[i].bytes; off += chunk) {
            size_t m = ck[i].bytes - off < chunk ? ck[i].bytes - off : chunk;
            unsigned char *dst = stage + (size_t)slot * chunk;
            /* The chunk's previous upload must be done before it is overwritten. */
            if (ev[slot]) {
                st = clt_event_wait(ev[slot]);
                clt_event_destroy(ev[slot]);
                ev[slot] = NULL;
                if (st != CLT_OK)
                    goto fail_prefix;
            }
            if ((st = clt_st_reader_read_range(r, tensors[i].name, off, dst, m)) != CLT_OK)
                goto fail_prefix;
            if ((st = clt_buffer_write(t->buf, t->offset + off, dst, m, &ev[slot])) != CLT_OK)
                goto fail_prefix;
            slot ^= 1;
        }
        loaded++;
    }
    for (int s = 0; s < 2; s++) {
        if (ev[s]) {
            st = clt_event_wait(ev[s]);
            clt_event_destroy(ev[s]);
            ev[s] = NULL;
            if (st != CLT_OK)
                goto fail_prefix;
        }
    }
    clt_log(&ctx->log, CLT_LOG_INFO, "checkpoint: loaded %zu of %zu tensors from %s", loaded,
            n, path);
    goto done;

fail_prefix:
    st = clt_fail_prefix(st, "%s: %s", fn, path);
done:
    /* Uploads still in flight read from the staging chunks: finish them before freeing.
     * Their status no longer matters, the load has failed already. */
    for (int s = 0; s < 2; s++) {
        if (ev[s]) {
            (void)clt_event_wait(ev[s]);
            clt_event_destroy(ev[s]);
        }
    }
    free(stage);
    free(present);
    free(ck);
    clt_st_reader_close(r);
    return st;
}

/* ---- metadata -------------------------------------------------------------------------- */

clt_status clt_checkpoint_metadata(const char *path, const char *key, char *out, size_t cap,
                                   bool *found)
{
    static const char fn[] = "clt_checkpoint_metadata";
    clt_st_reader *r = NULL;
    clt_status st = CLT_OK;

    if (out && cap > 0)
        out[0] = '\0';
    if (found)
        *found = false;
    if (!path || !key || !out || cap == 0) {
        st = clt_fail(CLT_ERR_INVALID_ARG, "%s: %s", fn,
                      !path  ? "path is NULL"
                      : !key ? "key is NULL"
                      : !out ? "out is NULL"
                             : "cap is 0");
        goto done;
    }
    if ((st = clt_st_reader_open(path, &r)) != CLT_OK) {
        st = clt_fail_prefix(st, "%s", fn);
        goto done;
    }
    const char *value = clt_st_reader_metadata(r, key);
    if (!value) {
        if (!found)
            st = clt_fail(CLT_ERR_FORMAT, "%s: %s has no metadata key \"%s\"", fn, path, key);
        goto done;
    }
    size_t len = strlen(value);
    if (len >= cap) {
        st = clt_fail(CLT_ERR_INVALID_ARG,
                      "%s: %s: the value of \"%s\" needs %zu bytes with its NUL, out has %zu",
                      fn, path, key, len + 1, cap);
        goto done;
    }
    memcpy(out, value, len + 1);
    if (found)
        *found = true;
done:
    clt_st_reader_close(r);
    return st;
}
