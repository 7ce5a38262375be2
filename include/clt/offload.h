/* clt — the offload engine: train models larger than the device (ZeRO-Offload,
 * ZeRO-Infinity, Fuyou).
 *
 * The model's parameters are split into *groups* (a transformer block, the embeddings).
 * Per group the f32 master parameters and the optimizer state live on the master tier
 * (HOST, or NVME); the device holds working copies (compute dtype) only while a group
 * is in flight, in a fixed number of device slots, and its gradients in a gradient slot
 * until they are copied out. The optimizer runs on the host, with the host driver's
 * fused optimizer ops (the same AdamW / SGD / LAMB, f32 or 8-bit states, that write the
 * rounded working copy in the same pass), on a worker thread.
 *
 * One step, as the caller drives it:
 *   forward:  fetch(g) for each group in order (ops enqueued after it see the data),
 *             prefetch(g+1) before enqueueing g's ops, release(g) when done;
 *   backward: fetch(g), prefetch(g-1), grad(g) → the device tensor to write its
 *             gradients into, grads_ready(g) → they are copied to the host while
 *             earlier groups compute;
 *   then:     grad_sqnorm() (every gradient has landed; for clipping and the inf/NaN
 *             gate), step(lr, step, scale) → the worker updates group 0, 1, ... in order
 *             while the caller starts the next forward: fetch(g) waits only for group g's
 *             update. Global-norm clipping needs every gradient before any update, so the
 *             optimizer of a step overlaps the NEXT step's forward rather than its own
 *             backward; the math is exactly that of the resident optimizer.
 *
 * Eager update (opts.update = CLT_OFFLOAD_UPDATE_EAGER; ZeRO-Offload's overlap): the
 * caller gives lr, step and grad_scale BEFORE the backward, with begin_step (with
 * gradient accumulation, before the last micro-batch's backward only), and calls no
 * step(): from then on grads_ready(g) hands group g's update to the worker, which waits
 * for that group's gradient copy and updates g while the device computes the backward
 * of the groups before it. fetch(g) in the next forward waits for g's update as above.
 * The update is the same, bit for bit, as AFTER_BACKWARD's when grad_scale does not
 * depend on this step's gradients: no global-norm clipping and no loss scale that an
 * overflow in this step would change. Without the global norm the inf/NaN gate is per
 * group: a group whose own gradients' Σ g² is inf or NaN is not updated (its master,
 * state and working copy stay as they were) while the other groups are, so an overflow
 * skips the step only for the groups it reached, where AFTER_BACKWARD's caller skips
 * the whole step; clt_offload_skipped says which groups. grad_sqnorm still gives the
 * global Σ g² after the backward (for logging; it is not needed for the gate).
 *
 * Masters on NVME are staged through two HOST buffers by an I/O thread: while the
 * worker updates one group in one buffer, the other is written back and then filled
 * with the next group to update (in EAGER mode: the one that followed last step).
 *
 * Transfers overlap compute where the device has a side queue for them (a copy
 * engine; on OpenCL a second queue, off with CLT_CL_COPY_QUEUE=0): an upload starts
 * after the work enqueued before it (so it never overwrites a slot its last group's ops
 * still read) and only the fetch that needs it waits for it, so prefetch(g+1) uploads
 * while g computes; a gradient copy runs while the next group computes, and only the
 * next use of its gradient slot waits for it. Without a side queue the same calls keep
 * the device's submission order and give the same results. The host side (gradients,
 * working copies, and the master values and states when the master tier is HOST) is
 * HOST_PINNED memory where the device can map it and that tier's budget holds it
 * (clt_offload_plan_info.host_tier), which drivers copy from without staging.
 *
 * Groups are laid out one after another in the order they are added: the master values
 * of all groups form one f32 buffer (clt_offload_master_buffer) in that layout, which
 * checkpoints read and write like any buffer.
 *
 * A handle is used from one thread (the engine's worker is its own business); the trace
 * callback is called from the worker thread too. The engine borrows its context, whose
 * buffers it makes and frees: destroy the engine before the context. The engine's calls
 * submit work to that context, so they count as its work in clt.h's rule on threads.
 *
 * Errors, for every function below that returns clt_status: CLT_ERR_INVALID_ARG for a
 * NULL handle or pointer, a group or tensor that does not exist, a call before
 * clt_offload_plan where a plan is needed, or a call the order above does not allow (the
 * text names the function and what to call first); what the transfers, the host
 * optimizer and the NVME tier meet (clt.h's general ones, and CLT_ERR_IO on NVME),
 * reported by the call that waits for them. A function's comment adds its own. */
