/* The offload engine (clt/offload.h): options, groups, the plan (bytes per tier,
 * checked against every budget before anything is allocated), and master values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/host/host_threads.h"
#include "runtime/buffer.h"
#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/offload.h"

#define STATE_ALIGN 256 /* bytes: every state tensor starts on its own boundary */
#define ZERO_CHUNK ((size_t)1 << 20)

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void clt_offload_opts_init(clt_offload_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->master_tier = CLT_TIER_HOST;
    opts->optimizer = CLT_OP_ADAMW;
    opts->hparams = (clt_optim_hparams){.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                        .grad_scale = 1.0f, .step = 1};
    opts->work_dtype = CLT_DTYPE_F32;
    opts->device_slots = 2;
    opts->grad_slots = 2;
}

static clt_status check_opts(const clt_offload_opts *o)
{
    if (o->master_tier != CLT_TIER_HOST && o->master_tier != CLT_TIER_NVME)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: master_tier %s: the master parameters live on "
                        "HOST or NVME",
                        clt_tier_name(o->master_tier));
    if (o->optimizer != CLT_OP_ADAMW && o->optimizer != CLT_OP_SGD &&
        o->optimizer != CLT_OP_LAMB)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: optimizer %s is not adamw, sgd or lamb",
                        clt_op_name(o->optimizer));
    if (o->work_dtype != CLT_DTYPE_F32 && o->work_dtype != CLT_DTYPE_F16 &&
        o->work_dtype != CLT_DTYPE_BF16)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: work_dtype %s is not f32, f16 or bf16",
                        clt_dtype_name(o->work_dtype));
    if (o->device_slots < 2 || o->device_slots > 64)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: device_slots is %d; it must be 2..64 (one "
                        "computes while the next is fetched)",
                        o->device_slots);
    if (o->grad_slots < 1 || o->grad_slots > 64)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: grad_slots is %d; it must be 1..64", o->grad_slots);
    if (o->update != CLT_OFFLOAD_UPDATE_AFTER_BACKWARD && o->update != CLT_OFFLOAD_UPDATE_EAGER)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_create: update is %d; it must be "
                        "CLT_OFFLOAD_UPDATE_AFTER_BACKWARD or CLT_OFFLOAD_UPDATE_EAGER",
                        (int)o->update);
    if (o->q8_block < 0 || o->q8_block > (1 << 20))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_create: q8_block is %d",
                        (int)o->q8_block);
    return CLT_OK;
}

clt_status clt_offload_create(clt_context *ctx, const clt_offload_opts *opts, clt_offload **out)
{
    if (!ctx || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_create: %s is NULL",
                        ctx ? "out" : "ctx");
    *out = NULL;
    clt_offload_opts o;
    clt_offload_opts_init(&o);
    if (opts)
        o = *opts;
    clt_status s = check_opts(&o);
    if (s != CLT_OK)
        return s;
    clt_offload *off = calloc(1, sizeof *off);
    if (!off)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_offload_create: no host memory");
    off->ctx = ctx;
    off->opts = o;
    off->es = clt_dtype_size(o.work_dtype);
    off->t0 = clt_offload_now();
    pthread_mutex_init(&off->lock, NULL);
    pthread_cond_init(&off->cond, NULL);
    *out = off;
    return CLT_OK;
}

