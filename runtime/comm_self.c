/* The one-rank transport: every collective's result is its input, so a single process
 * runs the same code path as a job of N ranks, without MPI. */
#include "runtime/comm.h"
#include "runtime/error.h"

static clt_status self_allreduce(void *impl, void *data, size_t count, clt_dtype dtype,
                                 clt_reduce_op op)
{
    (void)impl, (void)data, (void)count, (void)dtype, (void)op;
    return CLT_OK;
}

static clt_status self_allgather(void *impl, void *data, const size_t *counts,
                                 size_t elem_bytes)
{
    (void)impl, (void)data, (void)counts, (void)elem_bytes;
    return CLT_OK;
}

static clt_status self_bcast(void *impl, void *data, size_t bytes, int root)
{
    (void)impl, (void)data, (void)bytes, (void)root;
    return CLT_OK;
}

/* The public layer refuses a peer other than another rank: there is none. */
static clt_status self_send(void *impl, const void *data, size_t bytes, int dest)
{
    (void)impl, (void)data, (void)bytes;
    return clt_fail(CLT_ERR_INTERNAL, "self transport: send to rank %d", dest);
}

static clt_status self_recv(void *impl, void *data, size_t bytes, int source)
{
    (void)impl, (void)data, (void)bytes;
    return clt_fail(CLT_ERR_INTERNAL, "self transport: receive from rank %d", source);
}

static clt_status self_barrier(void *impl)
{
    (void)impl;
    return CLT_OK;
}

static clt_status self_dup(void *impl, void **out)
{
    *out = impl;
    return CLT_OK;
}

static void self_close(void *impl) { (void)impl; }

static const struct comm_transport self_transport = {
    .name = "self",
    .allreduce = self_allreduce,
    .allgather = self_allgather,
    .bcast = self_bcast,
    .send = self_send,
    .recv = self_recv,
    .barrier = self_barrier,
    .dup = self_dup,
    .close = self_close,
};

clt_status comm_self_open(const struct comm_transport **tp, void **impl, struct comm_place *at)
{
    *tp = &self_transport;
    *impl = NULL;
    *at = (struct comm_place){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
    return CLT_OK;
}
