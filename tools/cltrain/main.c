/* cltrain: train a GPT-2 on text with clt, sample from it, plot its loss.
 *
 *   cltrain [train] [--model tiny|small|gpt2] [--layers N --heads N --dim N --ctx N] ...
 *   cltrain sample --ckpt DIR [--tokens N] [--temperature X] [--top-k K] [--prompt TEXT]
 *   cltrain plot METRICS.jsonl [-o loss.png]
 *   mpirun -np N cltrain [train] ... [--shard] [--allreduce f32|bf16]: data parallel
 *
 * A multi-rank launch of a build without MPI is refused (exit 1) before anything runs.
 * Exit status: 0 done, 1 an error (said on stderr), 2 a usage error, 130 stopped by a
 * signal after saving. Only the public API is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "common/args.h"
#include "dist.h"
#include "gpt.h"
#include "plot.h"
#include "rng.h"
#include "sample.h"
#include "train.h"

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cltrain [train] [options]     train a GPT-2 on text (the default)\n"
            "       cltrain sample --ckpt DIR [options]\n"
            "       cltrain plot METRICS.jsonl [-o loss.png]\n"
            "Run `cltrain train --help`, `cltrain sample --help` or `cltrain plot --help` "
            "for the options.\n");
}

/* An int flag in [lo, hi], else a usage error naming it. */
static bool in_range(const char *flag, int64_t v, int64_t lo, int64_t hi)
{
    if (v >= lo && v <= hi)
        return true;
    fprintf(stderr, "cltrain: %s %lld: must be in %lld..%lld\n", flag, (long long)v,
            (long long)lo, (long long)hi);
    return false;
}

static bool parse_dtype(const char *name, clt_dtype *out)
{
    if (strcmp(name, "f32") == 0)
        *out = CLT_DTYPE_F32;
    else if (strcmp(name, "bf16") == 0)
        *out = CLT_DTYPE_BF16;
    else if (strcmp(name, "f16") == 0)
        *out = CLT_DTYPE_F16;
    else
        return false;
    return true;
}

