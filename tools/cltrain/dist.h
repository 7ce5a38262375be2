/* cltrain's data parallelism (`mpirun -np N cltrain ...`, clt/comm.h): the ranks of a
 * run and what they exchange.
 *
 * Every rank holds the whole model and draws the whole global batch (N × --batch
 * sequences) from the same data RNG, keeping rows [rank·b, (rank+1)·b), so the data
 * position and the RNG are the same on every rank and a checkpoint does not depend on
 * N. Each backward pass scales its loss by 1/N; its gradients are summed over the ranks
 * in buckets while the pass still runs (a resident model: dist_grad_ready is gpt.h's
 * hook), so every rank then holds the global mean gradient and takes the same step.
 *
 * With --shard (ZeRO stage 1) each parameter tensor's optimizer state lives on one rank:
 * the tensors are split into N contiguous runs of the layout balanced by element count
 * (dist_split), each rank updates its run and the updated f32 master parameters are
 * all-gathered. A checkpoint gathers the state to rank 0, which writes the same two
 * files as a single-process run; every rank of a resumed run, of any N, loads the state
 * of the tensors it owns.
 *
 * One process with --comm auto has no communicator (comm NULL) and none of this runs:
 * the plain single-process path, bit for bit. */
#ifndef CLTRAIN_DIST_H
#define CLTRAIN_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

#include "gpt.h"
#include "optim.h"
#include "progress.h"

/* --comm: auto (MPI when a launcher started more than one rank, else no communicator),
 * mpi (always: `mpirun -np 1` too), self (one rank through the data-parallel code path,
 * without MPI: what the tests of that path use where MPI is missing). */
enum dist_mode { DIST_AUTO, DIST_MPI, DIST_SELF };

struct dist_opts {
    enum dist_mode mode;
    clt_dtype wire;      /* --allreduce: f32 or bf16 */
    bool shard;          /* --shard: ZeRO-1 */
    size_t bucket_bytes; /* --bucket-mb in bytes */
    double timeout_s;    /* --comm-timeout; 0: $CLT_COMM_TIMEOUT, else 600 */
};

struct dist {
    clt_comm *comm;        /* NULL: one process, no communicator */
    int rank, size, local_rank;
    bool shard;            /* the optimizer state is split (size > 1 and --shard) */
    clt_dtype wire;
    size_t bucket_bytes;
    clt_grad_sync *sync;   /* a resident model's gradient all-reduce (dist_attach) */
    clt_grad_sync_stats last; /* its last step's figures */
    /* the split (dist_split), size + 1 entries each: rank r owns parameter tensors
     * [owner_first[r], owner_first[r+1]) and layout elements [elem_first[r],
     * elem_first[r+1]); unsharded, rank 0 owns everything */
    size_t *owner_first, *elem_first, *counts;
    float *gather;         /* sharded: host room for the layout's master parameters */
    uint64_t *state_bytes; /* the optimizer state bytes of every rank (dist_share_sizes) */
    char prefix[64];       /* "cltrain: ", or "cltrain: rank R of N: " */
};

/* The refusal of a multi-rank launch (launch_size > 1, clt_comm_launch_size) by a build
 * without MPI: true with the sentence in err, which names the launch size, the
 * environment variable that said it, and how to rebuild. false when the launch can go
 * on. */
bool dist_launch_refused(int launch_size, bool has_mpi, char *err, size_t cap);

/* Joins the job as opts say: a communicator for --comm mpi and self, and for auto when
 * the launch has more than one rank; none otherwise (d->size 1). false with err naming
 * what failed (MPI missing from the build, MPI failing to start). */
bool dist_open(struct dist *d, const struct dist_opts *opts, char *err, size_t cap);
/* Ends the communicator (after the model: an offloaded model's engine holds a duplicate
 * of it, which must end first). */
void dist_close(struct dist *d);

/* This rank's device from --device's comma list: entry local_rank % count, copied into
 * out (cap bytes), *device pointing at it; a NULL list gives *device NULL (clt's
 * choice). false with err for an empty or overlong entry. */
