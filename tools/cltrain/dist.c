/* cltrain's data parallelism (dist.h): the communicator, the split of the optimizer
 * state, the gradient sync, the parameters' all-gather and the checkpoint's gather. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "failf.h"

/* Bytes of one point-to-point message of the checkpoint's gather: a bounded staging
 * area on both sides, whatever the state's size. */
#define STATE_CHUNK ((size_t)64 << 20)

/* The launchers' variables clt_comm_launch_size reads, for the refusal's text. */
static const char *const launch_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                          "MV2_COMM_WORLD_SIZE"};

bool dist_launch_refused(int launch_size, bool has_mpi, char *err, size_t cap)
{
    if (launch_size <= 1 || has_mpi)
        return false;
    char said[96] = "the launcher's environment";
    for (size_t i = 0; i < sizeof launch_vars / sizeof launch_vars[0]; i++) {
        const char *v = getenv(launch_vars[i]);
        if (v && *v) {
            snprintf(said, sizeof said, "%s=%s", launch_vars[i], v);
            break;
        }
    }
    failf(err, cap,
          "this launch has %d ranks (%s) but this cltrain was built without MPI; rebuild "
          "with -DCLT_MPI=ON (Debian: apt-get install libopenmpi-dev), or run one process",
          launch_size, said);
    return true;
}

bool dist_open(struct dist *d, const struct dist_opts *opts, char *err, size_t cap)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    d->wire = opts->wire;
    d->bucket_bytes = opts->bucket_bytes;
    snprintf(d->prefix, sizeof d->prefix, "cltrain: ");
    if (opts->mode == DIST_AUTO) {
        const int launched = clt_comm_launch_size();
        if (dist_launch_refused(launched, clt_comm_has_mpi(), err, cap))
            return false;
        if (launched <= 1)
            return true;
    }
    clt_comm_opts co;
    clt_comm_opts_init(&co);
    co.transport = opts->mode == DIST_SELF ? CLT_COMM_SELF : CLT_COMM_MPI;
    co.timeout_s = opts->timeout_s;
    const clt_status s = clt_comm_create(&co, &d->comm);
    if (s != CLT_OK)
        return failf(err, cap, "joining the job's ranks: %s (%s)", clt_last_error(),
                     clt_status_str(s));
    d->rank = clt_comm_rank(d->comm);
    d->size = clt_comm_size(d->comm);
    d->local_rank = clt_comm_local_rank(d->comm);
    d->shard = opts->shard && d->size > 1;
    if (d->size > 1)
        snprintf(d->prefix, sizeof d->prefix, "cltrain: rank %d of %d: ", d->rank, d->size);
    return true;
}

void dist_detach(struct dist *d)
{
    clt_grad_sync_destroy(d->sync);
    d->sync = NULL;
}

void dist_close(struct dist *d)
{
    dist_detach(d);
    clt_comm_destroy(d->comm);
    free(d->owner_first);
    free(d->elem_first);
    free(d->counts);
    free(d->gather);
    free(d->state_bytes);
    memset(d, 0, sizeof *d);
}

bool dist_device(const struct dist *d, const char *list, char *out, size_t cap,
                 const char **device, char *err, size_t errcap)
{
    *device = NULL;
    if (!list)
        return true;
    int count = 1;
    for (const char *c = list; *c; c++)
        count += *c == ',';
    const int pick = d->local_rank % count;
    const char *at = list;
    for (int i = 0; i < pick; i++)
        at = strchr(at, ',') + 1;
    const char *end = strchr(at, ',');
    const size_t len = end ? (size_t)(end - at) : strlen(at);
    if (len == 0)
        return failf(err, errcap, "--device %s: entry %d (local rank %d's) is empty", list,
                     pick + 1, d->local_rank);
    if (len >= cap)
        return failf(err, errcap, "--device %s: entry %d is too long", list, pick + 1);
    memcpy(out, at, len);
    out[len] = '\0';
    *device = out;
    return true;
}

