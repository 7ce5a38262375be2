/* cltrain's checkpoints across crashes: every crash point of the two-file protocol
 * (killed while writing the "*.next" files, between the two renames in either order, in
 * the first save into a directory, with a writer's temporary file left) loads as the
 * previous or the new checkpoint, whole; halves of two checkpoints are refused; and a
 * process killed with SIGKILL at random moments while it saves leaves a directory that
 * always loads, its model and state from the same step. */
#include "ckpt_fixture.h"

#include <poll.h>
#include <sys/wait.h>
#include <time.h>

/* ---- interrupted saves -------------------------------------------------------------- */

/* A pid that belonged to a process that has exited. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return pid;
}

static void interrupted_saves(void **state)
{
    (void)state;
    char da[1024], db[1024], x[1024], err[1024], name[128];
    tmp_dir("interrupted_a", da, sizeof da);
    tmp_dir("interrupted_b", db, sizeof db);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &TINY, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, 3000);
    struct snapshot a = make_checkpoint(ctx, da, m, &s, 7); /* the previous checkpoint */
    struct snapshot b = make_checkpoint(ctx, db, m, &s, 8); /* the one being saved */
    const char *M = "model.safetensors", *S = "state.safetensors";
    const char *MN = "model.safetensors.next", *SN = "state.safetensors.next";

    /* Killed while writing the "*.next" files, with a writer's temporary file left. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(da, M, x, M);
    copy_into(da, S, x, S);
    copy_into(db, S, x, SN);
    copy_into(db, M, x, MN);
    const pid_t dead = dead_pid();
    snprintf(name, sizeof name, "model.safetensors.next.tmp-%ld-0", (long)dead);
    char tmp[4096];
    join(x, name, tmp, sizeof tmp);
    spit(tmp, "partial", 7);
    expect_loads(ctx, x, m, &s, &a);
    /* The next save clears the leftovers (the temporary file's writer is dead). */
    struct snapshot c = make_checkpoint(ctx, x, m, &s, 9);
    assert_listing(x, "model.safetensors state.safetensors");
    expect_loads(ctx, x, m, &s, &c);
    snapshot_free(&c);

    /* Killed after the state's "*.next" only. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(da, M, x, M);
    copy_into(da, S, x, S);
    copy_into(db, S, x, SN);
    expect_loads(ctx, x, m, &s, &a);

    /* Killed between the renames: the new state, the old model, the new model as
     * "*.next". A reader completes the rename. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, S);
    copy_into(da, M, x, M);
    copy_into(db, M, x, MN);
    expect_loads(ctx, x, m, &s, &b);
    assert_listing(x, "model.safetensors state.safetensors");

    /* The same, completed by ckpt_read_config alone (sampling reads only the model). */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, S);
    copy_into(da, M, x, M);
    copy_into(db, M, x, MN);
    struct gpt_config cfg;
    assert_true(ckpt_read_config(x, &cfg, err, sizeof err));
    assert_listing(x, "model.safetensors state.safetensors");
    assert_ids_match(x);

    /* The renames reordered by the file system: the new model, the old state. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, M, x, M);
    copy_into(da, S, x, S);
    copy_into(db, S, x, SN);
    expect_loads(ctx, x, m, &s, &b);
    assert_listing(x, "model.safetensors state.safetensors");

    /* The first save into a directory, killed between the renames, or before them. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, S);
    copy_into(db, M, x, MN);
    expect_loads(ctx, x, m, &s, &b);
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, SN);
    copy_into(db, M, x, MN);
    assert_false(ckpt_read_config(x, &cfg, err, sizeof err));
    assert_non_null(strstr(err, "model.safetensors"));
    printf("  refused: %s\n", err);

    /* Killed between the renames, then a save that fails (a full disk): the save first
     * completes the pair, so the directory still loads as the checkpoint of the
     * interrupted save. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, S);
    copy_into(da, M, x, M);
    copy_into(db, M, x, MN);
    free(init_model(m, 70));
    save_with_file_limit(ctx, x, m, &s, 256 * 1024, "model");
    expect_loads(ctx, x, m, &s, &b);

    /* Halves of two checkpoints with nothing to join them: refused, naming both ids;
     * a save over them works. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(db, S, x, S);
    copy_into(da, M, x, M);
    char ida[64], idb[64];
    id_of(da, M, ida, sizeof ida);
    id_of(db, S, idb, sizeof idb);
    assert_false(ckpt_read_config(x, &cfg, err, sizeof err));
    assert_non_null(strstr(err, "inconsistent"));
    assert_non_null(strstr(err, ida));
    assert_non_null(strstr(err, idb));
    printf("  refused: %s\n", err);
    assert_false(ckpt_load_state(ctx, x, s.t, N_STATE, err, sizeof err));
    assert_non_null(strstr(err, "inconsistent"));
    c = make_checkpoint(ctx, x, m, &s, 10);
    expect_loads(ctx, x, m, &s, &c);
    snapshot_free(&c);

    /* A "*.next" whose id matches neither file is not used. */
    tmp_dir("interrupted_x", x, sizeof x);
    copy_into(da, S, x, S);
    copy_into(da, M, x, M);
    copy_into(db, M, x, MN);
    copy_into(db, S, x, SN);
    expect_loads(ctx, x, m, &s, &a);
    assert_true(exists(x, MN)); /* readers leave leftovers to the next save */

    snapshot_free(&a);
    snapshot_free(&b);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