#ifndef CLT_OFFLOAD_H
#define CLT_OFFLOAD_H

#include "clt/comm.h"
#include "clt/op.h"
#include "clt/status.h"
#include "clt/tensor.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clt_offload clt_offload;

/* What the trace callback is told, with the group and the step it concerns. */
typedef enum clt_offload_event {
    CLT_OFFLOAD_FETCH = 0,       /* a group's working copy was enqueued for the device */
    CLT_OFFLOAD_GRADS_READY = 1, /* a group's gradients were enqueued for the host */
    CLT_OFFLOAD_OPTIM_BEGIN = 2, /* the worker starts a group's update (worker thread) */
    CLT_OFFLOAD_OPTIM_END = 3,   /* ... and has finished it (worker thread) */
    CLT_OFFLOAD_NVME_READ = 4,   /* NVME: a group's master + state start being staged in
                                    (I/O thread), for the update of that step */
    CLT_OFFLOAD_NVME_WRITE = 5,  /* ... and start being written back (I/O thread) */
} clt_offload_event;

/* When the host optimizer updates a group: see the top of this file. */
typedef enum clt_offload_update {
    CLT_OFFLOAD_UPDATE_AFTER_BACKWARD = 0, /* step() after every gradient (default) */
    CLT_OFFLOAD_UPDATE_EAGER = 1,          /* begin_step() before the backward; each
                                              group as soon as its gradients land */
} clt_offload_update;

/* Called at each event with the seconds since the engine was created (monotonic clock).
 * It runs on the caller's thread, the worker's or the I/O thread's, so it must be
 * thread-safe; the
 * engine waits for it (a test slows a stage down by sleeping in it). */
typedef void (*clt_offload_trace_fn)(void *user, clt_offload_event event, int group,
                                     int64_t step, double seconds);

typedef struct clt_offload_opts {
    clt_tier master_tier;    /* CLT_TIER_HOST (default) or CLT_TIER_NVME */
    clt_op_kind optimizer;   /* CLT_OP_ADAMW (default), CLT_OP_SGD or CLT_OP_LAMB */
    /* beta1, beta2, eps, weight_decay, nesterov; lr, step and grad_scale come per step.
     * weight_decay applies to the tensors whose clt_offload_tensor.decay is set. */
    clt_optim_hparams hparams;
    bool q8_states;          /* 8-bit states for tensors of >= CLT_Q8_MIN_ELEMENTS */
    int32_t q8_block;        /* 0: CLT_Q8_DEFAULT_BLOCK */
    clt_dtype work_dtype;    /* the device copies and the gradients: f32, f16 or bf16 */
    int device_slots;        /* slots for streamed groups' working copies, >= 2 (2) */
    int grad_slots;          /* slots for streamed groups' gradients, >= 1 (2) */
    clt_offload_trace_fn trace;
    void *trace_user;
    clt_offload_update update; /* CLT_OFFLOAD_UPDATE_AFTER_BACKWARD (default) or _EAGER */
} clt_offload_opts;

/* One parameter tensor of a group: one optimizer op each, with its own state tensors
 * (LAMB's trust ratio and the q8 threshold are per tensor). offset and numel in
 * elements from the group's start. */
typedef struct clt_offload_tensor {
    size_t offset, numel;
    bool decay;              /* weight decay applies */
} clt_offload_tensor;

/* Bytes per tier the plan allocates, and what they hold. */
typedef struct clt_offload_plan_info {
    uint64_t tier_bytes[CLT_TIER_COUNT];
    uint64_t master_bytes;   /* f32 master parameters, on the master tier */
    uint64_t state_bytes;    /* optimizer state, on the master tier (this rank's share) */
    uint64_t host_bytes;     /* gradients (and working copies, staging) on HOST or
                                HOST_PINNED (host_tier) */
    uint64_t device_bytes;   /* slots and resident groups on DEVICE */
    uint64_t params;         /* elements over all groups */
    int groups;
    /* Where the gradients and working copies (and, with master tier HOST, the master
     * values and states) are: CLT_TIER_HOST_PINNED when the device maps pinned memory
     * and that tier's budget holds them, else CLT_TIER_HOST. The NVME staging buffers
     * and the 4-byte norm stay on HOST. */
    clt_tier host_tier;
} clt_offload_plan_info;

