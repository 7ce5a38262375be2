/* The list of drivers, and resolving a device name to a driver and index. */
#ifndef CLT_RUNTIME_REGISTRY_H
#define CLT_RUNTIME_REGISTRY_H

#include "runtime/driver.h"

extern const struct clt_driver clt_host_driver;
#ifdef CLT_WITH_OPENCL
extern const struct clt_driver clt_opencl_driver;
#endif

int clt_registry_count(void);
const struct clt_driver *clt_registry_get(int i);

/* Checks a table before use: the API version and that the required entries are set. */
clt_status clt_driver_check(const struct clt_driver *driver);

/* Sets the fields the runtime owns in a probed device's info: name ("opencl:0",
 * "host"), driver and index. */
void clt_registry_fill_identity(clt_device_info *info, const struct clt_driver *driver,
                                int index);

/* Resolves "driver:index", "driver" (index 0) or NULL/"" (the default choice: first GPU,
 * else any non-host device, else host) to a driver and index. CLT_ERR_NO_DEVICE, with
 * the devices that exist listed, if there is no such device. */
clt_status clt_registry_resolve(const char *name, const struct clt_driver **driver,
                                int *index);

#endif
