/* cltrain checkpoints across offload modes, and the NVMe tier failing under a run.
 *
 * On the host driver a run checkpointed with --offload none, host or nvme resumes with
 * any other mode and goes on bit for bit as the uninterrupted run did (losses, weights
 * and optimizer state), in f32 with AdamW and in bf16 with 8-bit AdamW. An NVMe tier
 * that fills up after a checkpoint (RLIMIT_FSIZE lowered in the run's after-step hook)
 * stops the run with an error naming the tier and the bytes, leaves that checkpoint
 * byte for byte as it was and loadable, and no swap file behind; a read-only NVMe
 * directory is refused before step 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt.h"
#include "optim.h"
#include "train.h"
#include "train_fixture.h"

#define MAX_STEPS 16
#define STEPS 8
#define SPLIT_AT 4

static const char *corpus(void)
{
    const char *path = fixture_corpus(7, 30000);
    assert_non_null(path);
    return path;
}

static char swap_dir[1024];

static struct train_opts base_opts(const char *const *data)
{
    struct train_opts o = {.data = data, .n_data = 1, .steps = STEPS, .batch = 2,
                           .accum = 2, .lr = 3e-3, .min_lr_frac = 0.1, .warmup = 2,
                           .weight_decay = -1, .clip = 1.0, .seed = 5,
                           .optimizer = OPTIM_ADAMW, .dtype = CLT_DTYPE_F32,
                           .device = "host", .eval_batches = 1, .temperature = 0.8,
                           .top_k = 40, .cfg_given = true, .nvme_dir = swap_dir};
    assert_true(gpt_config_preset("tiny", &o.cfg));
    o.cfg.ctx = 32;
    o.cfg.layers = 3;
    return o;
}

static const char *mode_name(enum train_offload m)
{
    return m == OFFLOAD_NONE ? "none" : m == OFFLOAD_HOST ? "host" : "nvme";
}

/* Runs o into tmp/<name> with metrics <name>.jsonl (appended: a resumed run continues
 * its file); fails the test on a non-zero exit. */
static void run_into(struct train_opts *o, const char *name)
{
    char dir[1024], metrics[1200], text[16384];
    tmp_path(name, dir, sizeof dir);
    snprintf(metrics, sizeof metrics, "%s.jsonl", dir);
    o->out = dir;
    o->metrics = metrics;
    const int status = run_captured(o, text, sizeof text);
    if (status != 0)
        fail_msg("%s (--offload %s%s): exit %d:\n%s", name, mode_name(o->offload),
                 o->resume ? ", resumed" : "", status, text);
}

static void remove_run(const char *name)
{
    char dir[1024], path[2200];
    tmp_path(name, dir, sizeof dir);
    snprintf(path, sizeof path, "rm -rf '%s' '%s.jsonl'", dir, dir);
    assert_int_equal(system(path), 0);
}

/* The tensor bytes of a safetensors file: what follows its header (metadata such as the
 * checkpoint id differs between runs by design). */
static char *tensor_bytes(const char *dir, const char *file, size_t *n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len = 0;
    char *all = read_file(path, &len);
    if (!all)
        fail_msg("cannot read %s", path);
    uint64_t hlen = 0;
    memcpy(&hlen, all, 8);
    assert_true(8 + hlen <= len);
    *n = len - 8 - hlen;
    char *out = malloc(*n ? *n : 1);
    assert_non_null(out);
    memcpy(out, all + 8 + hlen, *n);
    free(all);
    return out;
}

static void same_checkpoint(const char *a, const char *b, const char *what)
{
    char da[1024], db[1024];
    tmp_path(a, da, sizeof da);
    tmp_path(b, db, sizeof db);
    const char *files[] = {"model.safetensors", "state.safetensors"};
    for (int f = 0; f < 2; f++) {
        size_t n1 = 0, n2 = 0;
        char *x = tensor_bytes(da, files[f], &n1), *y = tensor_bytes(db, files[f], &n2);
        if (n1 != n2 || memcmp(x, y, n1) != 0)
            fail_msg("%s: %s differs from the uninterrupted run's", what, files[f]);
        free(x);
        free(y);
    }
}