/* ---- kill -9 ------------------------------------------------------------------------ */

/* The kill test's checkpoints: a model of ~1.7M parameters (6.6 MB) and 64 MiB of u8
 * codes, so that a save takes ~100 ms here and both files take a while to write. Each is
 * recognisable from its step alone: parameter k and state word k of step i follow from
 * (i, k), cheaply, so that most of the writer's time goes to saving. */
static const struct gpt_config KILL_MODEL = {
    .layers = 2, .heads = 4, .dim = 256, .ctx = 64, .vocab = 256};
enum { KILL_CODES = 64 << 20 };

static void kill_fill(gpt_model *m, struct state *s, uint64_t step, float *params)
{
    size_t count;
    const struct gpt_param *table = gpt_param_table(m, &count);
    for (size_t i = 0; i < count; i++)
        for (size_t k = table[i].offset; k < table[i].offset + table[i].numel; k++)
            params[k] = (float)((uint32_t)(step * 2654435761u + k) % 65521u) * 0.25f;
    const uint64_t salt = step * 0x9e3779b97f4a7c15ull;
    for (size_t k = 0; k < s->bytes / 8; k++) {
        const uint64_t word = (k * 0xd6e8feb86659fd93ull) ^ salt;
        memcpy(s->host + 8 * k, &word, 8);
    }
}

/* The writer the kill test runs (this executable with --kill-writer DIR FIRST FD):
 * checkpoints of steps FIRST, FIRST+1, ... into DIR, a byte to FD after each, until it
 * is killed. */
static int kill_writer(const char *dir, uint64_t first, int fd)
{
    clt_context *ctx = NULL;
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    opts.cache_dir = "";
    gpt_model *m = NULL;
    struct state s;
    if (clt_context_create(&opts, &ctx) != CLT_OK ||
        gpt_create(ctx, &KILL_MODEL, CLT_DTYPE_F32, 1, &m) != CLT_OK) {
        fprintf(stderr, "kill writer: %s\n", clt_last_error());
        return 1;
    }
    state_create(ctx, &s, KILL_CODES);
    const size_t n = clt_buffer_size(gpt_param_buffer(m)) / sizeof(float);
    float *params = calloc(n, sizeof(float));
    if (!params)
        return 1;
    for (uint64_t step = first; step < first + 100000; step++) {
        kill_fill(m, &s, step, params);
        char text[32], err[1024] = "";
        snprintf(text, sizeof text, "%llu", (unsigned long long)step);
        const char *meta[] = {"step", text, NULL};
        if (clt_buffer_write(gpt_param_buffer(m), 0, params, n * sizeof(float), NULL) !=
                CLT_OK ||
            clt_buffer_write(s.buf, 0, s.host, s.bytes, NULL) != CLT_OK ||
            !ckpt_save(ctx, dir, m, s.t, N_STATE, meta, err, sizeof err)) {
            fprintf(stderr, "kill writer: %s\n", err);
            return 1;
        }
        if (write(fd, "s", 1) != 1)
            return 1;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Waits for the writer's next byte; fails the test after a minute. */
static void wait_save(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 60000) != 1)
        fail_msg("the writer saved nothing within a minute");
    char c;
    if (read(fd, &c, 1) != 1)
        fail_msg("the writer stopped before its kill");
}