void clt_offload_destroy(clt_offload *off)
{
    if (!off)
        return;
    clt_offload_worker_stop(off);
    clt_comm_destroy(off->comm); /* the worker's; after it stopped */
    clt_offload_free_events(off);
    for (int g = 0; g < off->n_groups; g++) {
        struct clt_offload_group *gr = &off->groups[g];
        if (gr->resident) {
            clt_buffer_destroy(gr->dev_work);
            clt_buffer_destroy(gr->dev_grad);
        }
        free(gr->tensors);
    }
    for (int i = 0; off->slots && i < off->opts.device_slots; i++)
        clt_buffer_destroy(off->slots[i].buf);
    for (int i = 0; off->grad_slots && i < off->opts.grad_slots; i++)
        clt_buffer_destroy(off->grad_slots[i].buf);
    free(off->slots);
    free(off->grad_slots);
    clt_buffer_destroy(off->master);
    clt_buffer_destroy(off->state);
    clt_buffer_destroy(off->grads);
    clt_buffer_destroy(off->work);
    clt_buffer_destroy(off->staging[0]);
    clt_buffer_destroy(off->staging[1]);
    clt_buffer_destroy(off->norm);
    free(off->groups);
    pthread_cond_destroy(&off->cond);
    pthread_mutex_destroy(&off->lock);
    free(off);
}

/* The state tensors of one parameter tensor, placed from *at (bytes) on. */
static void lay_out_state(const clt_offload *off, struct clt_offload_tensor_state *ts,
                          size_t *at)
{
    const clt_offload_opts *o = &off->opts;
    const size_t n = ts->t.numel;
    const size_t block = o->q8_block ? (size_t)o->q8_block : CLT_Q8_DEFAULT_BLOCK;
    ts->q8 = o->q8_states && n >= CLT_Q8_MIN_ELEMENTS;
    const int moments = o->optimizer == CLT_OP_SGD ? 1 : 2;
    ts->n_states = ts->q8 ? 2 * moments : moments;
    for (int k = 0; k < ts->n_states; k++) {
        const bool absmax = k >= moments;
        ts->state_dtype[k] = ts->q8 && !absmax ? CLT_DTYPE_U8 : CLT_DTYPE_F32;
        ts->state_numel[k] = absmax ? (n + block - 1) / block : n;
        *at = align_up(*at, STATE_ALIGN);
        ts->state_off[k] = *at;
        *at += ts->state_numel[k] * clt_dtype_size(ts->state_dtype[k]);
    }
}

clt_status clt_offload_add_group(clt_offload *off, size_t numel,
                                 const clt_offload_tensor *tensors, int n_tensors,
                                 bool resident, int *id)
{
    if (!off || !tensors || !id)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_add_group: %s is NULL",
                        !off ? "off" : !tensors ? "tensors" : "id");
    if (off->planned)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_add_group: the engine is planned; add groups before "
                        "clt_offload_plan");
    if (numel == 0 || n_tensors < 1 || numel > SIZE_MAX / 16 - off->total)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_add_group: group %d has %zu elements and %d tensors; "
                        "both must be >= 1 (and the total addressable)",
                        off->n_groups, numel, n_tensors);
    for (int t = 0; t < n_tensors; t++) {
        const clt_offload_tensor *x = &tensors[t];
        if (x->numel == 0 || x->offset > numel || x->numel > numel - x->offset)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "clt_offload_add_group: tensor %d (%zu elements at %zu) is "
                            "outside the group's %zu elements",
                            t, x->numel, x->offset, numel);
    }
    if (off->n_groups == off->cap_groups) {
        const int cap = off->cap_groups ? 2 * off->cap_groups : 16;
        struct clt_offload_group *g = realloc(off->groups, (size_t)cap * sizeof *g);
        if (!g)
            return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_offload_add_group: no host memory");
        off->groups = g;
        off->cap_groups = cap;
    }
    struct clt_offload_group *g = &off->groups[off->n_groups];
    memset(g, 0, sizeof *g);
    g->tensors = calloc((size_t)n_tensors, sizeof *g->tensors);
    if (!g->tensors)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "clt_offload_add_group: no host memory");
    g->numel = numel;
    g->first = off->total;
    g->n_tensors = n_tensors;
    g->resident = resident;
    g->slot = g->grad_slot = -1;
    g->host_version = 1;
    size_t at = align_up(off->state_total, STATE_ALIGN);
    g->state_first = at;
    for (int t = 0; t < n_tensors; t++) {
        g->tensors[t].t = tensors[t];
        lay_out_state(off, &g->tensors[t], &at);
    }
    g->state_bytes = at - g->state_first;
    off->state_total = at;
    off->total += numel;
    if (!resident && numel > off->max_streamed)
        off->max_streamed = numel;
    *id = off->n_groups++;
    return CLT_OK;
}

