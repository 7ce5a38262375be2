/* The OpenCL driver table: devices through the ICD loader, memory, transfers, events
 * and dispatch of ops. Programs are in cl_program.c, the disk cache in cl_cache.c,
 * kernels' launches in cl_<op>.c. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/opencl/cl_internal.h"
#include "runtime/ops.h"
#include "runtime/logger.h"

/* From cl_ext.h (cl_khr_icd): what the ICD loader returns when no vendor driver is
 * installed. Spelled out here because not every header set defines it. */
#define CLT_CL_PLATFORM_NOT_FOUND_KHR (-1001)

/* ---- helpers shared with the other files -------------------------------------------- */

void clt_cl_log(const struct clt_cl_device *dev, clt_log_level level, const char *fmt, ...)
{
    const struct clt_logger *log = dev->base.parent ? dev->base.parent->log : NULL;
    if (!log || !log->fn || level > log->level)
        return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    clt_log(log, level, "%s: %s", dev->label, message);
}

void clt_cl_count_build(struct clt_cl_device *dev, bool from_cache, double seconds)
{
    struct clt_dev_parent *parent = dev->base.parent;
    if (!parent || !parent->stats)
        return;
    if (parent->stats_lock)
        pthread_mutex_lock(parent->stats_lock);
    if (from_cache) {
        parent->stats->programs_from_cache++;
        parent->stats->cache_load_seconds += seconds;
    } else {
        parent->stats->programs_built++;
        parent->stats->build_seconds += seconds;
    }
    if (parent->stats_lock)
        pthread_mutex_unlock(parent->stats_lock);
}

void clt_cl_count_cache_rejected(struct clt_cl_device *dev)
{
    struct clt_dev_parent *parent = dev->base.parent;
    if (!parent || !parent->stats)
        return;
    if (parent->stats_lock)
        pthread_mutex_lock(parent->stats_lock);
    parent->stats->cache_rejected++;
    if (parent->stats_lock)
        pthread_mutex_unlock(parent->stats_lock);
}

double clt_cl_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- devices ------------------------------------------------------------------------ */

/* Every device of every platform, flattened in the loader's order: index N of this
 * list is "opencl:N". probe and open both use it, so they agree on the numbering. */
struct device_list {
    int count;
    cl_platform_id *platforms;  /* per device: its platform */
    cl_device_id *devices;
};

static void device_list_free(struct device_list *list)
{
    free(list->platforms);
    free(list->devices);
    list->platforms = NULL;
    list->devices = NULL;
    list->count = 0;
}

static clt_status device_list_get(struct device_list *list)
{
    clt_status status = CLT_OK;
    cl_platform_id *platforms = NULL;
    cl_uint n_platforms = 0;
    memset(list, 0, sizeof *list);

    cl_int err = clGetPlatformIDs(0, NULL, &n_platforms);
    if (err == CLT_CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && n_platforms == 0))
        goto done;  /* no OpenCL installed: zero devices, not an error */
    if (err != CL_SUCCESS) {
        status = clt_cl_fail(NULL, err, CLT_ERR_NO_DEVICE, "clGetPlatformIDs");
        goto done;
    }
    platforms = calloc(n_platforms, sizeof *platforms);
    if (!platforms) {
        status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "opencl: out of host memory listing platforms");
        goto done;
    }
    err = clGetPlatformIDs(n_platforms, platforms, NULL);
    if (err != CL_SUCCESS) {
        status = clt_cl_fail(NULL, err, CLT_ERR_NO_DEVICE, "clGetPlatformIDs");
        goto done;
    }
    for (cl_uint p = 0; p < n_platforms; p++) {
        cl_uint n = 0;
        /* A platform that fails to list its devices (CL_DEVICE_NOT_FOUND included)
         * contributes none; the others still count. */
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) != CL_SUCCESS ||
            n == 0)
            continue;
        cl_device_id *grown_devices =
            realloc(list->devices, (size_t)(list->count + (int)n) * sizeof *grown_devices);
        if (grown_devices)
            list->devices = grown_devices;
        cl_platform_id *grown_platforms =
            realloc(list->platforms, (size_t)(list->count + (int)n) * sizeof *grown_platforms);
        if (grown_platforms)
            list->platforms = grown_platforms;
        if (!grown_devices || !grown_platforms) {
            status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "opencl: out of host memory listing devices");
            goto done;
        }
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, n, list->devices + list->count,
                           NULL) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < n; d++)
            list->platforms[list->count + (int)d] = platforms[p];
        list->count += (int)n;
    }