/* Straight through in mode `straight`; then split at SPLIT_AT: `first` to there,
 * `second` from its checkpoint to the end. Losses, weights and state must be the
 * straight run's, bit for bit. */
static void resume_across(struct train_opts o, enum train_offload straight,
                          enum train_offload first, enum train_offload second)
{
    char ref[128], split[128], what[160];
    snprintf(ref, sizeof ref, "straight-%s-%s-%s", mode_name(straight),
             clt_dtype_name(o.dtype), optim_kind_name(o.optimizer));
    snprintf(split, sizeof split, "split-%s-%s-%s-%s", mode_name(first), mode_name(second),
             clt_dtype_name(o.dtype), optim_kind_name(o.optimizer));
    snprintf(what, sizeof what, "%s %s, --offload %s then %s", clt_dtype_name(o.dtype),
             optim_kind_name(o.optimizer), mode_name(first), mode_name(second));
    remove_run(split);
    struct train_opts s = o;
    s.offload = first;
    s.stop_at = SPLIT_AT;
    run_into(&s, split);
    s.offload = second;
    s.stop_at = 0;
    s.cfg_given = false;
    s.resume = s.out;
    run_into(&s, split);

    char m1[1200], m2[1200], d[1024];
    snprintf(m1, sizeof m1, "%s.jsonl", tmp_path(ref, d, sizeof d));
    snprintf(m2, sizeof m2, "%s.jsonl", tmp_path(split, d, sizeof d));
    double want[MAX_STEPS + 1] = {0}, got[MAX_STEPS + 1] = {0};
    assert_int_equal(read_losses(m1, want, MAX_STEPS), STEPS);
    assert_int_equal(read_losses(m2, got, MAX_STEPS), STEPS);
    for (int k = 1; k <= STEPS; k++)
        if (memcmp(&want[k], &got[k], sizeof want[k]) != 0)
            fail_msg("%s: step %d loss %.9g straight, %.9g split", what, k, want[k], got[k]);
    same_checkpoint(ref, split, what);
}

static void across_modes(struct train_opts o)
{
    char ref[128];
    snprintf(ref, sizeof ref, "straight-none-%s-%s", clt_dtype_name(o.dtype),
             optim_kind_name(o.optimizer));
    remove_run(ref);
    struct train_opts s = o;
    s.offload = OFFLOAD_NONE;
    run_into(&s, ref);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_HOST, OFFLOAD_NONE);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_NONE, OFFLOAD_HOST);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_NVME, OFFLOAD_HOST);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_HOST, OFFLOAD_NVME);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_NONE, OFFLOAD_NVME);
    resume_across(o, OFFLOAD_NONE, OFFLOAD_NVME, OFFLOAD_NONE);
}

static void f32_adamw_resumes_across_modes(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    across_modes(base_opts(data));
}

static void bf16_adamw8bit_resumes_across_modes(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data);
    o.dtype = CLT_DTYPE_BF16;
    o.optimizer = OPTIM_ADAMW8BIT;
    o.accum = 1;
    across_modes(o);
}

/* ---- the NVMe tier failing ----------------------------------------------------------- */

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    bool empty = true;
    for (struct dirent *e; (e = readdir(d));)
        empty = empty && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
    closedir(d);
    return empty;
}

#define FILL_AFTER 2            /* the step whose checkpoint the full disk must spare */
#define FSIZE_LIMIT (64 * 1024) /* below the swap files' sizes, above the text files' */

/* The after-step hook: once the checkpoint of step FILL_AFTER is written, files can no
 * longer grow past FSIZE_LIMIT, as on a disk that has filled up. */
static void fill_disk(void *user, int64_t step)
{
    (void)user;
    if (step != FILL_AFTER)
        return;
    struct rlimit lim = {.rlim_cur = FSIZE_LIMIT, .rlim_max = FSIZE_LIMIT};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        _exit(4);
}

