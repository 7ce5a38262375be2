/* The gradient sync (clt/comm.h): a device buffer of gradients all-reduced in buckets
 * while the backward pass that writes it still runs (PyTorch DDP's bucketing).
 *
 * The buffer is cut into fixed buckets of the wire dtype's bucket_bytes. ready() counts
 * each bucket's final elements; a bucket that completes is read to the host on the
 * device's side queue (after the work submitted so far, without holding up the work
 * submitted later) and queued on the communicator's thread, which waits for that read,
 * converts to the wire dtype, all-reduces and converts back. Buckets complete in the
 * order of the ready() calls, the same on every rank, so the collectives match.
 * finish() waits for them all and writes the host copy back in one transfer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/comm.h"
#include "runtime/dtype_access.h"
#include "runtime/error.h"

#define DEFAULT_BUCKET_BYTES ((size_t)25 << 20)
#define BUCKET_ALIGN 64 /* elements: a bucket starts on a 256-byte boundary of f32 */

struct range {
    size_t first, count;
};

struct bucket {
    clt_grad_sync *owner;
    size_t first, count, ready;
    clt_event *read;          /* the side read of this step, until the thread waits */
    struct comm_job *job;     /* its all-reduce, until finish() */
    double reduce_s;
};

struct clt_grad_sync {
    clt_comm *comm;
    clt_buffer *grads;
    size_t numel;
    clt_dtype dtype, wire;
    void *host;               /* numel of dtype */
    void *wire_buf;           /* numel of wire when it differs from dtype, else NULL */
    struct bucket *buckets;
    int n_buckets, submitted;
    struct range *given;      /* this step's ready() ranges, for the overlap check */
    size_t n_given, cap_given;
};

static bool sync_dtype(clt_dtype d) { return d == CLT_DTYPE_F32 || d == CLT_DTYPE_F16 || d == CLT_DTYPE_BF16; }

clt_status clt_grad_sync_create(clt_comm *comm, clt_buffer *grads, size_t numel,
                                clt_dtype dtype, clt_dtype wire, size_t bucket_bytes,
                                clt_grad_sync **out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_create: out is NULL");
    *out = NULL;
    clt_status s = comm_check(comm, "clt_grad_sync_create");
    if (s != CLT_OK)
        return s;
    if (!grads || numel == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_create: argument %s",
                        grads ? "numel is 0" : "grads is NULL");
    if (!sync_dtype(dtype) || (wire != CLT_DTYPE_F32 && wire != CLT_DTYPE_BF16))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_create: argument %s: dtype %d; "
                                             "gradients are f32, f16 or bf16 and the wire "
                                             "f32 or bf16",
                        sync_dtype(dtype) ? "wire" : "dtype",
                        (int)(sync_dtype(dtype) ? wire : dtype));
    const size_t es = clt_dtype_size(dtype), ws = clt_dtype_size(wire);
    if (numel > clt_buffer_size(grads) / es)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_create: argument numel: %zu "
                                             "elements of %zu bytes are past the buffer's "
                                             "%zu bytes", numel, es, clt_buffer_size(grads));
    size_t per = (bucket_bytes ? bucket_bytes : DEFAULT_BUCKET_BYTES) / ws;
    per = per < BUCKET_ALIGN ? BUCKET_ALIGN : per / BUCKET_ALIGN * BUCKET_ALIGN;
    const size_t n = (numel + per - 1) / per;
    if (n > (size_t)1 << 20)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_create: argument bucket_bytes: "
                                             "%zu makes %zu buckets; give larger buckets",
                        bucket_bytes, n);
    clt_grad_sync *g = calloc(1, sizeof *g);
    if (g) {
        g->host = malloc(numel * es);
        g->wire_buf = wire != dtype ? malloc(numel * ws) : NULL;
        g->buckets = calloc(n, sizeof *g->buckets);
    }
    if (!g || !g->host || (wire != dtype && !g->wire_buf) || !g->buckets) {
        clt_grad_sync_destroy(g);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_grad_sync_create: out of host memory for "
                                               "the host copy of %zu gradient bytes",
                        numel * (es + (wire != dtype ? ws : 0)));
    }
    g->comm = comm;
    g->grads = grads;
    g->numel = numel;
    g->dtype = dtype;
    g->wire = wire;
    g->n_buckets = (int)n;
    for (size_t b = 0; b < n; b++) {
        g->buckets[b].owner = g;
        g->buckets[b].first = b * per;
        g->buckets[b].count = b + 1 < n ? per : numel - b * per;
    }
    *out = g;
    return CLT_OK;
}