static bool needs_work_copy(const clt_offload *off)
{
    return off->opts.work_dtype != CLT_DTYPE_F32 || off->opts.master_tier == CLT_TIER_NVME;
}

/* Bytes of one group's master and state (if this rank keeps it) in the NVME staging
 * area. */
static size_t staged_bytes(const clt_offload *off, int g)
{
    size_t at;
    const size_t state = clt_offload_kept_state(off, g, &at);
    return align_up(off->groups[g].numel * 4, STATE_ALIGN) + state;
}

/* Whether the host side can be HOST_PINNED: the device maps it for the CPU (so the
 * host optimizer reads it in place) and that tier's budget has `bytes` left. */
static bool pinned_holds(const clt_offload *off, uint64_t bytes)
{
    clt_stats st;
    if (!clt_buffer_pinned_mappable(off->ctx) || clt_context_stats(off->ctx, &st) != CLT_OK)
        return false;
    const uint64_t budget = st.mem_budget[CLT_TIER_HOST_PINNED];
    const uint64_t used = st.mem_used[CLT_TIER_HOST_PINNED];
    return budget > used && budget - used >= bytes;
}

clt_status clt_offload_plan_bytes(const clt_offload *off, clt_offload_plan_info *info)
{
    if (!off || !info)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_plan_bytes: %s is NULL",
                        off ? "info" : "off");
    if (off->n_groups == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_plan: the engine has no groups");
    memset(info, 0, sizeof *info);
    const uint64_t es = off->es;
    info->groups = off->n_groups;
    info->params = off->total;
    info->master_bytes = (uint64_t)off->total * 4;
    info->state_bytes = clt_offload_owned_state_bytes(off);
    info->host_bytes = (uint64_t)off->total * es + 4; /* gradients, the norm */
    if (needs_work_copy(off))
        info->host_bytes += (uint64_t)off->total * es;
    uint64_t staged = 0, resident = 0;
    for (int g = 0; g < off->n_groups; g++) {
        const struct clt_offload_group *gr = &off->groups[g];
        if (staged_bytes(off, g) > staged)
            staged = staged_bytes(off, g);
        if (gr->resident)
            resident += 2 * (uint64_t)gr->numel * es;
    }
    if (off->opts.master_tier == CLT_TIER_NVME)
        info->host_bytes += 2 * staged;
    info->device_bytes = resident + (uint64_t)off->max_streamed * es *
                                        (uint64_t)(off->opts.device_slots + off->opts.grad_slots);
    if (off->max_streamed == 0)
        info->device_bytes = resident;
    /* gradients and working copies, and master and state on HOST, may be pinned */
    const uint64_t cpu_side = (uint64_t)off->total * es * (needs_work_copy(off) ? 2 : 1);
    const bool host_master = off->opts.master_tier == CLT_TIER_HOST;
    info->host_tier = pinned_holds(off, cpu_side + (host_master ? info->master_bytes +
                                                                      info->state_bytes
                                                                : 0))
                          ? CLT_TIER_HOST_PINNED
                          : CLT_TIER_HOST;
    info->tier_bytes[host_master ? info->host_tier : off->opts.master_tier] +=
        info->master_bytes + info->state_bytes;
    info->tier_bytes[info->host_tier] += cpu_side;
    info->tier_bytes[CLT_TIER_HOST] += info->host_bytes - cpu_side;
    info->tier_bytes[CLT_TIER_DEVICE] += info->device_bytes;
    return CLT_OK;
}