done:
    free(platforms);
    if (status != CLT_OK)
        device_list_free(list);
    return status;
}

/* Copies a string property into out[cap], truncating safely. A property longer than
 * any fixed buffer is fetched whole first, since clGet*Info refuses short buffers. */
static void platform_string(cl_platform_id platform, cl_platform_info param, char *out,
                            size_t cap)
{
    size_t size = 0;
    out[0] = '\0';
    if (clGetPlatformInfo(platform, param, 0, NULL, &size) != CL_SUCCESS || size == 0)
        return;
    char *text = malloc(size + 1);
    if (!text)
        return;
    if (clGetPlatformInfo(platform, param, size, text, NULL) == CL_SUCCESS) {
        text[size] = '\0';
        snprintf(out, cap, "%s", text);
    }
    free(text);
}

static void device_string(cl_device_id device, cl_device_info param, char *out, size_t cap)
{
    size_t size = 0;
    out[0] = '\0';
    if (clGetDeviceInfo(device, param, 0, NULL, &size) != CL_SUCCESS || size == 0)
        return;
    char *text = malloc(size + 1);
    if (!text)
        return;
    if (clGetDeviceInfo(device, param, size, text, NULL) == CL_SUCCESS) {
        text[size] = '\0';
        snprintf(out, cap, "%s", text);
    }
    free(text);
}

static bool device_has_extension(cl_device_id device, const char *extension)
{
    size_t size = 0;
    bool found = false;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS)
        return false;
    char *list = malloc(size + 1);
    if (!list)
        return false;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, list, NULL) == CL_SUCCESS) {
        list[size] = '\0';
        size_t len = strlen(extension);
        /* Whole words only: "cl_khr_fp16" must not match "cl_khr_fp16_foo". */
        for (const char *p = strstr(list, extension); p; p = strstr(p + 1, extension)) {
            bool starts = p == list || p[-1] == ' ';
            bool ends = p[len] == '\0' || p[len] == ' ';
            if (starts && ends) {
                found = true;
                break;
            }
        }
    }
    free(list);
    return found;
}

static cl_ulong device_ulong(cl_device_id device, cl_device_info param)
{
    cl_ulong value = 0;
    if (clGetDeviceInfo(device, param, sizeof value, &value, NULL) != CL_SUCCESS)
        value = 0;
    return value;
}

static cl_uint device_uint(cl_device_id device, cl_device_info param)
{
    cl_uint value = 0;
    if (clGetDeviceInfo(device, param, sizeof value, &value, NULL) != CL_SUCCESS)
        value = 0;
    return value;
}