static int cmd_train(int argc, char **argv)
{
    const char *model = NULL, *optimizer = "adamw", *dtype = "f32", *device = NULL;
    const char *out = NULL, *resume = NULL, *metrics = NULL;
    const char *offload = "none", *device_mem = NULL, *host_mem = NULL, *nvme_dir = NULL;
    const char *comm = "auto", *allreduce = "f32";
    int64_t bucket_mb = 25;
    double comm_timeout = 0;
    bool shard = false;
    int64_t layers = 0, heads = 0, dim = 0, ctx = 0, steps = 1000, stop_at = 0, batch = 8;
    int64_t accum = 1, seed = 1337, warmup = -1, eval_every = 0, eval_batches = 8;
    int64_t ckpt_every = 0, log_every = 0, sample = 0, top_k = 40;
    double lr = 1e-3, min_lr = 0.1, weight_decay = -1, clip = 1.0, temperature = 0.8;
    bool help = false;
    args_list data = {0};
    const args_option opts[] = {
        {"--model", ARGS_STRING, &model, "NAME", "tiny, small (default) or gpt2: a preset shape"},
        {"--layers", ARGS_INT, &layers, "N", "transformer blocks (overrides the preset)"},
        {"--heads", ARGS_INT, &heads, "N", "attention heads; dim/heads must be 32, 64, 80, 96 or 128"},
        {"--dim", ARGS_INT, &dim, "N", "embedding width"},
        {"--ctx", ARGS_INT, &ctx, "N", "context length in tokens (bytes)"},
        {"--data", ARGS_LIST, &data, "PATH", "UTF-8 text file or directory (repeatable); default: Debian's fortunes"},
        {"--steps", ARGS_INT, &steps, "N", "total optimizer steps, also across --resume (1000)"},
        {"--stop-at", ARGS_INT, &stop_at, "STEP", "stop after this step, keeping the schedule of --steps"},
        {"--batch", ARGS_INT, &batch, "N", "sequences per micro-batch (8)"},
        {"--accum", ARGS_INT, &accum, "N", "micro-batches per step: gradient accumulation (1)"},
        {"--lr", ARGS_DOUBLE, &lr, "X", "peak learning rate (1e-3)"},
        {"--min-lr", ARGS_DOUBLE, &min_lr, "F", "final learning rate as a fraction of --lr (0.1)"},
        {"--warmup", ARGS_INT, &warmup, "N", "linear warmup steps (min(100, steps/10))"},
        {"--weight-decay", ARGS_DOUBLE, &weight_decay, "X", "decoupled weight decay (adamw/lamb 0.1, sgd 0)"},
        {"--clip", ARGS_DOUBLE, &clip, "X", "global gradient-norm bound, 0 for none (1.0)"},
        {"--optimizer", ARGS_STRING, &optimizer, "NAME", "adamw (default), adamw8bit, lamb or sgd"},
        {"--dtype", ARGS_STRING, &dtype, "T", "compute dtype: f32 (default), bf16, f16 (loss scaling)"},
        {"--device", ARGS_STRING, &device, "D", "device (see clt-info); default: clt's choice. A comma list under mpirun: each rank takes entry local_rank % count"},
        {"--seed", ARGS_INT, &seed, "N", "seed of the weights and the data order (1337)"},
        {"--offload", ARGS_STRING, &offload, "WHERE", "none (default), host or nvme: master weights and optimizer state there, blocks streamed through the device"},
        {"--device-mem", ARGS_STRING, &device_mem, "SIZE", "device memory budget, e.g. 512M, holding the model, slots, activations and the ops' scratch (default: the device's)"},
        {"--host-mem", ARGS_STRING, &host_mem, "SIZE", "host memory budget (default: no limit)"},
        {"--nvme-dir", ARGS_STRING, &nvme_dir, "DIR", "directory of the NVMe tier's swap files (--offload nvme)"},
        {"--comm", ARGS_STRING, &comm, "HOW", "auto (default): MPI when a launcher such as mpirun started more than one rank; mpi: always; self: one rank through the data-parallel path, without MPI"},
        {"--allreduce", ARGS_STRING, &allreduce, "T", "gradients on the wire between ranks: f32 (default) or bf16"},
        {"--shard", ARGS_FLAG, &shard, NULL, "split the optimizer state over the ranks (ZeRO stage 1)"},
        {"--bucket-mb", ARGS_INT, &bucket_mb, "N", "MiB of gradients per all-reduce bucket (25)"},
        {"--comm-timeout", ARGS_DOUBLE, &comm_timeout, "S", "seconds a collective may wait for the other ranks before the run fails (default: $CLT_COMM_TIMEOUT, else 600)"},
        {"--out", ARGS_STRING, &out, "DIR", "checkpoint directory (model + state safetensors)"},
        {"--resume", ARGS_STRING, &resume, "DIR", "continue bit-identically from a checkpoint (of any --offload mode)"},
        {"--ckpt-every", ARGS_INT, &ckpt_every, "N", "also checkpoint every N steps (0: at the end)"},
        {"--metrics", ARGS_STRING, &metrics, "FILE", "append JSON Lines metrics to FILE"},
        {"--eval-every", ARGS_INT, &eval_every, "N", "validation loss every N steps (0: at the end)"},
        {"--eval-batches", ARGS_INT, &eval_batches, "N", "micro-batches per validation (8)"},
        {"--log-every", ARGS_INT, &log_every, "N", "a log line every N steps when not on a terminal"},
        {"--sample", ARGS_INT, &sample, "N", "generate N bytes of text at the end"},
        {"--temperature", ARGS_DOUBLE, &temperature, "X", "sampling temperature (0.8)"},
        {"--top-k", ARGS_INT, &top_k, "K", "sample among the K likeliest bytes, 0 for all (40)"},
        {"--help", ARGS_FLAG, &help, NULL, "show this help and exit"},
    };
    if (args_parse("cltrain train", opts, ARRAY_LEN(opts), argc, argv, NULL) != ARGS_OK) {
        fprintf(stderr, "run `cltrain train --help` for the options\n");
        return 2;
    }
    if (help) {
        printf("usage: cltrain [train] [options]\nTrains a GPT-2 (byte tokens) with clt and "
               "prints its progress, a summary and, with --sample, generated text.\n\n");
        args_print_options(opts, ARRAY_LEN(opts), stdout);
        return 0;
    }
    /* mpirun -np N of a build without MPI would run N independent copies */
    char why[512];
    if (dist_launch_refused(clt_comm_launch_size(), clt_comm_has_mpi(), why, sizeof why)) {
        fprintf(stderr, "cltrain: %s\n", why);
        return 1;
    }
    struct train_opts o = {.data = data.items, .n_data = data.count};
    o.cfg_given = model || layers || heads || dim || ctx || !resume;
    if (!gpt_config_preset(model ? model : "small", &o.cfg)) {
        fprintf(stderr, "cltrain: --model %s: not a preset (tiny, small, gpt2)\n", model);
        return 2;
    }
    if (!in_range("--layers", layers, 0, 1024) || !in_range("--heads", heads, 0, 1024) ||
        !in_range("--dim", dim, 0, 65536) || !in_range("--ctx", ctx, 0, 1 << 20) ||
        !in_range("--steps", steps, 1, INT64_MAX / 2) ||
        !in_range("--stop-at", stop_at, 0, INT64_MAX / 2) ||
        !in_range("--batch", batch, 1, 1 << 16) || !in_range("--accum", accum, 1, 1 << 16) ||
        !in_range("--warmup", warmup, -1, INT64_MAX / 2) ||
        !in_range("--eval-every", eval_every, 0, INT64_MAX / 2) ||
        !in_range("--eval-batches", eval_batches, 1, 1 << 20) ||
        !in_range("--ckpt-every", ckpt_every, 0, INT64_MAX / 2) ||
        !in_range("--log-every", log_every, 0, INT64_MAX / 2) ||
        !in_range("--sample", sample, 0, 1 << 24) || !in_range("--top-k", top_k, 0, 1 << 20) ||
        !in_range("--bucket-mb", bucket_mb, 1, 1 << 20) ||
        !in_range("--seed", seed, 0, INT64_MAX))
        return 2;
    if (layers)
        o.cfg.layers = (int)layers;
    if (heads)
        o.cfg.heads = (int)heads;
    if (dim)
        o.cfg.dim = (int)dim;
    if (ctx)
        o.cfg.ctx = (int)ctx;
    if (!(lr > 0) || !(min_lr >= 0 && min_lr <= 1) || !(clip >= 0) || !(temperature > 0)) {
        fprintf(stderr, "cltrain: --lr must be > 0, --min-lr in [0, 1], --clip >= 0 and "
                        "--temperature > 0\n");
        return 2;
    }
    if (!optim_kind_parse(optimizer, &o.optimizer)) {
        fprintf(stderr, "cltrain: --optimizer %s: not one of adamw, adamw8bit, lamb, sgd\n",
                optimizer);
        return 2;
    }
    if (!parse_dtype(dtype, &o.dtype)) {
        fprintf(stderr, "cltrain: --dtype %s: not one of f32, bf16, f16\n", dtype);
        return 2;
    }
    if (strcmp(comm, "auto") == 0) {
        o.dist.mode = DIST_AUTO;
    } else if (strcmp(comm, "mpi") == 0) {
        o.dist.mode = DIST_MPI;
    } else if (strcmp(comm, "self") == 0) {
        o.dist.mode = DIST_SELF;
    } else {
        fprintf(stderr, "cltrain: --comm %s: not one of auto, mpi, self\n", comm);
        return 2;
    }
    if (!parse_dtype(allreduce, &o.dist.wire) || o.dist.wire == CLT_DTYPE_F16) {
        fprintf(stderr, "cltrain: --allreduce %s: not one of f32, bf16\n", allreduce);
        return 2;
    }
    if (!(comm_timeout >= 0)) {
        fprintf(stderr, "cltrain: --comm-timeout must be >= 0 seconds (0: the default)\n");
        return 2;
    }
    o.dist.shard = shard;
    o.dist.bucket_bytes = (size_t)bucket_mb << 20;
    o.dist.timeout_s = comm_timeout;
    if (strcmp(offload, "none") == 0) {
        o.offload = OFFLOAD_NONE;
    } else if (strcmp(offload, "host") == 0) {
        o.offload = OFFLOAD_HOST;
    } else if (strcmp(offload, "nvme") == 0) {
        o.offload = OFFLOAD_NVME;
    } else {
        fprintf(stderr, "cltrain: --offload %s: not one of none, host, nvme\n", offload);
        return 2;
    }
    const struct {
        const char *flag, *text;
        uint64_t *out;
    } sizes[] = {{"--device-mem", device_mem, &o.device_mem},
                 {"--host-mem", host_mem, &o.host_mem}};
    for (int i = 0; i < ARRAY_LEN(sizes); i++) {
        if (!sizes[i].text)
            continue;
        if (clt_parse_size(sizes[i].text, sizes[i].out) != CLT_OK) {
            fprintf(stderr, "cltrain: %s: %s\n", sizes[i].flag, clt_last_error());
            return 2;
        }
        if (*sizes[i].out == 0) {
            fprintf(stderr, "cltrain: %s %s: must be above 0\n", sizes[i].flag, sizes[i].text);
            return 2;
        }
    }
    if (o.offload != OFFLOAD_NONE && o.dist.wire == CLT_DTYPE_BF16) {
        fprintf(stderr, "cltrain: --allreduce bf16 with --offload %s: the offload engine "
                        "all-reduces each group in the compute dtype (--dtype bf16 sends "
                        "bf16)\n", offload);
        return 2;
    }
    if (o.offload == OFFLOAD_NVME && !nvme_dir) {
        fprintf(stderr, "cltrain: --offload nvme needs --nvme-dir DIR\n");
        return 2;
    }
    o.nvme_dir = nvme_dir;
    o.steps = steps;
    o.stop_at = stop_at;
    o.batch = (int)batch;
    o.accum = (int)accum;
    o.lr = lr;
    o.min_lr_frac = min_lr;
    o.warmup = warmup > steps ? steps : warmup;
    o.weight_decay = weight_decay;
    o.clip = clip;
    o.seed = (uint64_t)seed;
    o.device = device;
    o.out = out;
    o.resume = resume;
    o.metrics = metrics;
    o.eval_every = eval_every;
    o.eval_batches = (int)eval_batches;
    o.ckpt_every = ckpt_every;
    o.log_every = log_every;
    o.sample_tokens = (int)sample;
    o.temperature = temperature;
    o.top_k = (int)top_k;
    return train_run(&o);
}