static void say_bytes(char *out, size_t cap, uint64_t b)
{
    if (b == UINT64_MAX)
        snprintf(out, cap, "no limit");
    else if (b >= (1ull << 30))
        snprintf(out, cap, "%llu bytes (%.2f GiB)", (unsigned long long)b, (double)b / (1ull << 30));
    else
        snprintf(out, cap, "%llu bytes (%.2f MiB)", (unsigned long long)b, (double)b / (1ull << 20));
}

/* Every tier's part against what its budget has left, before any allocation. */
static clt_status check_budgets(const clt_offload *off, const clt_offload_plan_info *info)
{
    clt_stats st;
    clt_status s = clt_context_stats(off->ctx, &st);
    if (s != CLT_OK)
        return s;
    static const char *const why[CLT_TIER_COUNT] = {
        [CLT_TIER_DEVICE] = "working-copy and gradient slots",
        [CLT_TIER_HOST_PINNED] = "gradients and working copies",
        [CLT_TIER_HOST] = "gradients and working copies",
        [CLT_TIER_NVME] = "master parameters and optimizer state",
    };
    for (int t = 0; t < CLT_TIER_COUNT; t++) {
        const uint64_t need = info->tier_bytes[t];
        const uint64_t left = st.mem_budget[t] > st.mem_used[t] ? st.mem_budget[t] - st.mem_used[t] : 0;
        if (need <= left)
            continue;
        char a[64], b[64], c[64];
        say_bytes(a, sizeof a, need);
        say_bytes(b, sizeof b, left);
        say_bytes(c, sizeof c, st.mem_budget[t]);
        const bool host_master = t == CLT_TIER_HOST && off->opts.master_tier == CLT_TIER_HOST;
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "offload plan: tier %s needs %s (%s%s), but %s are left of its "
                        "budget of %s%s",
                        clt_tier_name((clt_tier)t), a,
                        host_master ? "master parameters, optimizer state, " : "", why[t], b,
                        c,
                        host_master ? "; raise the HOST budget or put the master tier on "
                                      "NVME (an NVMe directory)"
                                    : "");
    }
    return CLT_OK;
}

