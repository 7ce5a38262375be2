/* The MPI transport: MPI_COMM_WORLD duplicated, errors returned rather than fatal, f16
 * and bf16 reduced by user operators that add in f32, and counts past int's range sent
 * in chunks. Every call here runs on a communicator's thread, several at once for
 * duplicates: MPI_THREAD_MULTIPLE. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/comm.h"
#include "runtime/error.h"

#ifdef CLT_HAVE_MPI
#include <mpi.h>

#include "runtime/dtype_access.h"

/* Elements or bytes per MPI call: well inside int. */
#define CHUNK ((size_t)1 << 28)
#define P2P_TAG 7

struct mpi_impl {
    MPI_Comm comm;
    MPI_Op sum16[2], max16[2]; /* [0] f16, [1] bf16 */
    bool owns_init;            /* MPI_Init_thread was ours: MPI_Finalize is too */
};

static clt_status mpi_fail(int rc, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    return clt_fail(CLT_ERR_COMM, "%s: %s", call, text);
}

/* The user operators: MPI calls them with the datatype it was given (MPI_UINT16_T). */
static void reduce16(void *in, void *inout, int *len, clt_dtype d, bool max)
{
    for (int i = 0; i < *len; i++) {
        const float a = clt_load_elem(d, in, (size_t)i), b = clt_load_elem(d, inout, (size_t)i);
        clt_store_elem(d, inout, (size_t)i, max ? (a > b ? a : b) : a + b);
    }
}
static void sum_f16(void *in, void *io, int *len, MPI_Datatype *t)
{
    (void)t;
    reduce16(in, io, len, CLT_DTYPE_F16, false);
}
static void sum_bf16(void *in, void *io, int *len, MPI_Datatype *t)
{
    (void)t;
    reduce16(in, io, len, CLT_DTYPE_BF16, false);
}
static void max_f16(void *in, void *io, int *len, MPI_Datatype *t)
{
    (void)t;
    reduce16(in, io, len, CLT_DTYPE_F16, true);
}
static void max_bf16(void *in, void *io, int *len, MPI_Datatype *t)
{
    (void)t;
    reduce16(in, io, len, CLT_DTYPE_BF16, true);
}

static clt_status mpi_allreduce(void *impl, void *data, size_t count, clt_dtype dtype,
                                clt_reduce_op op)
{
    struct mpi_impl *m = impl;
    const bool max = op == CLT_REDUCE_MAX;
    MPI_Datatype type = MPI_FLOAT;
    MPI_Op mop = max ? MPI_MAX : MPI_SUM;
    switch (dtype) {
    case CLT_DTYPE_F32: break;
    case CLT_DTYPE_I32: type = MPI_INT32_T; break;
    case CLT_DTYPE_F16:
    case CLT_DTYPE_BF16: {
        const int k = dtype == CLT_DTYPE_BF16;
        type = MPI_UINT16_T;
        mop = max ? m->max16[k] : m->sum16[k];
        break;
    }
    default: return clt_fail(CLT_ERR_INTERNAL, "MPI all-reduce of dtype %d", (int)dtype);
    }
    const size_t es = clt_dtype_size(dtype);
    for (size_t at = 0; at < count; at += CHUNK) {
        const size_t n = count - at < CHUNK ? count - at : CHUNK;
        const int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)data + at * es, (int)n, type, mop,
                                     m->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Allreduce");
    }
    return CLT_OK;
}