static int cmd_sample(int argc, char **argv)
{
    const char *dir = NULL, *prompt = NULL, *device = NULL;
    int64_t tokens = 256, top_k = 40, seed = 1337;
    double temperature = 0.8;
    bool help = false;
    const args_option opts[] = {
        {"--ckpt", ARGS_STRING, &dir, "DIR", "checkpoint directory written by cltrain train --out"},
        {"--tokens", ARGS_INT, &tokens, "N", "bytes to generate (256)"},
        {"--temperature", ARGS_DOUBLE, &temperature, "X", "sampling temperature (0.8)"},
        {"--top-k", ARGS_INT, &top_k, "K", "sample among the K likeliest bytes, 0 for all (40)"},
        {"--prompt", ARGS_STRING, &prompt, "TEXT", "text to continue (default: a newline)"},
        {"--seed", ARGS_INT, &seed, "N", "sampling seed (1337)"},
        {"--device", ARGS_STRING, &device, "D", "device (see clt-info)"},
        {"--help", ARGS_FLAG, &help, NULL, "show this help and exit"},
    };
    if (args_parse("cltrain sample", opts, ARRAY_LEN(opts), argc, argv, NULL) != ARGS_OK) {
        fprintf(stderr, "run `cltrain sample --help` for the options\n");
        return 2;
    }
    if (help) {
        printf("usage: cltrain sample --ckpt DIR [options]\nGenerates text from a cltrain "
               "checkpoint; the text goes to stdout.\n\n");
        args_print_options(opts, ARRAY_LEN(opts), stdout);
        return 0;
    }
    if (!dir) {
        fprintf(stderr, "cltrain sample: --ckpt DIR is required\n");
        return 2;
    }
    if (!in_range("--tokens", tokens, 0, 1 << 24) || !in_range("--top-k", top_k, 0, 1 << 20) ||
        !in_range("--seed", seed, 0, INT64_MAX))
        return 2;
    if (!(temperature > 0)) {
        fprintf(stderr, "cltrain sample: --temperature must be > 0\n");
        return 2;
    }
    char err[1024];
    struct gpt_config cfg;
    clt_context *ctx = NULL;
    gpt_model *m = NULL;
    int status = 1;
    clt_context_opts copts;
    clt_context_opts_init(&copts);
    copts.device = device;
    if (!ckpt_read_config(dir, &cfg, err, sizeof err)) {
        fprintf(stderr, "cltrain sample: %s\n", err);
        goto done;
    }
    clt_status s = clt_context_create(&copts, &ctx);
    if (s == CLT_OK)
        s = gpt_create(ctx, &cfg, CLT_DTYPE_F32, 1, &m);
    if (s != CLT_OK) {
        fprintf(stderr, "cltrain sample: %s\n", clt_last_error());
        goto done;
    }
    if (!ckpt_load_model(ctx, dir, m, err, sizeof err)) {
        fprintf(stderr, "cltrain sample: %s\n", err);
        goto done;
    }
    struct rng rng;
    rng_seed(&rng, (uint64_t)seed);
    const struct sample_opts so = {.tokens = (int)tokens, .temperature = temperature,
                                   .top_k = (int)top_k, .prompt = prompt};
    s = sample_generate(m, &so, &rng, stdout);
    fputc('\n', stdout);
    if (s != CLT_OK) {
        fprintf(stderr, "cltrain sample: %s\n", gpt_error(m));
        goto done;
    }
    status = 0;
done:
    gpt_destroy(m);
    clt_context_destroy(ctx);
    return status;
}