/* Counters since create (or the last reset): bytes moved per direction and tier, and
 * how long each stage waited for another. */
typedef struct clt_offload_stats {
    uint64_t bytes_to_device;     /* working copies (and reloaded gradients) uploaded */
    uint64_t bytes_from_device;   /* gradients copied to the host */
    uint64_t bytes_nvme_read;     /* master and state staged from NVME */
    uint64_t bytes_nvme_write;    /* ... and written back */
    uint64_t fetches, uploads;    /* fetch calls; those that moved data */
    double fetch_wait_s;          /* the caller waited in fetch for the optimizer */
    double grad_wait_s;           /* the caller waited for gradients to land (data
                                     parallel: and to be all-reduced, in grad_sqnorm) */
    double optim_s;               /* the worker's time in the optimizer ops */
    double optim_idle_wait_s;     /* clt_offload_wait: the caller waited for the worker */
    double nvme_s;                /* the I/O thread's time staging NVME (beside optim_s) */
    double nvme_wait_s;           /* the worker waited for NVME staging: the disk's share
                                     of the optimizer's time that read-ahead did not hide */
} clt_offload_stats;

/* Defaults as marked above; AdamW's usual hparams (0.9, 0.999, 1e-8, wd 0). */
CLT_API void clt_offload_opts_init(clt_offload_opts *opts);

/* An engine on ctx with no groups yet, the caller's until clt_offload_destroy; opts
 * (NULL: the defaults) is copied. Errors: CLT_ERR_INVALID_ARG (an option, named). */
CLT_API clt_status clt_offload_create(clt_context *ctx, const clt_offload_opts *opts,
                                      clt_offload **out);

/* Waits for the worker, frees every buffer (NVME swap files included) and the handle.
 * NULL does nothing. */
CLT_API void clt_offload_destroy(clt_offload *off);

/* Data parallel (clt/comm.h), before clt_offload_plan: each group's gradients, once on
 * the host, are all-reduced (SUM; the caller's grad_scale or dloss carries 1/size) over
 * comm's ranks, on the worker, before the norm and the update (so grad_sqnorm and the
 * eager per-group gate see the global gradient, identical on every rank). With
 * shard_state, rank r keeps optimizer state only for the groups it owns (a contiguous
 * split of the groups, balanced by element count: clt_offload_group_owner), updates
 * those, and broadcasts each updated group's master values from its owner, in group
 * order; the other ranks write their working copies from them (the same rounding as the
 * fused param_copy, so every rank holds the same bits). Without shard_state every rank
 * updates every group. The engine duplicates comm (clt_comm_dup, collective: every rank
 * calls this at the same point) for its worker; destroy the engine before comm.
 *
 * When a group is reduced: EAGER, in its update job (begin_step marks the last
 * micro-batch). AFTER_BACKWARD, where its gradients land if the engine expects them to
 * be final: the grads_ready that ends as many micro-batches as the group had last step
 * (from the second step on; the first step's are reduced in grad_sqnorm or step, which
 * reduce whatever is left). If a later micro-batch then accumulates onto a group already
 * reduced (the accumulation count grew), its sum is brought back divided by size, so
 * the result is the same up to rounding; every rank does the same, since every rank
 * makes the same calls. Masters stay whole on every rank (each uploads every group);
 * with the NVME master tier a non-owner's master of a group is written from the
 * broadcast as an update would write it. Errors: the rule at the top of this file; a
 * second call; CLT_ERR_COMM from clt_comm_dup. */
CLT_API clt_status clt_offload_set_comm(clt_offload *off, clt_comm *comm, bool shard_state);
/* The rank owning group id's optimizer state (0 without a sharded comm); -1 for no such
 * group. Before plan() it can change as groups are added. */