static clt_status check_nvme_dir(const clt_offload *off)
{
    const char *dir = off->ctx->nvme_dir;
    struct stat st;
    if (stat(dir, &st) != 0)
        return clt_fail(CLT_ERR_IO, "offload plan: NVMe directory '%s': %s", dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return clt_fail(CLT_ERR_IO, "offload plan: NVMe directory '%s' is not a directory",
                        dir);
    if (access(dir, W_OK | X_OK) != 0)
        return clt_fail(CLT_ERR_IO, "offload plan: NVMe directory '%s' is not writable: %s",
                        dir, strerror(errno));
    return CLT_OK;
}

static clt_status zero_buffer(clt_buffer *buf)
{
    void *host = clt_offload_host_ptr(buf);
    if (host) {
        memset(host, 0, clt_buffer_size(buf));
        return CLT_OK;
    }
    const size_t size = clt_buffer_size(buf);
    void *zeros = calloc(1, ZERO_CHUNK);
    if (!zeros)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload plan: no host memory to zero a buffer");
    clt_status s = CLT_OK;
    for (size_t at = 0; at < size && s == CLT_OK; at += ZERO_CHUNK)
        s = clt_buffer_write(buf, at, zeros, size - at < ZERO_CHUNK ? size - at : ZERO_CHUNK,
                             NULL);
    free(zeros);
    return s;
}

/* A buffer the host side reads through clt_offload_host_ptr: HOST_PINNED is mapped for
 * the CPU here, on the caller's thread, before the worker can ask. */
static clt_status create_cpu_side(clt_context *ctx, size_t bytes, clt_tier tier,
                                  clt_buffer **out)
{
    clt_status s = clt_buffer_create(ctx, bytes, tier, out);
    void *mapped = NULL;
    if (s == CLT_OK && tier == CLT_TIER_HOST_PINNED)
        s = clt_buffer_host_ptr(*out, &mapped);
    return s;
}

static clt_status allocate(clt_offload *off, const clt_offload_plan_info *info)
{
    clt_context *ctx = off->ctx;
    const clt_offload_opts *o = &off->opts;
    const clt_tier cpu = info->host_tier;
    const clt_tier master = o->master_tier == CLT_TIER_HOST ? cpu : o->master_tier;
    clt_status s = create_cpu_side(ctx, off->total * 4, master, &off->master);
    if (s == CLT_OK && off->state_kept)
        s = create_cpu_side(ctx, off->state_kept, master, &off->state);
    if (s == CLT_OK)
        s = create_cpu_side(ctx, off->total * off->es, cpu, &off->grads);
    if (s == CLT_OK && needs_work_copy(off))
        s = create_cpu_side(ctx, off->total * off->es, cpu, &off->work);
    if (s == CLT_OK)
        s = clt_buffer_create(ctx, 4, CLT_TIER_HOST, &off->norm);
    if (s == CLT_OK && o->master_tier == CLT_TIER_NVME) {
        size_t staged = 0;
        for (int g = 0; g < off->n_groups; g++)
            if (staged_bytes(off, g) > staged)
                staged = staged_bytes(off, g);
        off->staging_bytes = staged;
        for (int i = 0; i < 2 && s == CLT_OK; i++)
            s = clt_buffer_create(ctx, staged, CLT_TIER_HOST, &off->staging[i]);
    }
    for (int g = 0; g < off->n_groups && s == CLT_OK; g++) {
        struct clt_offload_group *gr = &off->groups[g];
        if (!gr->resident)
            continue;
        s = clt_buffer_create(ctx, gr->numel * off->es, CLT_TIER_DEVICE, &gr->dev_work);
        if (s == CLT_OK)
            s = clt_buffer_create(ctx, gr->numel * off->es, CLT_TIER_DEVICE, &gr->dev_grad);
    }
    if (s == CLT_OK && off->max_streamed) {
        off->slots = calloc((size_t)o->device_slots, sizeof *off->slots);
        off->grad_slots = calloc((size_t)o->grad_slots, sizeof *off->grad_slots);
        if (!off->slots || !off->grad_slots)
            s = clt_fail(CLT_ERR_OUT_OF_MEMORY, "offload plan: no host memory for slots");
        for (int i = 0; i < o->device_slots && s == CLT_OK; i++) {
            off->slots[i].group = -1;
            s = clt_buffer_create(ctx, off->max_streamed * off->es, CLT_TIER_DEVICE,
                                  &off->slots[i].buf);
        }
        for (int i = 0; i < o->grad_slots && s == CLT_OK; i++) {
            off->grad_slots[i].group = off->grad_slots[i].reader = -1;
            s = clt_buffer_create(ctx, off->max_streamed * off->es, CLT_TIER_DEVICE,
                                  &off->grad_slots[i].buf);
        }
    }
    if (s == CLT_OK)
        s = zero_buffer(off->master);
    if (s == CLT_OK && off->state)
        s = zero_buffer(off->state);
    if (s == CLT_OK)
        s = zero_buffer(off->grads);
    if (s == CLT_OK && off->work)
        s = zero_buffer(off->work);
    return s;
}

clt_status clt_offload_plan(clt_offload *off, clt_offload_plan_info *info)
{
    clt_offload_plan_info local;
    clt_offload_plan_info *pi = info ? info : &local;
    if (!off)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_plan: off is NULL");
    if (off->planned)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_plan: already planned");
    clt_status s = clt_offload_plan_bytes(off, pi);
    if (s == CLT_OK && off->opts.master_tier == CLT_TIER_NVME)
        s = check_nvme_dir(off);
    if (s == CLT_OK)
        s = check_budgets(off, pi);
    if (s != CLT_OK)
        return s;
    /* The host optimizer runs on the host driver's device and its thread pool; both are
     * made here, on the caller's thread, so the worker never races to create them. */
    struct clt_host_pool *pool = NULL;
    s = clt_context_host_dev(off->ctx, &off->host_dev);
    if (s == CLT_OK)
        s = clt_host_dev_pool(off->host_dev, &pool);
    if (s == CLT_OK)
        clt_offload_shard_state(off);
    if (s == CLT_OK)
        s = allocate(off, pi);
    if (s == CLT_OK)
        s = clt_offload_worker_start(off);
    if (s != CLT_OK)
        return clt_fail_prefix(s, "offload plan");
    off->planned = true;
    return CLT_OK;
}

clt_status clt_offload_check_group(const clt_offload *off, const char *fn, int id)
{
    if (!off)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: off is NULL", fn);
    if (!off->planned)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: call clt_offload_plan first", fn);
    if (id < 0 || id >= off->n_groups)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: group %d does not exist (there are %d)", fn,
                        id, off->n_groups);
    return CLT_OK;
}

