/* clt — communication between ranks, for data-parallel training over MPI.
 *
 * A communicator joins the processes of one job, ranks 0 .. size-1, as `mpirun -np N`
 * launched them (CLT_COMM_MPI), or is one rank alone without MPI (CLT_COMM_SELF: a
 * single process runs the same code path). Collectives work on host memory, in place;
 * like MPI's, every rank calls them in the same order with the same counts.
 *
 * Each communicator has its own thread, the only one that makes its MPI calls, so that
 * a caller waits for a collective with a deadline: a collective that has not finished
 * after opts.timeout_s (a rank died, hung, or called a different collective) fails
 * with CLT_ERR_COMM, the sentence naming the collective, the bytes and both ranks'
 * view, and the communicator is broken from then on (every later call fails at once
 * with the same sentence; destroy it and end the process: MPI cannot recover a
 * collective that never finished). mpirun itself ends the whole job when a rank exits
 * with an error or a signal; the deadline covers what it cannot see.
 *
 * The gradient sync (clt_grad_sync) overlaps the all-reduce of a device buffer of
 * gradients with the backward pass that produces it: the caller says which ranges are
 * final as it enqueues their last writes; each bucket whose elements are all final is
 * copied to the host on the device's side queue, reduced on the communicator's thread
 * while the device computes the rest, and written back by finish().
 *
 * Threads: a communicator is used by one thread at a time, and its collectives are
 * ordered by the calls (so every rank must issue them from the same program order).
 * Two communicators are independent (clt_comm_dup; MPI_THREAD_MULTIPLE), which lets
 * the offload engine's worker reduce on its own while the caller uses another. A
 * communicator that initialised MPI (MPI was not initialised when it was created)
 * finalizes it when destroyed: destroy it after its duplicates. */
#ifndef CLT_COMM_H
#define CLT_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/buffer.h"
#include "clt/export.h"
#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clt_comm clt_comm;
typedef struct clt_grad_sync clt_grad_sync;

typedef enum clt_comm_transport {
    CLT_COMM_MPI = 0,  /* the job's MPI_COMM_WORLD (initialising MPI if no one has) */
    CLT_COMM_SELF = 1, /* one rank, no MPI: collectives return their input */
} clt_comm_transport;

typedef enum clt_reduce_op {
    CLT_REDUCE_SUM = 0,
    CLT_REDUCE_MAX = 1,
} clt_reduce_op;

typedef struct clt_comm_opts {
    clt_comm_transport transport; /* CLT_COMM_MPI */
    /* Seconds a collective may take before it fails with CLT_ERR_COMM; it includes
     * the time the other ranks take to reach it, so it bounds a step's imbalance.
     * 0: $CLT_COMM_TIMEOUT if set, else 600. */
    double timeout_s;
} clt_comm_opts;

/* What a communicator has done since it was made (duplicates count their own). */
typedef struct clt_comm_stats {
    uint64_t collectives;    /* calls that reached the transport */
    uint64_t bytes_reduced;  /* payload of all-reduces: count × element size, summed */
    uint64_t bytes_gathered; /* payload of all-gathers: the whole gathered array */
    uint64_t bytes_other;    /* payload of broadcasts, sends and receives */
    /* What this rank puts on the wire with ring algorithms (the model of
     * docs/distributed.md): all-reduce 2(N−1)/N × payload, all-gather (N−1)/N ×
     * payload, broadcast and send the payload once. */
    uint64_t bytes_sent_model;
    double busy_s;           /* seconds the communicator's thread spent in collectives */
    double wait_s;           /* seconds callers spent waiting for them */
} clt_comm_stats;

/* Per step of a gradient sync (clt_grad_sync_finish). */
typedef struct clt_grad_sync_stats {
    uint64_t bytes;          /* gradient bytes all-reduced (in the wire dtype) */
    int buckets;
    double reduce_s;         /* seconds of all-reduce, device copies excluded */
    double exposed_s;        /* of those, seconds finish() waited: not hidden behind
                              * the backward pass (hidden fraction: 1 − exposed/reduce) */
} clt_grad_sync_stats;

/* Fills *opts with the defaults above. */
CLT_API void clt_comm_opts_init(clt_comm_opts *opts);

/* Whether this library was built with MPI (CLT_COMM_MPI can work). */
CLT_API bool clt_comm_has_mpi(void);

/* The number of ranks a launcher started this process among, read from its
 * environment without MPI (OMPI_COMM_WORLD_SIZE, PMIX_SIZE, PMI_SIZE, MV2_COMM_WORLD_SIZE);
 * 1 when none is set. A program built without MPI uses it to refuse a multi-rank
 * launch instead of running N independent copies. */
CLT_API int clt_comm_launch_size(void);

/* A communicator over the transport opts names (NULL: the defaults). Errors:
 * CLT_ERR_UNSUPPORTED (CLT_COMM_MPI in a library built without MPI, or MPI initialised
 * by the program below MPI_THREAD_MULTIPLE: the text says which), CLT_ERR_COMM (MPI
 * failed to initialise), CLT_ERR_INVALID_ARG (a negative or NaN timeout, an unknown
 * transport). */