CLT_API int clt_offload_group_owner(const clt_offload *off, int id);
/* The engine's communicator's counters (clt_comm_get_stats on its duplicate): the
 * gradient all-reduces and the masters' broadcasts, with their busy and wait seconds
 * (the worker's: grad_wait_s says what the caller waited). All zero without a comm.
 * Errors: only the general ones (clt.h). */
CLT_API clt_status clt_offload_comm_stats(const clt_offload *off, clt_comm_stats *out);

/* Adds a group of numel elements (padding included) holding the given tensors, before
 * plan(). A resident group gets its own device copy and gradient buffer, held for the
 * whole run instead of a slot (small groups used at both ends of a pass: embeddings).
 * *id numbers groups from 0 in the order added; tensors is copied. Errors: the rule at
 * the top of this file (a tensor outside the group, 0 elements, a call after plan). */
CLT_API clt_status clt_offload_add_group(clt_offload *off, size_t numel,
                                         const clt_offload_tensor *tensors, int n_tensors,
                                         bool resident, int *id);

/* How many tensors group id holds. Errors: the rule at the top of this file. */
CLT_API clt_status clt_offload_group_tensors(const clt_offload *off, int id, int *n);

/* Sizes everything, checks each tier's budget, then allocates (master values and state
 * zeroed; with a sharded comm, only this rank's groups' state, which is what
 * state_bytes and tier_bytes count). Fails before allocating anything when a tier
 * cannot hold its part: the text names the tier, the bytes needed and the budget left
 * (and, for HOST, that an NVMe directory would take the master tier). info may be NULL.
 * Starts the worker thread.
 * Errors: the rule at the top of this file; CLT_ERR_OUT_OF_MEMORY for a tier that
 * cannot hold its part, CLT_ERR_IO for an NVMe directory that is missing or not
 * writable, CLT_ERR_INVALID_ARG when already planned or without groups. */
CLT_API clt_status clt_offload_plan(clt_offload *off, clt_offload_plan_info *info);

/* What plan() would allocate, without allocating (for a start-of-run summary or a dry
 * run). Errors: the rule at the top of this file (CLT_ERR_INVALID_ARG without groups). */
CLT_API clt_status clt_offload_plan_bytes(const clt_offload *off, clt_offload_plan_info *info);

/* The f32 master values of group id (its numel), to or from host memory; set also
 * rewrites the group's working copy. Waits for the worker. Errors: the rule at the top
 * of this file. */
CLT_API clt_status clt_offload_set_master(clt_offload *off, int id, const float *src);
CLT_API clt_status clt_offload_get_master(clt_offload *off, int id, float *dst);

/* The master values of every group in their layout: a HOST or NVME buffer of f32, for
 * checkpoints; it belongs to the engine (valid until destroy; NULL before plan). After
 * writing it directly call clt_offload_sync_work. */
CLT_API clt_buffer *clt_offload_master_buffer(clt_offload *off);
/* Rewrites every working copy from the master values (after a load). Errors: the rule
 * at the top of this file. */
CLT_API clt_status clt_offload_sync_work(clt_offload *off);

/* The optimizer state of tensor t of group id, as tensors of the master tier's buffers:
 * AdamW/LAMB m, v (and with q8 states m_absmax, v_absmax), SGD momentum. *n says how
 * many (up to 4). For checkpoints; valid until destroy. Errors: the rule at the top of
 * this file; CLT_ERR_INVALID_ARG for a group another rank owns (sharded comm). */
CLT_API clt_status clt_offload_state(clt_offload *off, int id, int t, clt_tensor out[4],
                                     int *n);

/* The device working copy of group id: (numel,) of work_dtype. The upload is enqueued
 * (after waiting for the group's pending update) and usable by work enqueued after the
 * call. A group already on the device and current moves nothing; the tensor's buffer
 * belongs to the engine. Errors: the rule at the top of this file; CLT_ERR_INVALID_ARG
 * when every device slot is held by a group not released. */
CLT_API clt_status clt_offload_fetch(clt_offload *off, int id, clt_tensor *work);
/* Starts group id's upload ahead of its fetch (a no-op when its current copy is already
 * on the device or on its way): waits for the group's pending update, takes a slot as
 * fetch does (without holding it: a later fetch or prefetch may take it back), and
 * enqueues the upload after the work enqueued so far, while work enqueued later does
 * not wait for it; fetch(id) then makes later work wait for it. Errors: as fetch. */