void dist_split(const struct gpt_param *params, size_t count, size_t layout_elems, int ranks,
                size_t *owner_first, size_t *elem_first)
{
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += (double)params[i].numel;
    size_t i = 0;
    double acc = 0; /* elements of tensors [0, i) */
    owner_first[0] = 0;
    for (int r = 1; r < ranks; r++) {
        const double target = total * r / ranks;
        while (i < count && acc + (double)params[i].numel <= target)
            acc += (double)params[i++].numel;
        /* the tensor that straddles the share goes where it leaves the smaller miss */
        if (i < count && acc + (double)params[i].numel - target < target - acc)
            acc += (double)params[i++].numel;
        owner_first[r] = i;
    }
    owner_first[ranks] = count;
    for (int r = 0; r <= ranks; r++)
        elem_first[r] = owner_first[r] < count ? params[owner_first[r]].offset : layout_elems;
}

void dist_owned(const struct dist *d, size_t count, size_t *first, size_t *end)
{
    *first = 0;
    *end = count;
    if (d->shard) {
        *first = d->owner_first[d->rank];
        *end = d->owner_first[d->rank + 1];
    }
}

/* A streamed model's split is its engine's: whole groups, each where
 * clt_offload_group_owner puts it (contiguous, ascending, as dist_split's). */
static clt_status split_groups(struct dist *d, clt_offload *off, const struct gpt_param *params,
                               size_t count, size_t layout_elems)
{
    for (int r = 0; r <= d->size; r++)
        d->owner_first[r] = count;
    size_t i = 0;
    for (int g = 0; i < count; g++) {
        int n = 0;
        const clt_status s = clt_offload_group_tensors(off, g, &n);
        if (s != CLT_OK)
            return s;
        /* the ranks up to the group's owner that have no tensor yet start here */
        for (int r = clt_offload_group_owner(off, g); r >= 0 && d->owner_first[r] == count; r--)
            d->owner_first[r] = i;
        i += (size_t)n;
    }
    for (int r = 0; r <= d->size; r++)
        d->elem_first[r] = d->owner_first[r] < count ? params[d->owner_first[r]].offset
                                                     : layout_elems;
    return CLT_OK;
}

clt_status dist_attach(struct dist *d, gpt_model *m, size_t layout_elems)
{
    if (!d->comm)
        return CLT_OK;
    size_t count = 0;
    const struct gpt_param *params = gpt_param_table(m, &count);
    clt_offload *off = gpt_offload(m);
    const size_t n = (size_t)d->size + 1;
    d->owner_first = calloc(n, sizeof *d->owner_first);
    d->elem_first = calloc(n, sizeof *d->elem_first);
    d->counts = calloc(n, sizeof *d->counts);
    d->state_bytes = calloc(n, sizeof *d->state_bytes);
    if (d->shard && !off) /* a streamed model's engine shares the masters itself */
        d->gather = malloc(layout_elems * sizeof *d->gather);
    if (!d->owner_first || !d->elem_first || !d->counts || !d->state_bytes ||
        (d->shard && !off && !d->gather))
        return CLT_ERR_OUT_OF_MEMORY;
    clt_status s = CLT_OK;
    if (d->shard && off) {
        s = split_groups(d, off, params, count, layout_elems);
    } else if (d->shard) {
        dist_split(params, count, layout_elems, d->size, d->owner_first, d->elem_first);
    } else { /* rank 0 holds the whole state; the others hold it too, but none is sent */
        for (int r = 1; r <= d->size; r++) {
            d->owner_first[r] = count;
            d->elem_first[r] = layout_elems;
        }
    }
    for (int r = 0; r < d->size; r++)
        d->counts[r] = d->elem_first[r + 1] - d->elem_first[r];
    if (s != CLT_OK || off) /* the engine all-reduces a streamed model's gradients */
        return s;
    return clt_grad_sync_create(d->comm, gpt_grad_buffer(m), layout_elems, gpt_dtype(m),
                                d->wire, d->bucket_bytes, &d->sync);
}

clt_status dist_grad_ready(void *user, size_t first, size_t count)
{
    struct dist *d = user;
    return clt_grad_sync_ready(d->sync, first, count);
}

