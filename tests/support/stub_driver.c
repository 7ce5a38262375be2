/* The fault-injecting stub driver; see stub_driver.h. */
#include "support/stub_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/host/ref.h"
#include "runtime/buffer.h"
#include "runtime/error.h"
#include "runtime/logger.h"

struct stub_faults stub_faults;

void stub_reset(void) { memset(&stub_faults, 0, sizeof stub_faults); }

struct stub_dev {
    bool built;  /* the "program" has been built on this device */
};

/* Takes one armed fault of a kind, if any. */
static bool take(int *count)
{
    if (*count > 0) {
        (*count)--;
        return true;
    }
    return false;
}

static void fill_info(clt_device_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->device_name, sizeof info->device_name, "Stub Fault Injector");
    snprintf(info->vendor, sizeof info->vendor, "clt tests");
    snprintf(info->platform, sizeof info->platform, "stub platform 1.0");
    snprintf(info->driver_version, sizeof info->driver_version, "1.0");
    snprintf(info->opencl_c_version, sizeof info->opencl_c_version, "OpenCL C 1.2 stub");
    info->type = CLT_DEVICE_TYPE_OTHER;
    info->global_mem_bytes = 256u << 20;
    info->max_alloc_bytes = 64u << 20;
    info->local_mem_bytes = 32u << 10;
    info->compute_units = 1;
    info->max_work_group_size = 1;
    info->fp16 = false;
    info->unified_memory = true;
}

static clt_status stub_probe(clt_device_info *out, int max, int *n)
{
    if (max > 0)
        fill_info(&out[0]);
    *n = 1;
    return CLT_OK;
}

static clt_status stub_open(int index, const clt_device_opts *opts, struct clt_dev **out)
{
    *out = NULL;
    stub_faults.n_open++;
    if (index != 0)
        return clt_fail(CLT_ERR_NO_DEVICE, "stub: there is no device %d", index);
    if (take(&stub_faults.fail_open))
        return clt_fail(CLT_ERR_NO_DEVICE, "stub:0: the device refused to open (injected)");
    struct clt_dev *dev = calloc(1, sizeof *dev);
    struct stub_dev *impl = calloc(1, sizeof *impl);
    if (!dev || !impl) {
        free(dev);
        free(impl);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "stub:0: no memory for the device");
    }
    dev->driver = &stub_driver;
    dev->parent = opts ? opts->parent : NULL;
    dev->impl = impl;
    stub_faults.live_devs++;
    *out = dev;
    return CLT_OK;
}

static void stub_close(struct clt_dev *dev)
{
    if (!dev)
        return;
    stub_faults.live_devs--;
    free(dev->impl);
    free(dev);
}

static clt_status stub_alloc(struct clt_dev *dev, size_t size, clt_tier tier,
                             struct clt_mem **out)
{
    *out = NULL;
    stub_faults.n_alloc++;
    if (tier != CLT_TIER_DEVICE && tier != CLT_TIER_HOST_PINNED)
        return clt_fail(CLT_ERR_INTERNAL, "stub: alloc on tier %s", clt_tier_name(tier));
    if (take(&stub_faults.fail_alloc))
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "stub:0: allocating %zu bytes of %s memory failed (injected)", size,
                        clt_tier_name(tier));
    struct clt_mem *mem = calloc(1, sizeof *mem);
    void *bytes = malloc(size ? size : 1);
    if (!mem || !bytes) {
        free(mem);
        free(bytes);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "stub:0: malloc(%zu) failed", size);
    }
    mem->dev = dev;
    mem->size = size;
    mem->tier = tier;
    mem->impl = bytes;
    stub_faults.live_allocs++;
    stub_faults.live_bytes += size;
    *out = mem;
    return CLT_OK;
}

static void stub_free(struct clt_mem *mem)
{
    if (!mem)
        return;
    stub_faults.live_allocs--;
    stub_faults.live_bytes -= mem->size;
    free(mem->impl);
    free(mem);
}

static clt_status check_lost(const char *what)
{
    if (stub_faults.lost)
        return clt_fail(CLT_ERR_DEVICE_LOST, "stub:0: %s: the device stopped answering "
                                             "(injected)", what);
    return CLT_OK;
}

static clt_status stub_write(struct clt_mem *dst, size_t off, const void *src, size_t n,
                             struct clt_dev_event **ev)
{
    if (ev)
        *ev = NULL;
    stub_faults.n_write++;
    clt_status st = check_lost("write");
    if (st != CLT_OK)
        return st;
    if (take(&stub_faults.fail_write))
        return clt_fail(CLT_ERR_TRANSFER, "stub:0: writing %zu bytes at offset %zu failed "
                                          "(injected)", n, off);
    memcpy((char *)dst->impl + off, src, n);
    return CLT_OK;
}

