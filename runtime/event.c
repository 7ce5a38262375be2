/* Events: the caller's handle on work a driver may still be doing. */
#include <stdlib.h>

#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/event.h"

clt_status clt_event_hand_out(clt_context *ctx, const struct clt_driver *driver,
                              struct clt_dev_event *impl, clt_event **done)
{
    if (done)
        *done = NULL;
    if (!impl)
        return CLT_OK;
    clt_event *ev = done ? calloc(1, sizeof *ev) : NULL;
    if (!ev) {
        clt_status s = driver->event_wait(impl);
        driver->event_release(impl);
        if (s != CLT_OK || !done)
            return s;
        return clt_fail(CLT_ERR_OUT_OF_MEMORY,
                        "no host memory for an event (the work itself finished)");
    }
    ev->ctx = ctx;
    ev->driver = driver;
    ev->impl = impl;
    ev->status = CLT_OK;
    pthread_mutex_lock(&ctx->lock);
    ev->next = ctx->events;
    if (ctx->events)
        ctx->events->prev = ev;
    ctx->events = ev;
    pthread_mutex_unlock(&ctx->lock);
    *done = ev;
    return CLT_OK;
}

clt_status clt_event_wait(clt_event *ev)
{
    if (!ev)
        return CLT_OK; /* a NULL event stands for work that had already finished */
    if (ev->impl) {
        ev->status = ev->driver->event_wait(ev->impl);
        ev->driver->event_release(ev->impl);
        ev->impl = NULL;
    }
    return ev->status;
}

void clt_event_destroy(clt_event *ev)
{
    if (!ev)
        return;
    clt_context *ctx = ev->ctx;
    pthread_mutex_lock(&ctx->lock);
    if (ev->prev)
        ev->prev->next = ev->next;
    else
        ctx->events = ev->next;
    if (ev->next)
        ev->next->prev = ev->prev;
    pthread_mutex_unlock(&ctx->lock);
    if (ev->impl)
        ev->driver->event_release(ev->impl);
    free(ev);
}

clt_status clt_event_order_after(clt_event *ev)
{
    if (!ev || !ev->impl || !ev->driver->order_after)
        return CLT_OK;
    return ev->driver->order_after(ev->ctx->dev, ev->impl);
}