static int cmd_plot(int argc, char **argv)
{
    const char *out = "loss.png";
    bool help = false;
    int n_pos = 0;
    const args_option opts[] = {
        {"-o", ARGS_STRING, &out, "FILE", "the PNG to write (loss.png)"},
        {"--help", ARGS_FLAG, &help, NULL, "show this help and exit"},
    };
    if (args_parse("cltrain plot", opts, ARRAY_LEN(opts), argc, argv, &n_pos) != ARGS_OK)
        return 2;
    if (help) {
        printf("usage: cltrain plot METRICS.jsonl [-o loss.png]\nDraws the train and "
               "validation loss of a --metrics file with gnuplot.\n\n");
        args_print_options(opts, ARRAY_LEN(opts), stdout);
        return 0;
    }
    if (n_pos != 1) {
        fprintf(stderr, "cltrain plot: give one metrics file\n");
        return 2;
    }
    return plot_run(argv[1], out);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && argv[1][0] != '-') {
        if (strcmp(argv[1], "train") == 0)
            return cmd_train(argc - 1, argv + 1);
        if (strcmp(argv[1], "sample") == 0)
            return cmd_sample(argc - 1, argv + 1);
        if (strcmp(argv[1], "plot") == 0)
            return cmd_plot(argc - 1, argv + 1);
        fprintf(stderr, "cltrain: unknown command \"%s\"\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return cmd_train(argc, argv);
}
