/* Events' insides: a driver event, or an already-finished result. */
#ifndef CLT_RUNTIME_EVENT_H
#define CLT_RUNTIME_EVENT_H

#include "runtime/driver.h"

struct clt_event {
    clt_context *ctx;
    const struct clt_driver *driver;
    struct clt_dev_event *impl;  /* NULL: finished, with status below */
    clt_status status;
    struct clt_event *prev, *next;  /* the context's list */
};

/* Hands the caller an event for work the driver may still be doing. If `done` is NULL
 * the work is waited for here (and `impl` released); if impl is NULL a finished event
 * is made. Returns the work's status, or CLT_ERR_OUT_OF_MEMORY if no event could be
 * allocated (after waiting for the work, so nothing is left running unseen). */
clt_status clt_event_hand_out(clt_context *ctx, const struct clt_driver *driver,
                              struct clt_dev_event *impl, clt_event **done);

/* Work submitted to ev's device after this call starts after ev has completed (for
 * side transfers, driver.h); returns at once. A NULL or finished event, or a driver
 * whose work all keeps submission order: nothing to do. */
clt_status clt_event_order_after(clt_event *ev);

#endif