static void fill_info(cl_platform_id platform, cl_device_id device, clt_device_info *info)
{
    char platform_name[CLT_NAME_MAX], platform_version[CLT_NAME_MAX];
    platform_string(platform, CL_PLATFORM_NAME, platform_name, sizeof platform_name);
    platform_string(platform, CL_PLATFORM_VERSION, platform_version, sizeof platform_version);
    /* Two strings of up to 255 characters into one of 256: cut at the buffer's end. */
    char both[2 * CLT_NAME_MAX + 2];
    snprintf(both, sizeof both, "%s %s", platform_name, platform_version);
    size_t length = strlen(both);
    if (length >= sizeof info->platform)
        length = sizeof info->platform - 1;
    memcpy(info->platform, both, length);
    info->platform[length] = '\0';

    device_string(device, CL_DEVICE_NAME, info->device_name, sizeof info->device_name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    device_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);

    cl_device_type type = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS)
        type = 0;
    if (type & CL_DEVICE_TYPE_GPU)
        info->type = CLT_DEVICE_TYPE_GPU;
    else if (type & CL_DEVICE_TYPE_CPU)
        info->type = CLT_DEVICE_TYPE_CPU;
    else if (type & CL_DEVICE_TYPE_ACCELERATOR)
        info->type = CLT_DEVICE_TYPE_ACCELERATOR;
    else
        info->type = CLT_DEVICE_TYPE_OTHER;

    info->global_mem_bytes = device_ulong(device, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->max_alloc_bytes = device_ulong(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    info->local_mem_bytes = device_ulong(device, CL_DEVICE_LOCAL_MEM_SIZE);
    info->compute_units = (int)device_uint(device, CL_DEVICE_MAX_COMPUTE_UNITS);

    size_t max_wg = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg,
                        NULL) != CL_SUCCESS)
        max_wg = 1;
    info->max_work_group_size = max_wg > 0x7fffffff ? 0x7fffffff : (int)max_wg;

    info->fp16 = device_has_extension(device, "cl_khr_fp16");
    cl_bool unified = CL_FALSE;
    if (clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified,
                        NULL) != CL_SUCCESS)
        unified = CL_FALSE;
    info->unified_memory = unified == CL_TRUE;
}

static clt_status cl_probe(clt_device_info *out, int max, int *n)
{
    struct device_list list;
    *n = 0;
    clt_status status = device_list_get(&list);
    if (status != CLT_OK)
        return status;
    for (int i = 0; i < list.count && i < max; i++) {
        memset(&out[i], 0, sizeof out[i]);
        fill_info(list.platforms[i], list.devices[i], &out[i]);
    }
    *n = list.count;
    device_list_free(&list);
    return CLT_OK;
}

static void cl_close(struct clt_dev *base)
{
    if (!base)
        return;
    struct clt_cl_device *dev = clt_cl_device_of(base);
    if (dev->side_queue)
        clFinish(dev->side_queue);
    if (dev->queue)
        clFinish(dev->queue);
    clt_cl_gemm_release(dev);
    clt_cl_optim_release(dev);
    clt_cl_programs_release(dev);
    if (dev->side_queue)
        clReleaseCommandQueue(dev->side_queue);
    if (dev->queue)
        clReleaseCommandQueue(dev->queue);
    if (dev->context)
        clReleaseContext(dev->context);
    pthread_mutex_destroy(&dev->programs_lock);
    pthread_mutex_destroy(&dev->gemm_lock);
    pthread_mutex_destroy(&dev->scratch_lock);
    free(dev->cache_dir);
    free(dev);
}

/* The second in-order queue for side transfers, unless CLT_CL_COPY_QUEUE=0 turns it
 * off (to compare, or to rule it out). A device that refuses a second queue works
 * without one: its side transfers keep the main queue's order. */
static void open_side_queue(struct clt_cl_device *dev)
{
    const char *env = getenv("CLT_CL_COPY_QUEUE");
    if (env && strcmp(env, "0") == 0)
        return;
    cl_int err = CL_SUCCESS;
    dev->side_queue = clCreateCommandQueue(dev->context, dev->device, 0, &err);
    if (!dev->side_queue)
        clt_cl_log(dev, CLT_LOG_INFO, "no side queue for transfers: clCreateCommandQueue: %s",
                   clt_cl_error_name(err));
}