static clt_status mpi_allgather(void *impl, void *data, const size_t *counts, size_t elem_bytes)
{
    struct mpi_impl *m = impl;
    int size = 0;
    MPI_Comm_size(m->comm, &size);
    int *recv = malloc(2 * (size_t)size * sizeof *recv);
    if (!recv)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "MPI all-gather: out of host memory");
    int *displ = recv + size;
    size_t at = 0;
    clt_status s = CLT_OK;
    for (int r = 0; r < size && s == CLT_OK; r++) {
        if (counts[r] > INT_MAX || at > INT_MAX)
            s = clt_fail(CLT_ERR_INVALID_ARG, "MPI all-gather: rank %d's part (%zu elements "
                                              "at element %zu) is past 2^31 elements; use "
                                              "larger elements", r, counts[r], at);
        recv[r] = (int)counts[r];
        displ[r] = (int)at;
        at += counts[r];
    }
    MPI_Datatype elem = MPI_DATATYPE_NULL;
    if (s == CLT_OK && (elem_bytes > INT_MAX ||
                        MPI_Type_contiguous((int)elem_bytes, MPI_BYTE, &elem) != MPI_SUCCESS ||
                        MPI_Type_commit(&elem) != MPI_SUCCESS))
        s = clt_fail(CLT_ERR_COMM, "MPI all-gather: no datatype of %zu bytes", elem_bytes);
    if (s == CLT_OK) {
        const int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, recv, displ,
                                      elem, m->comm);
        if (rc != MPI_SUCCESS)
            s = mpi_fail(rc, "MPI_Allgatherv");
    }
    if (elem != MPI_DATATYPE_NULL)
        MPI_Type_free(&elem);
    free(recv);
    return s;
}

static clt_status mpi_bcast(void *impl, void *data, size_t bytes, int root)
{
    struct mpi_impl *m = impl;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        const size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        const int rc = MPI_Bcast((char *)data + at, (int)n, MPI_BYTE, root, m->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Bcast");
    }
    return CLT_OK;
}

static clt_status mpi_send(void *impl, const void *data, size_t bytes, int dest)
{
    struct mpi_impl *m = impl;
    size_t at = 0;
    do { /* a 0-byte message still pairs with its receive */
        const size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        const int rc = MPI_Send((const char *)data + at, (int)n, MPI_BYTE, dest, P2P_TAG,
                                m->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Send");
        at += n;
    } while (at < bytes);
    return CLT_OK;
}

static clt_status mpi_recv(void *impl, void *data, size_t bytes, int source)
{
    struct mpi_impl *m = impl;
    size_t at = 0;
    do {
        const size_t n = bytes - at < CHUNK ? bytes - at : CHUNK;
        MPI_Status st;
        int rc = MPI_Recv((char *)data + at, (int)n, MPI_BYTE, source, P2P_TAG, m->comm, &st);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Recv");
        int got = 0;
        MPI_Get_count(&st, MPI_BYTE, &got);
        if ((size_t)got != n)
            return clt_fail(CLT_ERR_COMM, "MPI_Recv from rank %d: %d bytes arrived where %zu "
                                          "were expected (the ranks disagree on the size)",
                            source, got, n);
        at += n;
    } while (at < bytes);
    return CLT_OK;
}

static clt_status mpi_barrier(void *impl)
{
    struct mpi_impl *m = impl;
    const int rc = MPI_Barrier(m->comm);
    return rc == MPI_SUCCESS ? CLT_OK : mpi_fail(rc, "MPI_Barrier");
}

static void mpi_close(void *impl);

/* A communicator of its own over `from`, with its own operators. */
static clt_status mpi_make(MPI_Comm from, bool owns_init, struct mpi_impl **out)
{
    struct mpi_impl *m = calloc(1, sizeof *m);
    if (!m)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "MPI: out of host memory");
    m->comm = MPI_COMM_NULL;
    for (int k = 0; k < 2; k++)
        m->sum16[k] = m->max16[k] = MPI_OP_NULL;
    int rc = MPI_Comm_dup(from, &m->comm);
    if (rc != MPI_SUCCESS) {
        free(m);
        return mpi_fail(rc, "MPI_Comm_dup");
    }
    m->owns_init = owns_init;
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (MPI_Op_create(sum_f16, 1, &m->sum16[0]) != MPI_SUCCESS ||
        MPI_Op_create(sum_bf16, 1, &m->sum16[1]) != MPI_SUCCESS ||
        MPI_Op_create(max_f16, 1, &m->max16[0]) != MPI_SUCCESS ||
        MPI_Op_create(max_bf16, 1, &m->max16[1]) != MPI_SUCCESS) {
        m->owns_init = false; /* the caller finalizes */
        mpi_close(m);
        return clt_fail(CLT_ERR_COMM, "MPI_Op_create failed for the f16/bf16 operators");
    }
    *out = m;
    return CLT_OK;
}