clt_status dist_grad_finish(struct dist *d)
{
    return clt_grad_sync_finish(d->sync, &d->last);
}

clt_status dist_sum(struct dist *d, float *v, size_t n)
{
    return clt_comm_allreduce(d->comm, v, n, CLT_DTYPE_F32, CLT_REDUCE_SUM);
}

clt_status dist_gather_params(struct dist *d, gpt_model *m)
{
    clt_buffer *master = gpt_param_buffer(m);
    const size_t lo = d->elem_first[d->rank], hi = d->elem_first[d->rank + 1];
    const size_t total = d->elem_first[d->size];
    clt_status s = CLT_OK;
    if (hi > lo)
        s = clt_buffer_read(master, lo * 4, d->gather + lo, (hi - lo) * 4, NULL);
    if (s == CLT_OK)
        s = clt_comm_allgather(d->comm, d->gather, d->counts, sizeof *d->gather);
    if (s == CLT_OK && lo > 0)
        s = clt_buffer_write(master, 0, d->gather, lo * 4, NULL);
    if (s == CLT_OK && total > hi)
        s = clt_buffer_write(master, hi * 4, d->gather + hi, (total - hi) * 4, NULL);
    return s == CLT_OK ? gpt_sync_work(m) : s;
}

clt_status dist_share_sizes(struct dist *d, uint64_t mine)
{
    if (!d->comm)
        return CLT_OK;
    size_t *per = malloc((size_t)d->size * sizeof *per);
    if (!per)
        return CLT_ERR_OUT_OF_MEMORY;
    for (int r = 0; r < d->size; r++)
        per[r] = 1;
    d->state_bytes[d->rank] = mine;
    const clt_status s = clt_comm_allgather(d->comm, d->state_bytes, per, sizeof(uint64_t));
    free(per);
    return s;
}

/* ---- what a step moved ---------------------------------------------------------------- */

struct dist_mark dist_mark(const struct dist *d, gpt_model *m)
{
    struct dist_mark k;
    memset(&k, 0, sizeof k);
    clt_offload *off = gpt_offload(m);
    clt_offload_stats os;
    if (d->comm)
        (void)clt_comm_get_stats(d->comm, &k.run);
    if (d->comm && off) {
        (void)clt_offload_comm_stats(off, &k.engine);
        if (clt_offload_get_stats(off, &os) == CLT_OK)
            k.grad_wait_s = os.grad_wait_s;
    }
    return k;
}

struct comm_report dist_report(const struct dist *d, gpt_model *m, const optim *opt,
                               const struct dist_mark *a, const struct dist_mark *b)
{
    struct comm_report c = {
        .ranks = d->size,
        .bytes_reduced = b->run.bytes_reduced - a->run.bytes_reduced +
                         b->engine.bytes_reduced - a->engine.bytes_reduced,
        .bytes_gathered = b->run.bytes_gathered - a->run.bytes_gathered +
                          b->engine.bytes_gathered - a->engine.bytes_gathered,
        .bytes_sent = b->run.bytes_sent_model - a->run.bytes_sent_model +
                      b->engine.bytes_sent_model - a->engine.bytes_sent_model,
        .grad_bytes = d->last.bytes,
        .reduce_s = d->last.reduce_s,
        .exposed_s = d->last.exposed_s,
        .state_bytes = optim_state_bytes(opt)};
    if (gpt_offload(m)) { /* the engine's collectives: its busy time, the caller's wait */
        c.grad_bytes = b->engine.bytes_reduced - a->engine.bytes_reduced;
        c.reduce_s = b->engine.busy_s - a->engine.busy_s;
        c.exposed_s = b->grad_wait_s - a->grad_wait_s;
    }
    return c;
}

void dist_report_add(struct comm_report *total, const struct comm_report *step)
{
    total->ranks = step->ranks;
    total->bytes_reduced += step->bytes_reduced;
    total->bytes_gathered += step->bytes_gathered;
    total->bytes_sent += step->bytes_sent;
    total->grad_bytes += step->grad_bytes;
    total->reduce_s += step->reduce_s;
    total->exposed_s += step->exposed_s;
    total->state_bytes = step->state_bytes;
}