static clt_status cl_open(int index, const clt_device_opts *opts, struct clt_dev **out)
{
    clt_status status = CLT_OK;
    struct device_list list = {0};
    struct clt_cl_device *dev = NULL;
    bool lock_made = false;
    *out = NULL;

    status = device_list_get(&list);
    if (status != CLT_OK)
        goto done;
    if (index < 0 || index >= list.count) {
        status = clt_fail(CLT_ERR_NO_DEVICE, "opencl:%d: no such device (%d OpenCL device%s)",
                          index, list.count, list.count == 1 ? "" : "s");
        goto done;
    }
    dev = calloc(1, sizeof *dev);
    if (!dev) {
        status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "opencl:%d: out of host memory", index);
        goto done;
    }
    dev->base.driver = &clt_opencl_driver;
    dev->base.parent = opts ? opts->parent : NULL;
    dev->base.impl = dev;
    dev->index = index;
    snprintf(dev->label, sizeof dev->label, "opencl:%d", index);
    dev->platform = list.platforms[index];
    dev->device = list.devices[index];
    fill_info(dev->platform, dev->device, &dev->info);
    snprintf(dev->info.name, sizeof dev->info.name, "%s", dev->label);
    snprintf(dev->info.driver, sizeof dev->info.driver, "opencl");
    dev->info.index = index;
    device_string(dev->device, CL_DEVICE_VERSION, dev->device_version,
                  sizeof dev->device_version);

    if (pthread_mutex_init(&dev->programs_lock, NULL) != 0) {
        status = clt_fail(CLT_ERR_INTERNAL, "%s: pthread_mutex_init failed", dev->label);
        goto done;
    }
    if (pthread_mutex_init(&dev->gemm_lock, NULL) != 0) {
        pthread_mutex_destroy(&dev->programs_lock);
        status = clt_fail(CLT_ERR_INTERNAL, "%s: pthread_mutex_init failed", dev->label);
        goto done;
    }
    if (pthread_mutex_init(&dev->scratch_lock, NULL) != 0) {
        pthread_mutex_destroy(&dev->programs_lock);
        pthread_mutex_destroy(&dev->gemm_lock);
        status = clt_fail(CLT_ERR_INTERNAL, "%s: pthread_mutex_init failed", dev->label);
        goto done;
    }
    lock_made = true;
    dev->tune = opts && opts->tune == CLT_TUNE_OFF ? CLT_TUNE_OFF : CLT_TUNE_AUTO;

    if (opts && opts->cache_dir && opts->cache_dir[0]) {
        dev->cache_dir = strdup(opts->cache_dir);
        if (!dev->cache_dir) {
            status = clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", dev->label);
            goto done;
        }
    }

    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)dev->platform,
                                     0};
    dev->context = clCreateContext(props, 1, &dev->device, NULL, NULL, &err);
    if (!dev->context) {
        status = clt_cl_fail(dev, err, CLT_ERR_NO_DEVICE, "clCreateContext(%s)",
                             dev->info.device_name);
        goto done;
    }
    dev->queue = clCreateCommandQueue(dev->context, dev->device, 0, &err);
    if (!dev->queue) {
        status = clt_cl_fail(dev, err, CLT_ERR_NO_DEVICE, "clCreateCommandQueue(%s)",
                             dev->info.device_name);
        goto done;
    }
    open_side_queue(dev);
    clt_cl_log(dev, CLT_LOG_DEBUG, "opened %s (%s, %s)%s", dev->info.device_name,
               dev->info.platform, dev->info.driver_version,
               dev->side_queue ? "" : ", no side queue");
    *out = &dev->base;
done:
    if (status != CLT_OK && dev) {
        if (lock_made) {
            cl_close(&dev->base);
        } else {
            free(dev->cache_dir);
            free(dev);
        }
    }
    device_list_free(&list);
    return status;
}

/* ---- memory ------------------------------------------------------------------------- */

static clt_status cl_alloc(struct clt_dev *base, size_t size, clt_tier tier, struct clt_mem **out)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    *out = NULL;
    if ((uint64_t)size > dev->info.max_alloc_bytes)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "%s: %s allocation of %zu bytes exceeds the device's largest single "
                        "allocation, %llu bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                        dev->label, clt_tier_name(tier), size,
                        (unsigned long long)dev->info.max_alloc_bytes);
    struct clt_cl_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", dev->label);
    cl_mem_flags flags = CL_MEM_READ_WRITE;
    if (tier == CLT_TIER_HOST_PINNED)
        flags |= CL_MEM_ALLOC_HOST_PTR;
    cl_int err = CL_SUCCESS;
    mem->buffer = clCreateBuffer(dev->context, flags, size, NULL, &err);
    if (!mem->buffer) {
        free(mem);
        /* Whatever the code, a buffer that cannot be made is memory the caller lacks. */
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: clCreateBuffer(%s, %zu bytes) failed: %s (%d)",
                        dev->label, clt_tier_name(tier), size, clt_cl_error_name(err), (int)err);
    }
    mem->base.dev = base;
    mem->base.size = size;
    mem->base.tier = tier;
    mem->base.impl = mem;
    *out = &mem->base;
    return CLT_OK;
}