static clt_status mpi_dup(void *impl, void **out)
{
    struct mpi_impl *m = impl, *d = NULL;
    const clt_status s = mpi_make(m->comm, false, &d);
    *out = d;
    return s;
}

static void mpi_close(void *impl)
{
    struct mpi_impl *m = impl;
    for (int k = 0; k < 2; k++) {
        if (m->sum16[k] != MPI_OP_NULL)
            MPI_Op_free(&m->sum16[k]);
        if (m->max16[k] != MPI_OP_NULL)
            MPI_Op_free(&m->max16[k]);
    }
    if (m->comm != MPI_COMM_NULL)
        MPI_Comm_free(&m->comm);
    if (m->owns_init)
        MPI_Finalize();
    free(m);
}

static const struct comm_transport mpi_transport = {
    .name = "MPI",
    .allreduce = mpi_allreduce,
    .allgather = mpi_allgather,
    .bcast = mpi_bcast,
    .send = mpi_send,
    .recv = mpi_recv,
    .barrier = mpi_barrier,
    .dup = mpi_dup,
    .close = mpi_close,
};

clt_status comm_mpi_open(const struct comm_transport **tp, void **impl, struct comm_place *at)
{
    int inited = 0, finalized = 0, provided = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized)
        return clt_fail(CLT_ERR_UNSUPPORTED, "MPI was finalized already in this process; "
                                             "it cannot be initialised again");
    if (inited) {
        MPI_Query_thread(&provided);
        if (provided < MPI_THREAD_MULTIPLE)
            return clt_fail(CLT_ERR_UNSUPPORTED, "the program initialised MPI at thread "
                                                 "level %d; clt's communicators need "
                                                 "MPI_THREAD_MULTIPLE (%d): call "
                                                 "MPI_Init_thread with it",
                            provided, MPI_THREAD_MULTIPLE);
    } else {
        const int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "MPI_Init_thread");
        if (provided < MPI_THREAD_MULTIPLE) {
            MPI_Finalize();
            return clt_fail(CLT_ERR_UNSUPPORTED, "this MPI library gives thread level %d; "
                                                 "clt's communicators need "
                                                 "MPI_THREAD_MULTIPLE (%d)",
                            provided, MPI_THREAD_MULTIPLE);
        }
    }
    struct mpi_impl *m = NULL;
    clt_status s = mpi_make(MPI_COMM_WORLD, !inited, &m);
    if (s != CLT_OK) {
        if (!inited)
            MPI_Finalize();
        return s;
    }
    MPI_Comm local = MPI_COMM_NULL;
    MPI_Comm_rank(m->comm, &at->rank);
    MPI_Comm_size(m->comm, &at->size);
    at->local_rank = 0;
    at->local_size = 1;
    if (MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, at->rank, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(local, &at->local_rank);
        MPI_Comm_size(local, &at->local_size);
        MPI_Comm_free(&local);
    }
    *tp = &mpi_transport;
    *impl = m;
    return CLT_OK;
}

#else /* no MPI in this build */

clt_status comm_mpi_open(const struct comm_transport **tp, void **impl, struct comm_place *at)
{
    (void)tp, (void)impl, (void)at;
    return clt_fail(CLT_ERR_UNSUPPORTED, "this clt was built without MPI: configure with "
                                         "-DCLT_MPI=ON and an MPI library (Debian: apt-get "
                                         "install libopenmpi-dev openmpi-bin)");
}

#endif
