/* What the training-loop tests share (test_train.c, test_offload_train.c): a temporary
 * directory, whole files read back, train_run with its stderr captured, and the losses
 * of a metrics file. Header-only, like ckpt_fixture.h; include it after cmocka.h. */
#ifndef CLTRAIN_TRAIN_FIXTURE_H
#define CLTRAIN_TRAIN_FIXTURE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

static char tmp_root[512];

static const char *tmp_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tmp_root, name);
    return buf;
}

/* The whole file, NUL-terminated, or NULL when it cannot be opened; n may be NULL. */
/* A corpus of `bytes` letters from a small alphabet (seeded: the same text every run),
 * as corpus.txt in the test's directory; returns its path. */
static inline const char *fixture_corpus(uint64_t seed, int bytes)
{
    static char path[600];
    tmp_path("corpus.txt", path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    uint64_t x = seed;
    for (int i = 0; i < bytes; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        fputc("etaoin shrdlu\n."[(x >> 33) % 15], f);
    }
    return fclose(f) == 0 ? path : NULL;
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (n)
        *n = (size_t)len;
    return buf;
}

/* Runs train_run with stderr into a file; returns the exit status and the text. */
static int run_captured(const struct train_opts *o, char *text, size_t cap)
{
    char path[600];
    tmp_path("stderr.txt", path, sizeof path);
    fflush(stderr);
    const int saved = dup(2);
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    const int status = train_run(o);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *got = read_file(path, NULL);
    snprintf(text, cap, "%s", got ? got : "");
    free(got);
    return status;
}

/* The train losses of a metrics file into losses[step], steps 1..max_steps; returns how
 * many records there were. */
static int read_losses(const char *path, double *losses, int max_steps)
{
    char *text = read_file(path, NULL);
    assert_non_null(text);
    int count = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"type\":\"train\""))
            continue;
        const long step = strtol(strstr(line, "\"step\":") + 7, NULL, 10);
        assert_true(step >= 1 && step <= max_steps);
        losses[step] = strtod(strstr(line, "\"loss\":") + 7, NULL);
        count++;
    }
    free(text);
    return count;
}

static inline bool have_opencl(void)
{
    clt_context *ctx = NULL;
    clt_context_opts o;
    clt_context_opts_init(&o);
    o.device = "opencl:0";
    if (clt_context_create(&o, &ctx) != CLT_OK)
        return false;
    clt_context_destroy(ctx);
    return true;
}

/* tmp_root from $CLT_TEST_TMP, else `fallback`, made. For cmocka's group setup. */
static int fixture_make_tmp(const char *fallback)
{
    const char *t = getenv("CLT_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s", t && *t ? t : fallback);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