/* CL_MEM_USE_HOST_PTR: where the device computes in host memory (a CPU runtime, an
 * integrated GPU) the buffer is the caller's bytes; a discrete GPU would keep a copy
 * that only map/unmap brings back, so it is refused there. */
static clt_status cl_wrap_host(struct clt_dev *base, void *ptr, size_t size, struct clt_mem **out)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    *out = NULL;
    if (!dev->info.unified_memory)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: %s does not compute in host memory (CL_DEVICE_HOST_UNIFIED_MEMORY "
                        "is false), so host memory cannot be used in place: copy it into a "
                        "buffer with clt_buffer_write, or wrap a cl_mem (clt/opencl.h)",
                        dev->label, dev->info.device_name);
    if ((uint64_t)size > dev->info.max_alloc_bytes)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "%s: wrapping %zu bytes of host memory exceeds the device's largest "
                        "single allocation, %llu bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                        dev->label, size, (unsigned long long)dev->info.max_alloc_bytes);
    /* Runtimes use unaligned host memory through a copy of their own (PoCL does),
     * which would leave the results in the copy. */
    cl_uint align_bits = 0;
    if (clGetDeviceInfo(dev->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                        &align_bits, NULL) != CL_SUCCESS)
        align_bits = 8;
    const uintptr_t align = align_bits >= 8 ? align_bits / 8 : 1;
    if ((uintptr_t)ptr % align != 0)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "%s: host memory at %p is not aligned to %lu bytes "
                        "(CL_DEVICE_MEM_BASE_ADDR_ALIGN), so the device would compute in a "
                        "copy: allocate it aligned, or copy it with clt_buffer_write",
                        dev->label, ptr, (unsigned long)align);
    struct clt_cl_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "%s: out of host memory", dev->label);
    cl_int err = CL_SUCCESS;
    mem->buffer = clCreateBuffer(dev->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, size,
                                 ptr, &err);
    if (!mem->buffer) {
        free(mem);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "%s: clCreateBuffer(CL_MEM_USE_HOST_PTR, %zu bytes) failed: %s (%d)",
                        dev->label, size, clt_cl_error_name(err), (int)err);
    }
    mem->base = (struct clt_mem){.dev = base, .size = size, .tier = CLT_TIER_DEVICE, .impl = mem};
    *out = &mem->base;
    return CLT_OK;
}

static clt_status cl_finish(struct clt_dev *base);

static void cl_free(struct clt_mem *base)
{
    if (!base)
        return;
    struct clt_cl_mem *mem = base->impl;
    if (mem->mapped) {
        /* Queued transfers may use the mapped pointer as their host side, which keeps
         * nothing alive: they finish first. */
        struct clt_cl_device *dev = clt_cl_device_of(base->dev);
        (void)cl_finish(base->dev);
        if (clEnqueueUnmapMemObject(dev->queue, mem->buffer, mem->mapped, 0, NULL, NULL) ==
            CL_SUCCESS)
            clFinish(dev->queue);
    }
    /* OpenCL keeps the memory alive until commands that use it have finished. */
    clReleaseMemObject(mem->buffer);
    free(mem);
}

/* Mapped once, for good: the pinned pages stay where the CPU and the DMA engine both
 * reach them (the pattern vendors' guides give for pinned staging memory). */