bool dist_device(const struct dist *d, const char *list, char *out, size_t cap,
                 const char **device, char *err, size_t errcap);

/* ZeRO-1's split of the `count` parameter tensors of a layout of `layout_elems` among
 * `ranks`: contiguous runs, each rank's boundary where the element count comes closest
 * to its equal share; owner_first and elem_first get ranks + 1 entries (see struct
 * dist). The same on every rank: a function of the layout alone. */
void dist_split(const struct gpt_param *params, size_t count, size_t layout_elems, int ranks,
                size_t *owner_first, size_t *elem_first);

/* The parameter tensors this rank updates: all of them unless sharded. */
void dist_owned(const struct dist *d, size_t count, size_t *first, size_t *end);

/* Prepares the exchange for a resident model of `layout_elems` parameters: the split,
 * the gradient sync over its gradient buffer, the host room of the all-gather. Nothing
 * without a communicator. Errors: the allocations'. */
clt_status dist_attach(struct dist *d, gpt_model *m, size_t layout_elems);

/* Ends the gradient sync, which borrows the model's gradient buffer: before the model.
 * dist_close does it too. */
void dist_detach(struct dist *d);

/* gpt_set_grad_ready's hook (user: the struct dist). */
clt_status dist_grad_ready(void *user, size_t first, size_t count);
/* Waits for the step's gradient all-reduce and writes the sums back; d->last gets its
 * figures. */
clt_status dist_grad_finish(struct dist *d);

/* Sums n f32 values over the ranks, in place (the step's loss, stop flag and norm). */
clt_status dist_sum(struct dist *d, float *v, size_t n);

/* Sharded, after the owners' updates: every rank's master parameters from their
 * owners, and the working copy rewritten. */
clt_status dist_gather_params(struct dist *d, gpt_model *m);

/* Every rank's optimizer state bytes into d->state_bytes (a collective). */
clt_status dist_share_sizes(struct dist *d, uint64_t mine);

/* The communicators' counters at one instant: the run's, an offloaded model's engine's
 * (it all-reduces that model's gradients and shares its masters), and the time the
 * caller waited for the engine's gradients. Zeros without a communicator. */
struct dist_mark {
    clt_comm_stats run, engine;
    double grad_wait_s;
};
struct dist_mark dist_mark(const struct dist *d, gpt_model *m);
/* A step's communication from the marks before and after it: what the counters grew
 * by, and the gradients' all-reduce: the resident sync's figures, or the engine's busy
 * time with the caller's wait for its gradients as the part not hidden. */
struct comm_report dist_report(const struct dist *d, gpt_model *m, const optim *opt,
                               const struct dist_mark *a, const struct dist_mark *b);
void dist_report_add(struct comm_report *total, const struct comm_report *step);

/* The whole optimizer state, for rank 0's checkpoint. */
struct dist_state {
    const clt_named_tensor *tensors; /* in layout order; n of them (rank 0) */
    size_t n;
    clt_named_tensor *joined;        /* owned when the state was gathered */
    optim **views;                   /* the other ranks' state, received */
    clt_buffer **bufs;
    int n_views;
};
/* Unsharded (or one rank): the own state. Sharded: the other ranks send theirs to rank
 * 0, which receives it in HOST buffers and lists every tensor in layout order; other
 * ranks get n 0. A collective. false with err. */
bool dist_gather_state(struct dist *d, clt_context *ctx, gpt_model *m, enum optim_kind kind,
                       const optim *own, struct dist_state *out, char *err, size_t cap);
void dist_state_release(struct dist_state *s);

/* Rank 0's verdict on something only it did (a checkpoint save) to every rank. */
clt_status dist_share_verdict(struct dist *d, bool *ok);

/* Test-only faults of a multi-rank run, on its last rank, after step `step` (and its
 * checkpoint): CLTRAIN_TEST_DIE_AT_STEP=k raises SIGKILL, CLTRAIN_TEST_HANG_AT_STEP=k
 * stops there forever (a hung rank). */
void dist_test_fault(const struct dist *d, int64_t step);

#endif
