/* The DEVICE memory a run's ops take beyond the buffers cltrain allocates: the OpenCL
 * GEMM's packed panels (kept by the device and grown on demand), attention and
 * reduction workspaces, the q8 map table. A driver that cannot get its scratch inside
 * the DEVICE budget falls back to a slower kernel without failing, so a plan that left
 * no room for it would train many times slower without a word; cltrain measures the
 * scratch before step 1 and refuses a budget that cannot hold it.
 *
 * The measure: a one-layer copy of the model (every layer's ops have the same shapes)
 * runs the step's passes once in a probe context on the same device with no budget,
 * and the scratch is the context's peak DEVICE use minus the buffers it allocated. The
 * probe also runs the GEMM tuning search, if one is due, outside the run's budget.
 *
 * The optimizer's scratch counts too where it is the device's: a resident run's norm
 * and optimizer run after the passes (one peak over both); an offloaded run on the host
 * driver runs the engine's host optimizer (the host driver's optimizer ops, on the
 * device itself) beside the next passes, so its peak, measured in a second probe
 * context, adds to theirs. Offloaded on another device it counts against HOST. */
#ifndef CLTRAIN_SCRATCH_H
#define CLTRAIN_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

#include "gpt.h"
#include "optim.h"

/* What the step that is measured does. */
struct scratch_probe {
    const char *device;        /* the run's device, by name ("opencl:0") */
    struct gpt_config cfg;     /* the run's model; the probe keeps one layer */
    clt_dtype dtype;
    int batch;
    bool accumulate;           /* a second micro-batch adds to the gradients */
    bool offloaded;            /* the offload engine's host runs the norm and optimizer */
    enum optim_kind optimizer;
};

/* The peak DEVICE bytes of the ops' scratch during one step into *bytes. false with a
 * sentence in err when the probe cannot run (its context, model or pass failed). */
bool scratch_measure(const struct scratch_probe *p, uint64_t *bytes, char *err, size_t cap);

#endif