CLT_API clt_status clt_comm_create(const clt_comm_opts *opts, clt_comm **out);

/* An independent communicator over the same ranks (MPI_Comm_dup), with its own thread
 * and the parent's timeout: collective over the parent. Errors: CLT_ERR_COMM. */
CLT_API clt_status clt_comm_dup(clt_comm *parent, clt_comm **out);

/* Ends the thread; finalizes MPI if this communicator initialised it. A broken
 * communicator's ranks disagree on what was called, so neither its MPI communicator
 * nor MPI is closed (the process should end), and a thread still stuck in MPI is left
 * behind. */
CLT_API void clt_comm_destroy(clt_comm *comm);

/* This rank, 0 .. size-1 (0 for NULL), and the number of ranks (1 for NULL). */
CLT_API int clt_comm_rank(const clt_comm *comm);
CLT_API int clt_comm_size(const clt_comm *comm);
/* This rank's index among the ranks on the same host, and how many there are: which
 * device of the host a rank takes. */
CLT_API int clt_comm_local_rank(const clt_comm *comm);
CLT_API int clt_comm_local_size(const clt_comm *comm);

/* Element-wise op over every rank's `count` elements at data, the result on every
 * rank, in place. dtype f32, f16 or bf16 (f16 and bf16 added in f32 and rounded once
 * per addition) or i32. Errors: CLT_ERR_INVALID_ARG (NULL data with count > 0, u8),
 * CLT_ERR_COMM. */
CLT_API clt_status clt_comm_allreduce(clt_comm *comm, void *data, size_t count,
                                      clt_dtype dtype, clt_reduce_op op);

/* In place: rank r holds counts[r] elements of elem_bytes at element offset
 * counts[0] + ... + counts[r-1] of data; afterwards every rank holds all of them.
 * counts has size entries, equal on every rank. Errors: CLT_ERR_INVALID_ARG,
 * CLT_ERR_COMM. */
CLT_API clt_status clt_comm_allgather(clt_comm *comm, void *data, const size_t *counts,
                                      size_t elem_bytes);

/* `bytes` at data from rank root to every rank. Errors: CLT_ERR_INVALID_ARG (root not a
 * rank, NULL data with bytes > 0), CLT_ERR_COMM. */
CLT_API clt_status clt_comm_bcast(clt_comm *comm, void *data, size_t bytes, int root);

/* Point to point, matched in order per pair of ranks; the receive expects exactly
 * `bytes`. Errors: CLT_ERR_INVALID_ARG (the peer is this rank or not a rank, NULL data
 * with bytes > 0), CLT_ERR_COMM (also for a message of another size). */
CLT_API clt_status clt_comm_send(clt_comm *comm, const void *data, size_t bytes, int dest);
CLT_API clt_status clt_comm_recv(clt_comm *comm, void *data, size_t bytes, int source);

/* Returns once every rank has called it. Errors: CLT_ERR_COMM. */
CLT_API clt_status clt_comm_barrier(clt_comm *comm);

/* The counters above, since the communicator was made. Thread-safe (the offload engine's
 * worker may be using its duplicate). Errors: only the general ones (clt.h). */
CLT_API clt_status clt_comm_get_stats(const clt_comm *comm, clt_comm_stats *out);

/* A gradient sync over elements [0, numel) of `grads` (dtype f32, f16 or bf16, from
 * byte 0), reduced as `wire` (f32 or bf16: the sums are computed and sent in it) in
 * buckets of about bucket_bytes (0: 25 MiB, PyTorch DDP's default) of the wire dtype.
 * It borrows comm and grads, and owns a host copy of the gradients. Errors:
 * CLT_ERR_INVALID_ARG (a dtype it does not take, numel past the buffer, a NULL handle),
 * CLT_ERR_OUT_OF_MEMORY (the host copy). */
CLT_API clt_status clt_grad_sync_create(clt_comm *comm, clt_buffer *grads, size_t numel,
                                        clt_dtype dtype, clt_dtype wire,
                                        size_t bucket_bytes, clt_grad_sync **out);
CLT_API void clt_grad_sync_destroy(clt_grad_sync *sync);

/* Elements [first, first + count) have their final values in the work submitted so
 * far. Ranges of one step must not overlap; in any order, the same on every rank.
 * Each bucket that becomes complete is read to the host after that work (the side
 * queue) and all-reduced while later work runs. Returns at once. Errors:
 * CLT_ERR_INVALID_ARG (a range past numel, or given twice this step), a failed
 * device copy, CLT_ERR_COMM (a bucket's all-reduce failed). */
CLT_API clt_status clt_grad_sync_ready(clt_grad_sync *sync, size_t first, size_t count);

/* Ends the step: every element must have been given to ready(). Waits for every
 * bucket's all-reduce and writes the sums back into grads (submitted work: ops
 * submitted afterwards see them), and resets for the next step; out (may be NULL)
 * gets the step's figures. Errors: CLT_ERR_INVALID_ARG (elements never made ready:
 * the text gives the first range), CLT_ERR_COMM, a failed device copy. */
CLT_API clt_status clt_grad_sync_finish(clt_grad_sync *sync, clt_grad_sync_stats *out);

#ifdef __cplusplus
}
#endif
#endif