static clt_status cl_map(struct clt_mem *base, void **ptr)
{
    struct clt_cl_mem *mem = base->impl;
    struct clt_cl_device *dev = clt_cl_device_of(base->dev);
    *ptr = NULL;
    if (base->tier != CLT_TIER_HOST_PINNED)
        return clt_fail(CLT_ERR_INVALID_ARG, "%s: only HOST_PINNED memory maps for the CPU, "
                        "not %s", dev->label, clt_tier_name(base->tier));
    if (!mem->mapped) {
        cl_int err = CL_SUCCESS;
        void *p = clEnqueueMapBuffer(dev->queue, mem->buffer, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE,
                                     0, base->size, 0, NULL, NULL, &err);
        if (!p || err != CL_SUCCESS)
            return clt_cl_fail(dev, err, CLT_ERR_TRANSFER, "clEnqueueMapBuffer(HOST_PINNED, %zu bytes)",
                               base->size);
        mem->mapped = p;
    }
    *ptr = mem->mapped;
    return CLT_OK;
}

/* ---- events ------------------------------------------------------------------------- */

/* The status of a finished (or failed) event. */
static clt_status event_status(struct clt_cl_device *dev, cl_event event, const char *what,
                               clt_status otherwise)
{
    cl_int err = clWaitForEvents(1, &event);
    cl_int exec = CL_COMPLETE;
    cl_int info_err = clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof exec,
                                     &exec, NULL);
    if (info_err == CL_SUCCESS && exec < 0)
        return clt_cl_fail(dev, exec, otherwise, "%s (execution)", what);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, otherwise, "clWaitForEvents(%s)", what);
    if (info_err != CL_SUCCESS)
        return clt_cl_fail(dev, info_err, otherwise, "clGetEventInfo(%s)", what);
    return CLT_OK;
}

/* Finishes an enqueued command: with ev NULL, waits for it here; otherwise hands the
 * caller an event. Takes ownership of `event` either way. `failure` is the status a
 * failed execution reports (CLT_ERR_TRANSFER for copies, CLT_ERR_LAUNCH for kernels). */
static clt_status complete(struct clt_cl_device *dev, cl_event event, const char *what,
                           clt_status failure, struct clt_dev_event **ev)
{
    if (!ev) {
        clt_status status = event_status(dev, event, what, failure);
        clReleaseEvent(event);
        return status;
    }
    struct clt_cl_event *wrapped = malloc(sizeof *wrapped);
    if (!wrapped) {
        /* Nothing can be handed out, so finish the work before reporting. */
        clt_status status = event_status(dev, event, what, failure);
        clReleaseEvent(event);
        if (status != CLT_OK)
            return status;
        *ev = NULL;
        return CLT_OK;
    }
    wrapped->dev = dev;
    wrapped->event = event;
    wrapped->what = what;
    wrapped->failure = failure;
    *ev = (struct clt_dev_event *)wrapped;
    return CLT_OK;
}

static clt_status cl_event_wait(struct clt_dev_event *ev)
{
    struct clt_cl_event *e = (struct clt_cl_event *)ev;
    return event_status(e->dev, e->event, e->what, e->failure);
}

static void cl_event_release(struct clt_dev_event *ev)
{
    struct clt_cl_event *e = (struct clt_cl_event *)ev;
    if (!e)
        return;
    clReleaseEvent(e->event);
    free(e);
}

/* ---- transfers ---------------------------------------------------------------------- */

static clt_status cl_write(struct clt_mem *dst, size_t off, const void *src, size_t n,
                           struct clt_dev_event **ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(dst->dev);
    struct clt_cl_mem *mem = dst->impl;
    if (ev)
        *ev = NULL;
    cl_event event = NULL;
    cl_int err = clEnqueueWriteBuffer(dev->queue, mem->buffer, ev ? CL_FALSE : CL_TRUE, off,
                                      n, src, 0, NULL, &event);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER,
                           "clEnqueueWriteBuffer(%zu bytes at offset %zu)", n, off);
    return complete(dev, event, "clEnqueueWriteBuffer", CLT_ERR_TRANSFER, ev);
}

