/* cltrain's training loop end to end, in process: exact resume on both drivers and
 * both AdamW state formats, the loss falling on real text, and bad input refused with a
 * clear sentence and no checkpoint harmed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt.h"
#include "data.h"
#include "train.h"
#include "train_fixture.h"

#define MAX_STEPS 64

/* ---- helpers ----------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* English-like text the tests train on: varied enough that a model must learn, small
 * enough to make in the test. */
static const char *text_corpus(void)
{
    static char path[600];
    static const char *const words[] = {
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "a",
        "cat", "sat", "on", "mat", "while", "birds", "sing", "in", "trees", "of",
        "green", "summer", "light", "rain", "falls", "softly", "upon", "hills"};
    tmp_path("corpus.txt", path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    uint64_t x = 12345;
    for (int line = 0; line < 1200; line++) {
        const int n = 4 + (int)(line % 7);
        for (int w = 0; w < n; w++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            fprintf(f, "%s%s", w ? " " : "", words[(x >> 33) % 28]);
        }
        fputs(".\n", f);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static struct train_opts tiny_opts(const char *const *data, const char *device)
{
    struct train_opts o = {.data = data, .n_data = 1, .steps = 20, .batch = 2, .accum = 2,
                           .lr = 3e-3, .min_lr_frac = 0.1, .warmup = 3, .weight_decay = -1,
                           .clip = 1.0, .seed = 7, .optimizer = OPTIM_ADAMW,
                           .dtype = CLT_DTYPE_F32, .device = device, .eval_batches = 2,
                           .temperature = 0.8, .top_k = 40, .cfg_given = true};
    assert_true(gpt_config_preset("tiny", &o.cfg));
    o.cfg.ctx = 32;
    return o;
}

/* ---- exact resume ------------------------------------------------------------------ */

static void resume_is_exact(const char *device, enum optim_kind kind)
{
    char straight[600], split[600], m1[700], m2[700], text[8192], name[64];
    const char *data[] = {text_corpus()};
    snprintf(name, sizeof name, "straight-%s-%s", device, optim_kind_name(kind));
    tmp_path(name, straight, sizeof straight);
    snprintf(name, sizeof name, "split-%s-%s", device, optim_kind_name(kind));
    tmp_path(name, split, sizeof split);
    snprintf(m1, sizeof m1, "%s.jsonl", straight);
    snprintf(m2, sizeof m2, "%s.jsonl", split);
    unlink(m1);
    unlink(m2);

    struct train_opts o = tiny_opts(data, device);
    o.optimizer = kind;
    o.out = straight;
    o.metrics = m1;
    assert_int_equal(run_captured(&o, text, sizeof text), 0);

    o.out = split;
    o.metrics = m2;
    o.stop_at = 10;
    assert_int_equal(run_captured(&o, text, sizeof text), 0);
    o.stop_at = 0;
    o.resume = split;
    o.cfg_given = false;
    assert_int_equal(run_captured(&o, text, sizeof text), 0);

    double a[MAX_STEPS + 1] = {0}, b[MAX_STEPS + 1] = {0};
    assert_int_equal(read_losses(m1, a, MAX_STEPS), 20);
    assert_int_equal(read_losses(m2, b, MAX_STEPS), 20);
    for (int s = 1; s <= 20; s++)
        if (a[s] != b[s])
            fail_msg("%s %s: step %d loss %.9g straight, %.9g resumed", device,
                     optim_kind_name(kind), s, a[s], b[s]);
    const char *files[] = {"model.safetensors", "state.safetensors"};
    for (int f = 0; f < 2; f++) {
        char p1[700], p2[700];
        size_t n1 = 0, n2 = 0;
        snprintf(p1, sizeof p1, "%s/%s", straight, files[f]);
        snprintf(p2, sizeof p2, "%s/%s", split, files[f]);
        char *x = read_file(p1, &n1), *y = read_file(p2, &n2);
        assert_non_null(x);
        assert_non_null(y);
        if (f == 0) { /* the checkpoint ids differ by design; the tensors must not */
            assert_int_equal(n1, n2);
            uint64_t hlen = 0;
            memcpy(&hlen, x, 8);
            assert_memory_equal(x + 8 + hlen, y + 8 + hlen, n1 - 8 - hlen);
        }
        free(x);
        free(y);
    }
    /* and the loss fell: the last steps below the first */
    assert_true(a[20] < a[1]);
}

static void resume_host_adamw(void **s) { (void)s; resume_is_exact("host", OPTIM_ADAMW); }
static void resume_host_adamw8bit(void **s) { (void)s; resume_is_exact("host", OPTIM_ADAMW8BIT); }

static void resume_opencl(enum optim_kind kind)
{
    if (!have_opencl()) {
        print_message("no OpenCL device: skipped\n");
        return;
    }
    resume_is_exact("opencl:0", kind);
}
static void resume_opencl_adamw(void **s) { (void)s; resume_opencl(OPTIM_ADAMW); }
static void resume_opencl_adamw8bit(void **s) { (void)s; resume_opencl(OPTIM_ADAMW8BIT); }

/* ---- learning ---------------------------------------------------------------------- */

/* tiny on real text: the validation loss ends well below the uniform guess's ln 256 =
 * 5.55 nats and below where it started. Real text: Debian's fortunes when installed,
 * else the generated corpus. */
static void loss_falls_on_text(void **state)
{
    (void)state;
    char text[8192], metrics[600];
    const char *data[] = {text_corpus()};
    struct stat st;
    const bool fortunes = stat(DATA_DEFAULT_DIR, &st) == 0;
    struct train_opts o = tiny_opts(data, "host");
    o.n_data = fortunes ? 0 : 1;
    o.steps = 150;
    o.batch = 8;
    o.accum = 1;
    o.warmup = 10;
    o.eval_every = 150;
    o.eval_batches = 4;
    o.metrics = tmp_path("learn.jsonl", metrics, sizeof metrics);
    unlink(metrics);
    assert_int_equal(run_captured(&o, text, sizeof text), 0);
    const char *v = strstr(text, "validation loss ");
    assert_non_null(v);
    const double val = strtod(v + 16, NULL);
    print_message("%s: validation loss %.3f after 150 steps\n",
                  fortunes ? "fortunes" : "generated text", val);
    assert_true(val < 3.0); /* uniform is 5.55; bigram statistics alone reach ~3.3 */
}

/* Every optimizer and compute dtype trains: the loss of the last steps is below the
 * first's and finite, and f16 keeps a loss scale. */
static void optimizers_and_dtypes_train(void **state)
{
    (void)state;
    char text[8192], metrics[600];
    const char *data[] = {text_corpus()};
    const enum optim_kind kinds[] = {OPTIM_ADAMW, OPTIM_ADAMW8BIT, OPTIM_LAMB, OPTIM_SGD};
    const clt_dtype dtypes[] = {CLT_DTYPE_F32, CLT_DTYPE_BF16, CLT_DTYPE_F16};
    for (int k = 0; k < 4; k++)
        for (int d = 0; d < 3; d++) {
            if (k != 0 && d != 0 && k != 1)
                continue; /* every optimizer in f32; AdamW and 8-bit AdamW in every dtype */
            struct train_opts o = tiny_opts(data, "host");
            o.optimizer = kinds[k];
            o.dtype = dtypes[d];
            o.steps = 16;
            o.lr = kinds[k] == OPTIM_SGD ? 0.3 : 3e-3;
            o.metrics = tmp_path("kinds.jsonl", metrics, sizeof metrics);
            unlink(metrics);
            const int st = run_captured(&o, text, sizeof text);
            if (st != 0)
                fail_msg("%s/%d: exit %d\n%s", optim_kind_name(kinds[k]), (int)d, st, text);
            double l[MAX_STEPS + 1] = {0};
            assert_int_equal(read_losses(metrics, l, MAX_STEPS), 16);
            const double first = (l[1] + l[2]) / 2, last = (l[15] + l[16]) / 2;
            print_message("%-9s %s: loss %.3f -> %.3f\n", optim_kind_name(kinds[k]),
                          d == 0 ? "f32" : d == 1 ? "bf16" : "f16", first, last);
            if (!(isfinite(last) && last < first - 0.1))
                fail_msg("%s dtype %d: loss %.4f -> %.4f", optim_kind_name(kinds[k]), (int)d,
                         first, last);
        }
}

/* ---- bad input --------------------------------------------------------------------- */

static void expect_error(const struct train_opts *o, const char *needle)
{
    char text[8192];
    const int status = run_captured(o, text, sizeof text);
    if (status != 1 || !strstr(text, needle))
        fail_msg("expected exit 1 and \"%s\"; got %d and:\n%s", needle, status, text);
}

static void bad_data_is_refused(void **state)
{
    (void)state;
    char missing[600], empty[600], binary[600];
    tmp_path("missing.txt", missing, sizeof missing);
    unlink(missing);
    write_file(tmp_path("empty.txt", empty, sizeof empty), "", 0);
    write_file(tmp_path("binary.bin", binary, sizeof binary), "abc\0def\xff", 8);
    const char *d1[] = {missing}, *d2[] = {empty}, *d3[] = {binary};
    struct train_opts o = tiny_opts(d1, "host");
    expect_error(&o, "missing.txt");
    o.data = d2;
    expect_error(&o, "empty.txt");
    o.data = d3;
    expect_error(&o, "binary.bin");
    /* a context longer than the data */
    char small[600];
    write_file(tmp_path("small.txt", small, sizeof small), "just a few words\n", 17);
    const char *d4[] = {small};
    o.data = d4;
    expect_error(&o, "small.txt");
}

static void bad_checkpoints_are_refused(void **state)
{
    (void)state;
    char dir[600], other[600], text[8192], model[700];
    const char *data[] = {text_corpus()};
    struct train_opts o = tiny_opts(data, "host");
    o.steps = 4;
    o.out = tmp_path("good-ckpt", dir, sizeof dir);
    assert_int_equal(run_captured(&o, text, sizeof text), 0);

    /* another shape on --resume */
    struct train_opts r = tiny_opts(data, "host");
    r.steps = 8;
    r.resume = dir;
    r.cfg.layers = 3;
    expect_error(&r, "layers");

    /* a different optimizer */
    r = tiny_opts(data, "host");
    r.steps = 8;
    r.resume = dir;
    r.cfg_given = false;
    r.optimizer = OPTIM_SGD;
    expect_error(&r, "optimizer");

    /* truncated and corrupt model files */
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    size_t n = 0;
    char *bytes = read_file(model, &n);
    assert_non_null(bytes);
    tmp_path("bad-ckpt", other, sizeof other);
    mkdir(other, 0777);
    char path[700];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    size_t sn = 0;
    char *state_bytes = read_file(path, &sn);
    snprintf(path, sizeof path, "%s/state.safetensors", other);
    write_file(path, state_bytes, sn);
    snprintf(path, sizeof path, "%s/model.safetensors", other);
    write_file(path, bytes, n / 2);
    r.optimizer = OPTIM_ADAMW;
    r.resume = other;
    expect_error(&r, "model.safetensors");
    bytes[12] ^= 0x5a; /* inside the JSON header */
    write_file(path, bytes, n);
    expect_error(&r, "model.safetensors");
    free(bytes);
    free(state_bytes);
}

/* An --out that cannot be written fails before the first step; a save that fails on
 * a full disk (a file-size limit stands in for it) leaves the previous checkpoint. */
static void unwritable_and_full_disk(void **state)
{
    (void)state;
    char dir[600], text[8192], file[600];
    const char *data[] = {text_corpus()};
    struct train_opts o = tiny_opts(data, "host");
    o.steps = 3;
    write_file(tmp_path("a-file", file, sizeof file), "x", 1);
    char under_file[700];
    snprintf(under_file, sizeof under_file, "%s/ckpt", file);
    o.out = under_file;
    expect_error(&o, "--out");

    o.out = tmp_path("full-ckpt", dir, sizeof dir);
    assert_int_equal(run_captured(&o, text, sizeof text), 0);
    char model[700];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    size_t before_n = 0;
    char *before = read_file(model, &before_n);
    assert_non_null(before);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
        struct rlimit lim = {.rlim_cur = 64 * 1024, .rlim_max = 64 * 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        struct train_opts c = o;
        c.steps = 6;
        c.resume = dir;
        c.cfg_given = false;
        char t[8192];
        const int st = run_captured(&c, t, sizeof t);
        _exit(st == 1 && strstr(t, "checkpoint") ? 0 : 3);
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    size_t after_n = 0;
    char *after = read_file(model, &after_n);
    assert_non_null(after);
    assert_int_equal(after_n, before_n);
    assert_memory_equal(after, before, before_n);
    char err[512];
    struct gpt_config cfg;
    assert_true(ckpt_read_config(dir, &cfg, err, sizeof err));
    free(before);
    free(after);
}

static int setup(void **state)
{
    (void)state;
    return fixture_make_tmp("/tmp/cltrain-test-train");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resume_host_adamw),
        cmocka_unit_test(resume_host_adamw8bit),
        cmocka_unit_test(resume_opencl_adamw),
        cmocka_unit_test(resume_opencl_adamw8bit),
        cmocka_unit_test(loss_falls_on_text),
        cmocka_unit_test(optimizers_and_dtypes_train),
        cmocka_unit_test(bad_data_is_refused),
        cmocka_unit_test(bad_checkpoints_are_refused),
        cmocka_unit_test(unwritable_and_full_disk),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