static void nvme_fills_up_mid_run(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    struct train_opts o = base_opts(data);
    o.offload = OFFLOAD_NVME;
    o.ckpt_every = FILL_AFTER;
    char dir[1024], text_path[1200], copy[1024];
    tmp_path("full", dir, sizeof dir);
    tmp_path("full-at-step", copy, sizeof copy);
    remove_run("full");
    remove_run("full-at-step");
    /* the checkpoint the failing run must leave: the same run stopped there */
    struct train_opts s = o;
    s.stop_at = FILL_AFTER;
    run_into(&s, "full-at-step");

    snprintf(text_path, sizeof text_path, "%s.txt", dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
        struct train_opts c = o;
        c.out = dir;
        c.after_step = fill_disk;
        char t[16384];
        const int st = run_captured(&c, t, sizeof t);
        FILE *f = fopen(text_path, "w"); /* small: under the limit */
        if (f) {
            fputs(t, f);
            fclose(f);
        }
        _exit(st);
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    char *text = read_file(text_path, NULL);
    assert_non_null(text);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 1)
        fail_msg("a full NVMe disk: wait status %d, expected exit 1:\n%s", wst, text);
    /* the tier and the bytes it could not write */
    if (!strstr(text, "NVME") || !strstr(text, "bytes") || strstr(text, "done:"))
        fail_msg("a full NVMe disk: expected an error naming the NVME tier and the bytes, "
                 "got:\n%s", text);
    free(text);
    /* the checkpoint of step FILL_AFTER, as the run stopped there wrote it, and loadable */
    same_checkpoint("full-at-step", "full", "the checkpoint before the disk filled up");
    char v[64], err[512];
    assert_true(ckpt_state_meta(dir, "step", v, sizeof v, err, sizeof err));
    assert_int_equal(atoi(v), FILL_AFTER);
    struct gpt_config cfg;
    assert_true(ckpt_read_config(dir, &cfg, err, sizeof err));
    assert_true(dir_is_empty(swap_dir));
    /* and it resumes to the end */
    struct train_opts r = o;
    r.resume = dir;
    r.cfg_given = false;
    run_into(&r, "full");
    assert_true(dir_is_empty(swap_dir));
}

static void read_only_nvme_dir(void **state)
{
    (void)state;
    const char *data[] = {corpus()};
    char ro[1024], text_path[1200];
    tmp_path("swap-ro", ro, sizeof ro);
    mkdir(ro, 0777);
    assert_int_equal(chmod(ro, 0555), 0);
    snprintf(text_path, sizeof text_path, "%s.txt", ro);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* stderr into the text file, opened before the child gives up root */
        const int fd = open(text_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(5);
        /* root writes anywhere: a read-only directory is one only for somebody else */
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(77);
        struct train_opts c = base_opts(data);
        c.offload = OFFLOAD_NVME;
        c.nvme_dir = ro;
        _exit(train_run(&c));
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    chmod(ro, 0755);
    if (WIFEXITED(wst) && WEXITSTATUS(wst) == 77) {
        print_message("read-only NVMe directory: cannot drop root here, skipped\n");
        return;
    }
    char *text = read_file(text_path, NULL);
    if (!text)
        fail_msg("read-only NVMe directory: the run left no text (wait status %d)", wst);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 1 || !strstr(text, "NVMe directory") ||
        !strstr(text, ro) || !strstr(text, strerror(EACCES)) || strstr(text, "step   1"))
        fail_msg("read-only NVMe directory: wait status %d, text:\n%s", wst, text);
    free(text);
}

static int setup(void **state)
{
    (void)state;
    if (fixture_make_tmp("/tmp/cltrain-test-offload-resume") != 0)
        return -1;
    tmp_path("swap", swap_dir, sizeof swap_dir);
    mkdir(swap_dir, 0777);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f32_adamw_resumes_across_modes),
        cmocka_unit_test(bf16_adamw8bit_resumes_across_modes),
        cmocka_unit_test(nvme_fills_up_mid_run),
        cmocka_unit_test(read_only_nvme_dir),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