static clt_status cl_read(struct clt_mem *src, size_t off, void *dst, size_t n,
                          struct clt_dev_event **ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(src->dev);
    struct clt_cl_mem *mem = src->impl;
    if (ev)
        *ev = NULL;
    cl_event event = NULL;
    cl_int err = clEnqueueReadBuffer(dev->queue, mem->buffer, ev ? CL_FALSE : CL_TRUE, off, n,
                                     dst, 0, NULL, &event);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER,
                           "clEnqueueReadBuffer(%zu bytes at offset %zu)", n, off);
    return complete(dev, event, "clEnqueueReadBuffer", CLT_ERR_TRANSFER, ev);
}

static clt_status cl_copy(struct clt_mem *dst, size_t dst_off, struct clt_mem *src,
                          size_t src_off, size_t n, struct clt_dev_event **ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(dst->dev);
    struct clt_cl_mem *to = dst->impl, *from = src->impl;
    if (ev)
        *ev = NULL;
    cl_event event = NULL;
    cl_int err = clEnqueueCopyBuffer(dev->queue, from->buffer, to->buffer, src_off, dst_off, n,
                                     0, NULL, &event);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER,
                           "clEnqueueCopyBuffer(%zu bytes, offset %zu to %zu)", n, src_off,
                           dst_off);
    return complete(dev, event, "clEnqueueCopyBuffer", CLT_ERR_TRANSFER, ev);
}

/* A transfer on the side queue: it waits for a marker of everything the main queue
 * holds so far (and, the side queue being in order, for earlier side transfers), and
 * the main queue's later work does not wait for it. Both queues are flushed so the
 * marker and the transfer reach the device now, not at the next wait. */
static clt_status side_transfer(struct clt_mem *mem, size_t off, void *host, size_t n,
                                bool to_mem, struct clt_dev_event **ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(mem->dev);
    struct clt_cl_mem *m = mem->impl;
    const char *what = to_mem ? "clEnqueueWriteBuffer(side)" : "clEnqueueReadBuffer(side)";
    if (ev)
        *ev = NULL;
    cl_event marker = NULL, event = NULL;
    cl_int err = clEnqueueMarkerWithWaitList(dev->queue, 0, NULL, &marker);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER, "clEnqueueMarkerWithWaitList");
    clFlush(dev->queue);
    const cl_bool blocking = ev ? CL_FALSE : CL_TRUE;
    err = to_mem ? clEnqueueWriteBuffer(dev->side_queue, m->buffer, blocking, off, n, host, 1,
                                        &marker, &event)
                 : clEnqueueReadBuffer(dev->side_queue, m->buffer, blocking, off, n, host, 1,
                                       &marker, &event);
    clReleaseEvent(marker);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_TRANSFER, "%s (%zu bytes at offset %zu)", what, n,
                           off);
    clFlush(dev->side_queue);
    return complete(dev, event, what, CLT_ERR_TRANSFER, ev);
}

static clt_status cl_write_side(struct clt_mem *dst, size_t off, const void *src, size_t n,
                                struct clt_dev_event **ev)
{
    if (!clt_cl_device_of(dst->dev)->side_queue)
        return cl_write(dst, off, src, n, ev);
    /* the side queue only reads src; OpenCL's signature is not const-qualified per side */
    return side_transfer(dst, off, (void *)(uintptr_t)src, n, true, ev);
}

static clt_status cl_read_side(struct clt_mem *src, size_t off, void *dst, size_t n,
                               struct clt_dev_event **ev)
{
    if (!clt_cl_device_of(src->dev)->side_queue)
        return cl_read(src, off, dst, n, ev);
    return side_transfer(src, off, dst, n, false, ev);
}

static clt_status cl_order_after(struct clt_dev *base, struct clt_dev_event *ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    struct clt_cl_event *e = (struct clt_cl_event *)ev;
    cl_int err = clEnqueueBarrierWithWaitList(dev->queue, 1, &e->event, NULL);
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clEnqueueBarrierWithWaitList(%s)",
                           e->what);
    return CLT_OK;
}

/* ---- ops ---------------------------------------------------------------------------- */

