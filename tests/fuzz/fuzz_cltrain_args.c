/* Fuzzes cltrain's command line: tools/cltrain/main.c, compiled here with its main
 * renamed, so that every subcommand's option table, range checks and dispatch run as the
 * tool runs them. The input is argv[1..], NUL-separated (argv[0] is "cltrain").
 *
 * Where main.c would start work, the link (-Wl,--wrap, tests/fuzz/CMakeLists.txt) sends
 * the call here instead: train_run checks that the options it is handed keep the
 * promises main.c makes (every range it enforces, an optimizer, dtype and offload it
 * knows, a --nvme-dir with --offload nvme) and returns; plot_run returns; sample's
 * ckpt_read_config refuses, so no checkpoint is read from a path the fuzzer made up.
 * Checked as well: the exit status is 0, 1 or 2. */
#include <math.h>
#include <stdbool.h>

#include "fuzz_util.h"

int cltrain_main(int argc, char **argv);
#define main cltrain_main
#include "cltrain/main.c"
#undef main

#define MAX_ARGS 256

int __wrap_train_run(const struct train_opts *o);
int __wrap_plot_run(const char *metrics_path, const char *out_png);
bool __wrap_ckpt_read_config(const char *dir, struct gpt_config *cfg, char *err, size_t cap);

int __wrap_train_run(const struct train_opts *o)
{
    const struct gpt_config *c = &o->cfg;
    FUZZ_CHECK(c->layers >= 1 && c->layers <= 1024 && c->heads >= 1 && c->heads <= 1024 &&
                   c->dim >= 1 && c->dim <= 65536 && c->ctx >= 1 && c->ctx <= (1 << 20) &&
                   c->vocab >= 1,
               "shape %d %d %d %d %d", c->layers, c->heads, c->dim, c->ctx, c->vocab);
    FUZZ_CHECK(o->n_data >= 0 && o->n_data <= ARGS_LIST_MAX, "%d data paths", o->n_data);
    for (int i = 0; i < o->n_data; i++)
        FUZZ_CHECK(o->data[i] != NULL, "data path %d", i);
    FUZZ_CHECK(o->steps >= 1 && o->stop_at >= 0, "steps %lld, stop at %lld",
               (long long)o->steps, (long long)o->stop_at);
    FUZZ_CHECK(o->warmup >= -1 && o->warmup <= o->steps, "warmup %lld of %lld steps",
               (long long)o->warmup, (long long)o->steps);
    FUZZ_CHECK(o->batch >= 1 && o->batch <= (1 << 16) && o->accum >= 1 &&
                   o->accum <= (1 << 16),
               "batch %d accum %d", o->batch, o->accum);
    FUZZ_CHECK(o->lr > 0 && isfinite(o->lr) && o->min_lr_frac >= 0 && o->min_lr_frac <= 1 &&
                   o->clip >= 0 && isfinite(o->clip) && o->temperature > 0 &&
                   isfinite(o->temperature) && isfinite(o->weight_decay),
               "lr %g min %g clip %g temperature %g", o->lr, o->min_lr_frac, o->clip,
               o->temperature);
    FUZZ_CHECK(o->eval_every >= 0 && o->eval_batches >= 1 && o->ckpt_every >= 0 &&
                   o->log_every >= 0 && o->sample_tokens >= 0 && o->top_k >= 0,
               "a negative count");
    FUZZ_CHECK(o->optimizer == OPTIM_ADAMW || o->optimizer == OPTIM_ADAMW8BIT ||
                   o->optimizer == OPTIM_LAMB || o->optimizer == OPTIM_SGD,
               "optimizer %d", (int)o->optimizer);
    FUZZ_CHECK(o->dtype == CLT_DTYPE_F32 || o->dtype == CLT_DTYPE_BF16 ||
                   o->dtype == CLT_DTYPE_F16,
               "dtype %d", (int)o->dtype);
    FUZZ_CHECK(o->offload == OFFLOAD_NONE || o->offload == OFFLOAD_HOST ||
                   o->offload == OFFLOAD_NVME,
               "offload %d", (int)o->offload);
    FUZZ_CHECK(o->offload != OFFLOAD_NVME || o->nvme_dir != NULL, "nvme without a dir");
    FUZZ_CHECK(o->cfg_given || o->resume != NULL, "no shape and nothing to resume");
    return 0;
}

int __wrap_plot_run(const char *metrics_path, const char *out_png)
{
    FUZZ_CHECK(metrics_path && out_png, "plot without a file");
    return 0;
}

bool __wrap_ckpt_read_config(const char *dir, struct gpt_config *cfg, char *err, size_t cap)
{
    (void)cfg;
    FUZZ_CHECK(dir != NULL, "sample without --ckpt");
    snprintf(err, cap, "fuzzing: checkpoints are not read");
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cmdline c;
    fuzz_cmdline_init(&c, "cltrain", data, size, MAX_ARGS);
    int rc = cltrain_main(c.argc, c.argv);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2, "exit status %d", rc);
    fuzz_cmdline_free(&c);
    return 0;
}