CLT_API clt_status clt_offload_prefetch(clt_offload *off, int id);
/* The slot may be reused; the copy stays valid in it until then. Errors: the rule at
 * the top of this file. */
CLT_API clt_status clt_offload_release(clt_offload *off, int id);

/* A device tensor (numel,) of work_dtype for group id's gradients. With accumulate the
 * gradients already copied out this step are loaded into it first (gradient
 * accumulation); else its contents are undefined (the caller writes them). Errors: the
 * rule at the top of this file; CLT_ERR_INVALID_ARG when every gradient slot holds
 * gradients not marked ready. */
CLT_API clt_status clt_offload_grad(clt_offload *off, int id, bool accumulate,
                                    clt_tensor *grad);
/* The group's gradients are complete: copies them to the host (enqueued) and frees the
 * slot. EAGER, after begin_step: also hands the group's update to the worker. Errors:
 * the rule at the top of this file; CLT_ERR_INVALID_ARG without a clt_offload_grad for
 * the group first, or (EAGER) a group handed over twice in one step. */
CLT_API clt_status clt_offload_grads_ready(clt_offload *off, int id);

/* Waits for every gradient copy and writes Σ g² over all groups (f32, the same as the
 * SQNORM op over the whole layout) to *out: inf or NaN when they overflowed.
 * Errors: the rule at the top of this file; EAGER: CLT_ERR_INVALID_ARG while the begun
 * step waits for some group's grads_ready. */
CLT_API clt_status clt_offload_grad_sqnorm(clt_offload *off, float *out);

/* Hands this step's update to the worker: every group in order, gradients multiplied by
 * grad_scale first. Returns at once; fetch waits per group, clt_offload_wait for all.
 * Every group's gradients must be ready. AFTER_BACKWARD only (EAGER: begin_step).
 * Errors: the rule at the top of this file; CLT_ERR_INVALID_ARG in EAGER mode or for a
 * group without gradients this step. */
CLT_API clt_status clt_offload_step(clt_offload *off, float lr, int64_t step,
                                    float grad_scale);
/* Waits until the worker is idle (NVME: every update written back); reports a failure
 * of the last step's update. Errors: the rule at the top of this file; a failed
 * update's status, with the host optimizer's sentence. */
CLT_API clt_status clt_offload_wait(clt_offload *off);

/* EAGER: this step's lr, step (>= 1) and grad_scale, before the backward that gives its
 * gradients (with accumulation: before the last micro-batch's); each grads_ready(g)
 * after it hands group g's update to the worker, once per group. Errors:
 * CLT_ERR_INVALID_ARG in AFTER_BACKWARD mode, for a non-finite lr or grad_scale, and
 * while a begun step has had some groups' gradients but not every group's. */
CLT_API clt_status clt_offload_begin_step(clt_offload *off, float lr, int64_t step,
                                          float grad_scale);

/* EAGER: after the backward, waits for the worker and says how many groups' updates
 * of the last begun step the per-group inf/NaN gate skipped; skipped (one entry per
 * group, may be NULL) marks which. Since it waits, call it when grad_sqnorm says inf
 * or NaN rather than every step. AFTER_BACKWARD: 0, the engine skips nothing.
 * Errors: the rule at the top of this file; EAGER: CLT_ERR_INVALID_ARG while the begun
 * step waits for some group's grads_ready. */
CLT_API clt_status clt_offload_skipped(clt_offload *off, int *n_skipped, bool *skipped);

/* A snapshot of the counters, and setting them back to 0. Errors: only the general
 * ones (clt.h). */
CLT_API clt_status clt_offload_get_stats(const clt_offload *off, clt_offload_stats *out);
CLT_API void clt_offload_reset_stats(clt_offload *off);

/* "fetch", "grads_ready", "optim_begin", "optim_end", "nvme_read", "nvme_write"; "?"
 * otherwise. */
CLT_API const char *clt_offload_event_name(clt_offload_event event);

#ifdef __cplusplus
}
#endif
#endif