static void kill_during_save(void **state)
{
    (void)state;
    char dir[1024], err[1024];
    tmp_dir("kill9", dir, sizeof dir);
    clt_context *ctx = host_context();
    gpt_model *m = new_model(ctx, &KILL_MODEL, CLT_DTYPE_F32);
    struct state s;
    state_create(ctx, &s, KILL_CODES);
    const size_t n = clt_buffer_size(gpt_param_buffer(m)) / sizeof(float);
    float *want = calloc(n, sizeof(float));
    assert_non_null(want);
    struct rng rng;
    const uint64_t seed = (uint64_t)time(NULL);
    rng_seed(&rng, seed);
    printf("  kill moments drawn with seed %llu\n", (unsigned long long)seed);

    int between = 0, leftovers = 0;
    const int rounds = 12;
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        char first[32], fd[16];
        snprintf(first, sizeof first, "%d", (round + 1) * 100000);
        snprintf(fd, sizeof fd, "%d", fds[1]);
        char *const argv[] = {"test_ckpt", "--kill-writer", dir, first, fd, NULL};
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        close(fds[1]);
        /* Two saves measure the period; the kill lands anywhere in a later one. */
        wait_save(fds[0]);
        const double t0 = now_seconds();
        wait_save(fds[0]);
        const double period = now_seconds() - t0;
        const double delay = period * rng_uniform(&rng);
        struct timespec ts = {.tv_sec = (time_t)delay,
                              .tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        close(fds[0]);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* What the kill left, before a reader changes it. */
        char list[4096], ids[2][64];
        listing(dir, list, sizeof list);
        id_of(dir, "model.safetensors", ids[0], sizeof ids[0]);
        id_of(dir, "state.safetensors", ids[1], sizeof ids[1]);
        between += strcmp(ids[0], ids[1]) != 0;
        leftovers += strstr(list, ".next") != NULL || strstr(list, ".tmp-") != NULL;
        printf("  kill %d after %.0f of %.0f ms: %s%s\n", round, delay * 1e3, period * 1e3,
               list, strcmp(ids[0], ids[1]) ? " (ids differ)" : "");

        /* It loads, whole: the parameters and the state of one step. */
        char step_text[32];
        struct gpt_config cfg;
        if (!ckpt_read_config(dir, &cfg, err, sizeof err) ||
            !ckpt_load_model(ctx, dir, m, err, sizeof err) ||
            !ckpt_load_state(ctx, dir, s.t, N_STATE, err, sizeof err) ||
            !ckpt_state_meta(dir, "step", step_text, sizeof step_text, err, sizeof err))
            fail_msg("after kill %d: %s", round, err);
        assert_ids_match(dir);
        const uint64_t step = strtoull(step_text, NULL, 10);
        assert_true(step >= (uint64_t)(round + 1) * 100000 + 1);
        kill_fill(m, &s, step, want);
        size_t got_n;
        float *got = params_of(m, &got_n);
        assert_params_equal(m, got, want);
        free(got);
        assert_state_equal(&s, s.host);
    }
    printf("  %d of %d kills left \"*.next\" or temporary files, %d fell between the "
           "renames\n",
           leftovers, rounds, between);

    /* The next save leaves exactly the pair. */
    const char *meta[] = {"step", "1", NULL};
    assert_true(ckpt_save(ctx, dir, m, s.t, N_STATE, meta, err, sizeof err));
    assert_listing(dir, "model.safetensors state.safetensors");
    free(want);
    state_destroy(&s);
    gpt_destroy(m);
    clt_context_destroy(ctx);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--kill-writer") == 0)
        return kill_writer(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interrupted_saves),
        cmocka_unit_test(kill_during_save),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