static bool cl_supports(struct clt_dev *base, const clt_op *op)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    switch (clt_op_desc_of(op->kind)->family) {
    case CLT_FAMILY_GEMM: return clt_cl_gemm_supports(dev, &op->u.gemm);
    case CLT_FAMILY_ATTENTION: return clt_cl_attention_supports(dev, op);
    case CLT_FAMILY_ROWS: return clt_cl_rows_supports(dev, op);
    case CLT_FAMILY_ELEMENTWISE: return clt_cl_elementwise_supports(dev, op);
    case CLT_FAMILY_EMBEDDING: return clt_cl_embedding_supports(dev, op);
    case CLT_FAMILY_OPTIM: return clt_cl_optim_supports(dev, op);
    }
    return false;
}

static clt_status cl_run(struct clt_dev *base, const clt_op *op, struct clt_dev_event **ev)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    cl_event event = NULL;
    clt_status status = CLT_ERR_INTERNAL;
    if (ev)
        *ev = NULL;
    switch (clt_op_desc_of(op->kind)->family) {
    case CLT_FAMILY_GEMM: status = clt_cl_gemm_enqueue(dev, &op->u.gemm, &event); break;
    case CLT_FAMILY_ATTENTION: status = clt_cl_attention_enqueue(dev, op, &event); break;
    case CLT_FAMILY_ROWS: status = clt_cl_rows_enqueue(dev, op, &event); break;
    case CLT_FAMILY_ELEMENTWISE: status = clt_cl_elementwise_enqueue(dev, op, &event); break;
    case CLT_FAMILY_EMBEDDING: status = clt_cl_embedding_enqueue(dev, op, &event); break;
    case CLT_FAMILY_OPTIM: status = clt_cl_optim_enqueue(dev, op, &event); break;
    }
    if (status != CLT_OK)
        return status;
    return complete(dev, event, clt_op_name(op->kind), CLT_ERR_LAUNCH, ev);
}

/* How cl_run would carry the op out; resolves the device's GEMM parameters first (a
 * search or the tuning cache), as a first run does. */
static clt_status cl_describe(struct clt_dev *base, const clt_op *op, char *out, size_t size)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    struct clt_cl_gemm_params params;
    switch (op->kind) {
    case CLT_OP_GEMM: {
        clt_status status = clt_cl_gemm_params_get(dev, &params);
        if (status == CLT_OK)
            clt_cl_gemm_describe(dev, &op->u.gemm, &params, out, size);
        return status;
    }
    case CLT_OP_ATTENTION_FWD:
    case CLT_OP_ATTENTION_BWD:
        return clt_cl_attention_describe(dev, op, out, size);
    default:
        break;
    }
    snprintf(out, size, "opencl");
    return CLT_OK;
}

static clt_status cl_finish(struct clt_dev *base)
{
    struct clt_cl_device *dev = clt_cl_device_of(base);
    cl_int err = clFinish(dev->queue);
    cl_int side = dev->side_queue ? clFinish(dev->side_queue) : CL_SUCCESS;
    if (err != CL_SUCCESS)
        return clt_cl_fail(dev, err, CLT_ERR_LAUNCH, "clFinish");
    if (side != CL_SUCCESS)
        return clt_cl_fail(dev, side, CLT_ERR_TRANSFER, "clFinish(side queue)");
    return CLT_OK;
}

const struct clt_driver clt_opencl_driver = {
    .api_version = CLT_DRIVER_API_VERSION,
    .name = "opencl",
    .probe = cl_probe,
    .open = cl_open,
    .close = cl_close,
    .alloc = cl_alloc,
    .free = cl_free,
    .write = cl_write,
    .read = cl_read,
    .copy = cl_copy,
    .supports = cl_supports,
    .run = cl_run,
    .finish = cl_finish,
    .tune = clt_cl_tune,
    .describe = cl_describe,
    .event_wait = cl_event_wait,
    .event_release = cl_event_release,
    .write_side = cl_write_side,
    .read_side = cl_read_side,
    .order_after = cl_order_after,
    .map = cl_map,
    .wrap_host = cl_wrap_host,
};