clt_status clt_offload_set_master(clt_offload *off, int id, const float *src)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_set_master", id);
    if (s == CLT_OK && !src)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_set_master: src is NULL");
    if (s == CLT_OK)
        s = clt_offload_wait(off);
    if (s != CLT_OK)
        return s;
    const struct clt_offload_group *g = &off->groups[id];
    s = clt_buffer_write(off->master, g->first * 4, src, g->numel * 4, NULL);
    return s == CLT_OK ? clt_offload_convert_work(off, id) : s;
}

clt_status clt_offload_get_master(clt_offload *off, int id, float *dst)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_get_master", id);
    if (s == CLT_OK && !dst)
        s = clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_get_master: dst is NULL");
    if (s == CLT_OK)
        s = clt_offload_wait(off);
    if (s != CLT_OK)
        return s;
    const struct clt_offload_group *g = &off->groups[id];
    return clt_buffer_read(off->master, g->first * 4, dst, g->numel * 4, NULL);
}

clt_buffer *clt_offload_master_buffer(clt_offload *off) { return off ? off->master : NULL; }

clt_status clt_offload_sync_work(clt_offload *off)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_sync_work", 0);
    if (s == CLT_OK)
        s = clt_offload_wait(off);
    for (int g = 0; off && g < off->n_groups && s == CLT_OK; g++)
        s = clt_offload_convert_work(off, g);
    return s;
}

clt_status clt_offload_state(clt_offload *off, int id, int t, clt_tensor out[4], int *n)
{
    clt_status s = clt_offload_check_group(off, "clt_offload_state", id);
    if (s != CLT_OK)
        return s;
    if (!out || !n)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_state: %s is NULL", out ? "n" : "out");
    const struct clt_offload_group *g = &off->groups[id];
    if (t < 0 || t >= g->n_tensors)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_state: group %d has no tensor %d", id,
                        t);
    if (!clt_offload_owns(off, id))
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_state: group %d's optimizer state is on rank %d, not on "
                        "this rank %d of %d (the state is sharded: clt_offload_group_owner)",
                        id, clt_offload_group_owner(off, id), off->rank, off->size);
    const struct clt_offload_tensor_state *ts = &g->tensors[t];
    *n = ts->n_states;
    for (int k = 0; k < ts->n_states && s == CLT_OK; k++)
        s = clt_tensor_init(&out[k], off->state, ts->state_off[k] - off->state_base,
                            ts->state_dtype[k], 1,
                            (const int64_t[]){(int64_t)ts->state_numel[k]});
    return s;
}

clt_status clt_offload_group_tensors(const clt_offload *off, int id, int *n)
{
    if (!off || !n)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_offload_group_tensors: %s is NULL",
                        off ? "n" : "off");
    if (id < 0 || id >= off->n_groups)
        return clt_fail(CLT_ERR_INVALID_ARG,
                        "clt_offload_group_tensors: group %d does not exist (there are %d)", id,
                        off->n_groups);
    *n = off->groups[id].n_tensors;
    return CLT_OK;
}
