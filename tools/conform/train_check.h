/* The training check: cltrain's `tiny` GPT-2 (tools/cltrain's model and optimizer,
 * through the public API) trained for a few AdamW steps on the device and on the host
 * driver from the same weights and the same batches; the device's losses must follow
 * the host's within a stated tolerance. It catches what single ops at fixed shapes can
 * miss: ops composed, buffers reused across steps, state carried between steps. */
#ifndef CLT_CONFORM_TRAIN_CHECK_H
#define CLT_CONFORM_TRAIN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <clt/clt.h>

/* Losses of step 1 (before any update) must agree to TRAIN_TOL_FIRST, relative; the
 * loss of the last step to TRAIN_TOL_LAST (rounding differences grow through the
 * updates, but a wrong gradient or optimizer step moves the loss far more). */
#define TRAIN_TOL_FIRST 1e-4
#define TRAIN_TOL_LAST 2e-3
#define TRAIN_MAX_STEPS 100

typedef struct train_result {
    bool pass;
    int steps;
    double first_device, first_host; /* loss of step 1 */
    double last_device, last_host;   /* loss of the last step */
    double seconds;                  /* on the device */
    char message[1024];              /* why it failed; "" when it passed */
} train_result;

/* Trains on `device` and on the host (tune mode as the tool's contexts use). */
void train_check(const char *device, int steps, clt_tune_mode tune, train_result *out);

#endif
