/* The driver registry: one list, one #ifdef block a driver, the host driver last. It is
 * const: the library's only state outside a context is the thread-local error text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/registry.h"

static const struct clt_driver *const drivers[] = {
#ifdef CLT_WITH_OPENCL
    &clt_opencl_driver,
#endif
    &clt_host_driver,
};

#define DRIVER_COUNT ((int)(sizeof drivers / sizeof drivers[0]))

int clt_registry_count(void) { return DRIVER_COUNT; }

const struct clt_driver *clt_registry_get(int i)
{
    return i >= 0 && i < DRIVER_COUNT ? drivers[i] : NULL;
}

clt_status clt_driver_check(const struct clt_driver *d)
{
    if (!d)
        return clt_fail(CLT_ERR_INVALID_ARG, "driver table is NULL");
    const char *name = d->name ? d->name : "(unnamed)";
    if (d->api_version != CLT_DRIVER_API_VERSION)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "driver '%s' was built for driver API version %d, this runtime "
                        "speaks version %d",
                        name, d->api_version, CLT_DRIVER_API_VERSION);
    const char *missing = !d->name       ? "name"
                          : !d->probe    ? "probe"
                          : !d->open     ? "open"
                          : !d->close    ? "close"
                          : !d->alloc    ? "alloc"
                          : !d->free     ? "free"
                          : !d->write    ? "write"
                          : !d->read     ? "read"
                          : !d->copy     ? "copy"
                          : !d->supports ? "supports"
                          : !d->run      ? "run"
                          : !d->finish   ? "finish"
                                         : NULL;
    if (missing)
        return clt_fail(CLT_ERR_UNSUPPORTED, "driver '%s' lacks the required entry '%s'", name,
                        missing);
    if (!d->event_wait != !d->event_release)
        return clt_fail(CLT_ERR_UNSUPPORTED,
                        "driver '%s' sets only one of event_wait and event_release", name);
    return CLT_OK;
}

void clt_registry_fill_identity(clt_device_info *info, const struct clt_driver *d, int index)
{
    info->index = index;
    snprintf(info->driver, sizeof info->driver, "%s", d->name);
    if (strcmp(d->name, "host") == 0)
        snprintf(info->name, sizeof info->name, "host");
    else
        snprintf(info->name, sizeof info->name, "%s:%d", d->name, index);
}

clt_status clt_device_list(clt_device_info *out, int max, int *count)
{
    if (!count)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_device_list: count is NULL");
    if (max < 0 || (max > 0 && !out))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_device_list: out is NULL or max < 0");
    int total = 0;
    for (int i = 0; i < DRIVER_COUNT; i++) {
        const struct clt_driver *d = drivers[i];
        if (clt_driver_check(d) != CLT_OK)
            continue;
        int room = total < max ? max - total : 0;
        int n = 0;
        if (d->probe(room ? out + total : NULL, room, &n) != CLT_OK)
            continue;
        for (int k = 0; k < n && total + k < max; k++)
            clt_registry_fill_identity(&out[total + k], d, k);
        total += n;
    }
    *count = total;
    return CLT_OK;
}

/* Lists every device into `text`, for the error that says a name was not found. */
static void describe_devices(char *text, size_t size)
{
    clt_device_info infos[64];
    int n = 0;
    text[0] = '\0';
    if (clt_device_list(infos, 64, &n) != CLT_OK)
        return;
    size_t used = 0;
    for (int i = 0; i < n && i < 64 && used < size; i++) {
        int w = snprintf(text + used, size - used, "%s%s (%s)", i ? ", " : "",
                         infos[i].name, infos[i].device_name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static clt_status not_found(const char *name, const char *why)
{
    char devices[2048];
    describe_devices(devices, sizeof devices);
    return clt_fail(CLT_ERR_NO_DEVICE, "device '%s' %s; devices available: %s", name, why,
                    devices);
}

/* The default: the first GPU, else the first device that is not the host, else host. */
static clt_status resolve_default(const struct clt_driver **driver, int *index)
{
    clt_device_info infos[64];
    int n = 0;
    clt_status s = clt_device_list(infos, 64, &n);
    if (s != CLT_OK)
        return s;
    int pick = -1;
    for (int i = 0; i < n && i < 64 && pick < 0; i++)
        if (infos[i].type == CLT_DEVICE_TYPE_GPU)
            pick = i;
    for (int i = 0; i < n && i < 64 && pick < 0; i++)
        if (infos[i].type != CLT_DEVICE_TYPE_HOST)
            pick = i;
    if (pick < 0) {
        *driver = &clt_host_driver;
        *index = 0;
        return CLT_OK;
    }
    for (int i = 0; i < DRIVER_COUNT; i++) {
        if (strcmp(drivers[i]->name, infos[pick].driver) == 0) {
            *driver = drivers[i];
            *index = infos[pick].index;
            return CLT_OK;
        }
    }
    return clt_fail(CLT_ERR_INTERNAL, "device '%s' has no driver", infos[pick].name);
}

clt_status clt_registry_resolve(const char *name, const struct clt_driver **driver,
                                int *index)
{
    if (!name || !*name)
        return resolve_default(driver, index);

    /* "driver" or "driver:index" */
    const char *colon = strchr(name, ':');
    size_t driver_len = colon ? (size_t)(colon - name) : strlen(name);
    long wanted = 0;
    if (colon) {
        char *end;
        errno = 0;
        wanted = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || errno || wanted < 0 || wanted > 1 << 20)
            return not_found(name, "is not of the form driver:index");
    }
    for (int i = 0; i < DRIVER_COUNT; i++) {
        const struct clt_driver *d = drivers[i];
        if (strlen(d->name) != driver_len || strncmp(d->name, name, driver_len) != 0)
            continue;
        clt_status s = clt_driver_check(d);
        if (s != CLT_OK)
            return s;
        int n = 0;
        s = d->probe(NULL, 0, &n);
        if (s != CLT_OK)
            return clt_fail_prefix(CLT_ERR_NO_DEVICE, "device '%s': driver probe failed", name);
        if (wanted >= n)
            return not_found(name, n ? "does not exist" : "does not exist (the driver found no devices)");
        *driver = d;
        *index = (int)wanted;
        return CLT_OK;
    }
    return not_found(name, "names no driver");
}