/* ---- the checkpoint's gather ---------------------------------------------------------- */

/* An offloaded rank's state (the engine's tensors) copied into a HOST buffer in the
 * layout optim_create_view reads, which a resident rank's state buffer has already. */
static bool pack_state(struct dist *d, clt_context *ctx, gpt_model *m, enum optim_kind kind,
                       const optim *own, clt_buffer **out, char *err, size_t cap)
{
    const size_t first = d->owner_first[d->rank], end = d->owner_first[d->rank + 1];
    optim *view = NULL;
    clt_status s = clt_buffer_create(ctx, optim_range_bytes(m, kind, first, end),
                                     CLT_TIER_HOST, out);
    if (s == CLT_OK)
        s = optim_create_view(m, kind, first, end, *out, &view);
    size_t n = 0, nv = 0;
    const clt_named_tensor *t = optim_state_tensors(own, &n);
    const clt_named_tensor *v = view ? optim_state_tensors(view, &nv) : NULL;
    bool ok = s == CLT_OK && n == nv;
    if (s == CLT_OK && n != nv)
        failf(err, cap, "checkpoint: this rank holds %zu optimizer state tensors, its share "
                        "of the layout has %zu", n, nv);
    for (size_t i = 0; i < nv && ok; i++) {
        s = clt_buffer_copy(v[i].tensor.buf, v[i].tensor.offset, t[i].tensor.buf,
                            t[i].tensor.offset,
                            (size_t)v[i].tensor.shape[0] * clt_dtype_size(v[i].tensor.dtype),
                            NULL);
        ok = s == CLT_OK;
    }
    if (s != CLT_OK)
        failf(err, cap, "checkpoint: gathering this rank's optimizer state: %s (%s)",
              clt_last_error(), clt_status_str(s));
    optim_destroy(view);
    return ok;
}

/* A rank's whole state to rank 0 in STATE_CHUNK messages. */
static bool send_state(struct dist *d, clt_context *ctx, gpt_model *m, enum optim_kind kind,
                       const optim *own, char *err, size_t cap)
{
    const size_t bytes = optim_range_bytes(m, kind, d->owner_first[d->rank],
                                           d->owner_first[d->rank + 1]);
    if (bytes == 0)
        return true;
    clt_buffer *packed = NULL, *buf = optim_state_buffer(own);
    if (!buf && !pack_state(d, ctx, m, kind, own, &packed, err, cap)) {
        clt_buffer_destroy(packed);
        return false;
    }
    buf = buf ? buf : packed;
    clt_status s = CLT_OK;
    void *stage = malloc(bytes < STATE_CHUNK ? bytes : STATE_CHUNK);
    if (!stage) {
        clt_buffer_destroy(packed);
        return failf(err, cap, "checkpoint: out of host memory staging the optimizer state");
    }
    for (size_t at = 0; at < bytes && s == CLT_OK; at += STATE_CHUNK) {
        const size_t n = bytes - at < STATE_CHUNK ? bytes - at : STATE_CHUNK;
        s = clt_buffer_read(buf, at, stage, n, NULL);
        if (s == CLT_OK)
            s = clt_comm_send(d->comm, stage, n, 0);
    }
    free(stage);
    clt_buffer_destroy(packed);
    if (s != CLT_OK)
        return failf(err, cap, "checkpoint: sending this rank's optimizer state to rank 0: "
                               "%s (%s)", clt_last_error(), clt_status_str(s));
    return true;
}

