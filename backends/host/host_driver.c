/* The host driver: plain C on the CPU. One device, "host"; memory is ordinary host
 * memory and every call finishes before it returns, so it hands out no events. It runs
 * every op, which makes it the fallback for devices that cannot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/host/host_driver.h"
#include "backends/host/host_threads.h"
#include "runtime/buffer.h"
#include "runtime/error.h"
#include "runtime/ops.h"
#include "runtime/registry.h"

#define ALIGN 64

void *clt_host_mem_data(const struct clt_mem *mem) { return mem->impl; }

static void cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (colon && strncmp(line, "model name", 10) == 0) {
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            snprintf(out, size, "%s", colon);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}

static clt_status host_probe(clt_device_info *out, int max, int *n)
{
    *n = 1;
    if (max < 1)
        return CLT_OK;
    memset(out, 0, sizeof *out);
    cpu_model_name(out->device_name, sizeof out->device_name);
    snprintf(out->vendor, sizeof out->vendor, "clt");
#ifdef CLT_HAVE_CBLAS
    snprintf(out->driver_version, sizeof out->driver_version, "clt %s, GEMM through CBLAS",
             CLT_VERSION_STRING);
#else
    snprintf(out->driver_version, sizeof out->driver_version, "clt %s, reference GEMM",
             CLT_VERSION_STRING);
#endif
    out->type = CLT_DEVICE_TYPE_HOST;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->global_mem_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    out->max_alloc_bytes = out->global_mem_bytes;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->compute_units = cpus > 0 ? (int)cpus : 1;
    out->max_work_group_size = 1;
    out->unified_memory = true;
    return CLT_OK;
}

static clt_status host_open(int index, const clt_device_opts *opts, struct clt_dev **out)
{
    if (index != 0)
        return clt_fail(CLT_ERR_NO_DEVICE, "host: there is one host device, not %d", index);
    struct clt_host_dev *dev = calloc(1, sizeof *dev);
    if (!dev)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "host: no memory to open the device");
    dev->base.driver = &clt_host_driver;
    dev->base.parent = opts->parent;
    pthread_mutex_init(&dev->pool_lock, NULL);
    *out = &dev->base;
    return CLT_OK;
}

static void host_close(struct clt_dev *base)
{
    struct clt_host_dev *dev = (struct clt_host_dev *)base;
    clt_host_pool_destroy(dev->pool); /* made by the first op that needed it, if any */
    pthread_mutex_destroy(&dev->pool_lock);
    free(dev);
}

/* The driver's memory: its own aligned allocation, or the caller's (wrap_host). */
struct host_mem {
    struct clt_mem base;
    bool borrowed;
};

static clt_status host_alloc(struct clt_dev *dev, size_t size, clt_tier tier,
                             struct clt_mem **out)
{
    struct host_mem *mem = calloc(1, sizeof *mem);
    void *data = size <= SIZE_MAX - (ALIGN - 1)
                     ? aligned_alloc(ALIGN, (size + ALIGN - 1) & ~(size_t)(ALIGN - 1))
                     : NULL;
    if (!mem || !data) {
        free(mem);
        free(data);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "out of memory in tier %s on host: the system refused %zu bytes",
                        clt_tier_name(tier), size);
    }
    mem->base = (struct clt_mem){.dev = dev, .size = size, .tier = tier, .impl = data};
    *out = &mem->base;
    return CLT_OK;
}

static clt_status host_wrap_host(struct clt_dev *dev, void *ptr, size_t size,
                                 struct clt_mem **out)
{
    struct host_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "host: no memory for a wrapped buffer's handle");
    mem->base = (struct clt_mem){.dev = dev, .size = size, .tier = CLT_TIER_DEVICE, .impl = ptr};
    mem->borrowed = true;
    *out = &mem->base;
    return CLT_OK;
}

static void host_free(struct clt_mem *base)
{
    if (!base)
        return;
    struct host_mem *mem = (struct host_mem *)base;
    if (!mem->borrowed)
        free(base->impl);
    free(mem);
}

static clt_status host_write(struct clt_mem *dst, size_t off, const void *src, size_t n,
                             struct clt_dev_event **ev)
{
    (void)ev;
    memcpy((char *)dst->impl + off, src, n);
    return CLT_OK;
}

static clt_status host_read(struct clt_mem *src, size_t off, void *dst, size_t n,
                            struct clt_dev_event **ev)
{
    (void)ev;
    memcpy(dst, (const char *)src->impl + off, n);
    return CLT_OK;
}

static clt_status host_copy(struct clt_mem *dst, size_t dst_off, struct clt_mem *src,
                            size_t src_off, size_t n, struct clt_dev_event **ev)
{
    (void)ev;
    memmove((char *)dst->impl + dst_off, (const char *)src->impl + src_off, n);
    return CLT_OK;
}

static bool host_supports(struct clt_dev *dev, const clt_op *op)
{
    (void)dev;
    return clt_op_desc_of(op->kind) != NULL; /* every op, every dtype the table admits */
}

void *clt_host_tensor_data(const clt_tensor *t)
{
    return t->buf ? (char *)clt_host_mem_data(clt_buffer_mem(t->buf)) + t->offset : NULL;
}

static clt_status host_run(struct clt_dev *dev, const clt_op *op, struct clt_dev_event **ev)
{
    (void)ev;
    switch (clt_op_desc_of(op->kind)->family) {
    case CLT_FAMILY_GEMM: {
        const clt_gemm_args *g = &op->u.gemm;
        return clt_host_gemm(g, clt_host_tensor_data(&g->a), clt_host_tensor_data(&g->b),
                             clt_host_tensor_data(&g->c), clt_host_tensor_data(&g->bias));
    }
    case CLT_FAMILY_ATTENTION: return clt_host_attention(dev, op);
    case CLT_FAMILY_ROWS: return clt_host_rows(dev, op);
    case CLT_FAMILY_ELEMENTWISE: return clt_host_elementwise(dev, op);
    case CLT_FAMILY_EMBEDDING: return clt_host_embedding(dev, op);
    case CLT_FAMILY_OPTIM: return clt_host_optim(dev, op);
    }
    return clt_fail(CLT_ERR_INTERNAL, "host: op %s has no family", clt_op_name(op->kind));
}

static clt_status host_finish(struct clt_dev *dev)
{
    (void)dev;
    return CLT_OK;
}

const struct clt_driver clt_host_driver = {
    .api_version = CLT_DRIVER_API_VERSION,
    .name = "host",
    .probe = host_probe,
    .open = host_open,
    .close = host_close,
    .alloc = host_alloc,
    .free = host_free,
    .write = host_write,
    .read = host_read,
    .copy = host_copy,
    .supports = host_supports,
    .run = host_run,
    .finish = host_finish,
    .event_wait = NULL,
    .event_release = NULL,
    .wrap_host = host_wrap_host,
};