/* Waits for a bucket's job; its all-reduce time. */
static clt_status wait_bucket(clt_grad_sync *g, struct bucket *b)
{
    struct comm_job *job = b->job;
    b->job = NULL;
    if (!job)
        return CLT_OK;
    return comm_wait(g->comm, job);
}

void clt_grad_sync_destroy(clt_grad_sync *sync)
{
    if (!sync)
        return;
    if (sync->buckets && !sync->comm->broken[0]) /* let a step under way end first */
        for (int b = 0; b < sync->n_buckets; b++)
            if (sync->buckets[b].job)
                (void)wait_bucket(sync, &sync->buckets[b]);
    if (sync->buckets)
        for (int b = 0; b < sync->n_buckets; b++)
            clt_event_destroy(sync->buckets[b].read);
    free(sync->buckets);
    free(sync->wire_buf);
    free(sync->host);
    free(sync->given);
    free(sync);
}

/* ---- one bucket on the communicator's thread ---------------------------------------- */

static clt_status run_bucket(clt_comm *c, struct comm_job *job)
{
    struct bucket *b = job->arg;
    const clt_grad_sync *g = b->owner;
    clt_status s = clt_event_wait(b->read);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "reading the bucket's gradients from the device");
    const double t0 = comm_now();
    void *data = (char *)g->host + b->first * clt_dtype_size(g->dtype);
    if (g->wire_buf) {
        void *w = (char *)g->wire_buf + b->first * clt_dtype_size(g->wire);
        for (size_t i = 0; i < b->count; i++)
            clt_store_elem(g->wire, w, i, clt_load_elem(g->dtype, data, i));
        s = c->tp->allreduce(c->impl, w, b->count, g->wire, CLT_REDUCE_SUM);
        for (size_t i = 0; s == CLT_OK && i < b->count; i++)
            clt_store_elem(g->dtype, data, i, clt_load_elem(g->wire, w, i));
    } else {
        s = c->tp->allreduce(c->impl, data, b->count, g->dtype, CLT_REDUCE_SUM);
    }
    b->reduce_s = comm_now() - t0;
    return s;
}

static clt_status start_bucket(clt_grad_sync *g, struct bucket *b, int index)
{
    const size_t es = clt_dtype_size(g->dtype), ws = clt_dtype_size(g->wire);
    clt_status s = clt_buffer_read_side(g->grads, b->first * es, (char *)g->host + b->first * es,
                                        b->count * es, &b->read);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_grad_sync_ready: bucket %d", index);
    struct comm_job *job = calloc(1, sizeof *job);
    if (!job)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_grad_sync_ready: out of host memory");
    job->run = run_bucket;
    job->arg = b;
    snprintf(job->what, sizeof job->what, "gradient all-reduce of bucket %d of %d (%zu "
             "bytes of %s)", index + 1, g->n_buckets, b->count * ws,
             g->wire == CLT_DTYPE_F32 ? "f32" : "bf16");
    b->job = job;
    const int n = g->comm->at.size;
    comm_count(g->comm, &g->comm->stats.bytes_reduced, b->count * ws,
               (uint64_t)((double)(b->count * ws) * 2.0 * (n - 1) / n));
    comm_submit(g->comm, job);
    g->submitted++;
    return CLT_OK;
}