/* Rank r's state into a HOST buffer (a tier every device has), and a view of it. */
static bool receive_state(struct dist *d, clt_context *ctx, gpt_model *m, enum optim_kind kind,
                          int r, struct dist_state *out, char *err, size_t cap)
{
    const size_t first = d->owner_first[r], end = d->owner_first[r + 1];
    const size_t bytes = optim_range_bytes(m, kind, first, end);
    if (bytes == 0)
        return true;
    clt_buffer *buf = NULL;
    clt_status s = clt_buffer_create(ctx, bytes, CLT_TIER_HOST, &buf);
    if (s != CLT_OK)
        return failf(err, cap, "checkpoint: room for rank %d's optimizer state: %s (%s)", r,
                     clt_last_error(), clt_status_str(s));
    out->bufs[out->n_views] = buf;
    void *stage = malloc(bytes < STATE_CHUNK ? bytes : STATE_CHUNK);
    if (!stage)
        return failf(err, cap, "checkpoint: out of host memory receiving rank %d's state", r);
    for (size_t at = 0; at < bytes && s == CLT_OK; at += STATE_CHUNK) {
        const size_t n = bytes - at < STATE_CHUNK ? bytes - at : STATE_CHUNK;
        s = clt_comm_recv(d->comm, stage, n, r);
        if (s == CLT_OK)
            s = clt_buffer_write(buf, at, stage, n, NULL);
    }
    free(stage);
    if (s == CLT_OK)
        s = optim_create_view(m, kind, first, end, buf, &out->views[out->n_views]);
    if (s != CLT_OK)
        return failf(err, cap, "checkpoint: receiving rank %d's optimizer state: %s (%s)", r,
                     clt_last_error(), clt_status_str(s));
    out->n_views++;
    return true;
}

/* Rank 0: its own tensors, then each view's: layout order, since the runs ascend. */
static bool join_state(const optim *own, struct dist_state *out, char *err, size_t cap)
{
    size_t n = 0, k = 0;
    (void)optim_state_tensors(own, &n);
    for (int v = 0; v < out->n_views; v++) {
        size_t nv = 0;
        (void)optim_state_tensors(out->views[v], &nv);
        n += nv;
    }
    out->joined = calloc(n ? n : 1, sizeof *out->joined);
    if (!out->joined)
        return failf(err, cap, "checkpoint: out of host memory listing the state");
    for (int v = -1; v < out->n_views; v++) {
        size_t nv = 0;
        const clt_named_tensor *t = optim_state_tensors(v < 0 ? own : out->views[v], &nv);
        memcpy(out->joined + k, t, nv * sizeof *t);
        k += nv;
    }
    out->tensors = out->joined;
    out->n = n;
    return true;
}

bool dist_gather_state(struct dist *d, clt_context *ctx, gpt_model *m, enum optim_kind kind,
                       const optim *own, struct dist_state *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!d->shard) {
        out->tensors = optim_state_tensors(own, &out->n);
        return true;
    }
    if (d->rank != 0)
        return send_state(d, ctx, m, kind, own, err, cap);
    out->views = calloc((size_t)d->size, sizeof *out->views);
    out->bufs = calloc((size_t)d->size, sizeof *out->bufs);
    if (!out->views || !out->bufs)
        return failf(err, cap, "checkpoint: out of host memory gathering the state");
    for (int r = 1; r < d->size; r++)
        if (!receive_state(d, ctx, m, kind, r, out, err, cap))
            return false;
    return join_state(own, out, err, cap);
}

void dist_state_release(struct dist_state *s)
{
    for (int v = 0; s->views && v < s->n_views; v++)
        optim_destroy(s->views[v]);
    for (int v = 0; s->bufs && v <= s->n_views; v++)
        clt_buffer_destroy(s->bufs[v]);
    free(s->views);
    free(s->bufs);
    free(s->joined);
    memset(s, 0, sizeof *s);
}

clt_status dist_share_verdict(struct dist *d, bool *ok)
{
    int32_t flag = *ok;
    const clt_status s = clt_comm_bcast(d->comm, &flag, sizeof flag, 0);
    *ok = flag != 0;
    return s;
}

void dist_test_fault(const struct dist *d, int64_t step)
{
    if (!d->comm || d->size < 2 || d->rank != d->size - 1)
        return;
    const char *die = getenv("CLTRAIN_TEST_DIE_AT_STEP");
    const char *hang = getenv("CLTRAIN_TEST_HANG_AT_STEP");
    if (die && strtoll(die, NULL, 10) == step)
        raise(SIGKILL);
    if (hang && strtoll(hang, NULL, 10) == step)
        for (;;)
            pause(); /* a signal's handler returns here: hung until killed */
}