static clt_status stub_read(struct clt_mem *src, size_t off, void *dst, size_t n,
                            struct clt_dev_event **ev)
{
    if (ev)
        *ev = NULL;
    stub_faults.n_read++;
    clt_status st = check_lost("read");
    if (st != CLT_OK)
        return st;
    if (take(&stub_faults.fail_read))
        return clt_fail(CLT_ERR_TRANSFER, "stub:0: short read: %zu of %zu bytes at offset "
                                          "%zu (injected)", n / 2, n, off);
    memcpy(dst, (const char *)src->impl + off, n);
    return CLT_OK;
}

static clt_status stub_copy(struct clt_mem *dst, size_t dst_off, struct clt_mem *src,
                            size_t src_off, size_t n, struct clt_dev_event **ev)
{
    if (ev)
        *ev = NULL;
    stub_faults.n_copy++;
    clt_status st = check_lost("copy");
    if (st != CLT_OK)
        return st;
    if (take(&stub_faults.fail_copy))
        return clt_fail(CLT_ERR_TRANSFER, "stub:0: copying %zu bytes failed (injected)", n);
    memmove((char *)dst->impl + dst_off, (const char *)src->impl + src_off, n);
    return CLT_OK;
}

static bool stub_supports(struct clt_dev *dev, const clt_op *op)
{
    (void)dev;
    if (stub_faults.unsupported || op->kind != CLT_OP_GEMM)
        return false;
    const clt_gemm_args *g = &op->u.gemm;
    return g->a.dtype == CLT_DTYPE_F32 && g->b.dtype == CLT_DTYPE_F32 &&
           g->c.dtype == CLT_DTYPE_F32 && (!g->bias.buf || g->bias.dtype == CLT_DTYPE_F32);
}

static void *element0(const clt_tensor *t)
{
    struct clt_mem *mem = clt_buffer_mem(t->buf);
    return (char *)mem->impl + t->offset;
}

static clt_status stub_run(struct clt_dev *dev, const clt_op *op, struct clt_dev_event **ev)
{
    struct stub_dev *impl = dev->impl;
    if (ev)
        *ev = NULL;
    stub_faults.n_run++;
    clt_status st = check_lost("run");
    if (st != CLT_OK)
        return st;
    if (!impl->built) {
        if (take(&stub_faults.fail_build))
            return clt_fail(CLT_ERR_BUILD, "stub:0: building program 'gemm' failed; build "
                                           "log:\n%s", STUB_BUILD_LOG);
        impl->built = true;
        stub_faults.n_build++;
        if (dev->parent && dev->parent->stats) {
            pthread_mutex_lock(dev->parent->stats_lock);
            dev->parent->stats->programs_built++;
            pthread_mutex_unlock(dev->parent->stats_lock);
        }
        if (dev->parent)
            clt_log(dev->parent->log, CLT_LOG_DEBUG, "stub:0: built program 'gemm'");
    }
    if (take(&stub_faults.fail_launch))
        return clt_fail(CLT_ERR_LAUNCH, "stub:0: launching kernel 'gemm' failed (injected)");
    if (op->kind != CLT_OP_GEMM)
        return clt_fail(CLT_ERR_INTERNAL, "stub: run called with op %d", (int)op->kind);
    const clt_gemm_args *g = &op->u.gemm;
    clt_ref_gemm_f32(g, element0(&g->a), element0(&g->b), element0(&g->c),
                     g->bias.buf ? element0(&g->bias) : NULL);
    return CLT_OK;
}

static clt_status stub_finish(struct clt_dev *dev)
{
    (void)dev;
    stub_faults.n_finish++;
    clt_status st = check_lost("finish");
    if (st != CLT_OK)
        return st;
    if (take(&stub_faults.fail_finish))
        return clt_fail(CLT_ERR_LAUNCH, "stub:0: an earlier kernel failed while running "
                                        "(injected)");
    return CLT_OK;
}

const struct clt_driver stub_driver = {
    .api_version = CLT_DRIVER_API_VERSION,
    .name = "stub",
    .probe = stub_probe,
    .open = stub_open,
    .close = stub_close,
    .alloc = stub_alloc,
    .free = stub_free,
    .write = stub_write,
    .read = stub_read,
    .copy = stub_copy,
    .supports = stub_supports,
    .run = stub_run,
    .finish = stub_finish,
    .event_wait = NULL,
    .event_release = NULL,
};