clt_status clt_grad_sync_ready(clt_grad_sync *sync, size_t first, size_t count)
{
    if (!sync)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_ready: sync is NULL");
    clt_status s = comm_check(sync->comm, "clt_grad_sync_ready");
    if (s != CLT_OK)
        return s;
    if (first > sync->numel || count > sync->numel - first)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_ready: range [%zu, %zu) is past "
                                             "the %zu gradients", first, first + count,
                        sync->numel);
    if (count == 0)
        return CLT_OK;
    for (size_t i = 0; i < sync->n_given; i++) {
        const struct range *r = &sync->given[i];
        if (first < r->first + r->count && r->first < first + count)
            return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_ready: range [%zu, %zu) "
                                                 "overlaps [%zu, %zu), given already this step",
                            first, first + count, r->first, r->first + r->count);
    }
    if (sync->n_given == sync->cap_given) {
        const size_t cap = sync->cap_given ? 2 * sync->cap_given : 64;
        struct range *more = realloc(sync->given, cap * sizeof *more);
        if (!more)
            return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_grad_sync_ready: out of host memory");
        sync->given = more;
        sync->cap_given = cap;
    }
    sync->given[sync->n_given++] = (struct range){first, count};
    /* buckets are equal-sized but the last: the ones the range touches are contiguous */
    const size_t per = sync->buckets[0].count;
    for (size_t b = first / per; b < (size_t)sync->n_buckets; b++) {
        struct bucket *k = &sync->buckets[b];
        if (k->first >= first + count)
            break;
        const size_t lo = first > k->first ? first : k->first;
        const size_t hi = first + count < k->first + k->count ? first + count : k->first + k->count;
        k->ready += hi - lo;
        if (k->ready == k->count && (s = start_bucket(sync, k, (int)b)) != CLT_OK)
            return s;
    }
    return CLT_OK;
}

clt_status clt_grad_sync_finish(clt_grad_sync *sync, clt_grad_sync_stats *out)
{
    if (!sync)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_finish: sync is NULL");
    clt_status s = comm_check(sync->comm, "clt_grad_sync_finish");
    if (s != CLT_OK)
        return s;
    for (int b = 0; b < sync->n_buckets; b++) {
        const struct bucket *k = &sync->buckets[b];
        if (k->ready != k->count) {
            /* the first element never given: a step must cover every gradient */
            size_t missing = k->first;
            for (size_t i = 0; i < sync->n_given; i++) {
                const struct range *r = &sync->given[i];
                if (r->first <= missing && missing < r->first + r->count) {
                    missing = r->first + r->count;
                    i = (size_t)-1; /* start over: ranges come in any order */
                }
            }
            return clt_fail(CLT_ERR_INVALID_ARG, "clt_grad_sync_finish: gradient %zu (bucket "
                                                 "%d of %d) was never given to "
                                                 "clt_grad_sync_ready this step",
                            missing, b + 1, sync->n_buckets);
        }
    }
    clt_grad_sync_stats st = {.buckets = sync->n_buckets};
    const double t0 = comm_now();
    for (int b = 0; b < sync->n_buckets; b++) {
        struct bucket *k = &sync->buckets[b];
        const clt_status bs = wait_bucket(sync, k);
        clt_event_destroy(k->read);
        k->read = NULL;
        if (bs != CLT_OK && s == CLT_OK)
            s = bs;
        st.reduce_s += k->reduce_s;
        st.bytes += k->count * clt_dtype_size(sync->wire);
    }
    st.exposed_s = comm_now() - t0;
    if (s != CLT_OK)
        return s;
    for (int b = 0; b < sync->n_buckets; b++)
        sync->buckets[b].ready = 0;
    sync->n_given = 0;
    sync->submitted = 0;
    s = clt_buffer_write(sync->grads, 0, sync->host, sync->numel * clt_dtype_size(sync->dtype),
                         NULL);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "clt_grad_sync_finish: writing the sums back");
    if (out)
        *out = st;
    return CLT_OK;
}
