/* cltrain plot (plot.h). The metrics lines are cltrain's own, so a field is found by its
 * key rather than by a general JSON parser; the points go to gnuplot inline, and gnuplot
 * writes the PNG. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "plot.h"

/* The number after "key": in a metrics line; false when absent or null. */
static bool field(const char *line, const char *key, double *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(line, pat);
    if (!at)
        return false;
    at += strlen(pat);
    char *end = NULL;
    *out = strtod(at, &end);
    return end != at && isfinite(*out);
}

struct series {
    double *step, *value;
    size_t n, cap;
};

static bool push(struct series *s, double step, double value)
{
    if (s->n == s->cap) {
        const size_t cap = s->cap ? 2 * s->cap : 256;
        double *a = realloc(s->step, cap * sizeof *a);
        if (!a)
            return false;
        s->step = a;
        double *b = realloc(s->value, cap * sizeof *b);
        if (!b)
            return false;
        s->value = b;
        s->cap = cap;
    }
    s->step[s->n] = step;
    s->value[s->n++] = value;
    return true;
}

static void write_series(FILE *gp, const struct series *s)
{
    for (size_t i = 0; i < s->n; i++)
        fprintf(gp, "%.17g %.9g\n", s->step[i], s->value[i]);
    fprintf(gp, "e\n");
}

/* The plot's file name goes into gnuplot's script in single quotes, where gnuplot takes
 * everything literally but a single quote. */
static bool quotable(const char *path) { return strchr(path, '\'') == NULL; }

int plot_run(const char *metrics_path, const char *out_png)
{
    struct series train = {0}, val = {0};
    int status = 1;
    char line[4096];
    long lineno = 0;
    FILE *in = fopen(metrics_path, "r");
    if (!in) {
        fprintf(stderr, "cltrain plot: %s: %s\n", metrics_path, strerror(errno));
        return 1;
    }
    if (!quotable(out_png)) {
        fprintf(stderr, "cltrain plot: -o %s: a quote in the file name is not supported\n",
                out_png);
        goto done;
    }
    while (fgets(line, sizeof line, in)) {
        lineno++;
        double step = 0, v;
        if (line[0] == '\n')
            continue;
        if (line[0] != '{' || (!field(line, "step", &step) && !strstr(line, "\"summary\""))) {
            fprintf(stderr, "cltrain plot: %s:%ld: not a cltrain metrics record\n",
                    metrics_path, lineno);
            goto done;
        }
        bool ok = true;
        if (strstr(line, "\"type\":\"train\"") && field(line, "loss", &v))
            ok = push(&train, step, v);
        else if (strstr(line, "\"type\":\"val\"") && field(line, "val_loss", &v))
            ok = push(&val, step, v);
        if (!ok) {
            fprintf(stderr, "cltrain plot: out of memory\n");
            goto done;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "cltrain plot: %s: read error\n", metrics_path);
        goto done;
    }
    if (train.n == 0 && val.n == 0) {
        fprintf(stderr, "cltrain plot: %s: no loss records\n", metrics_path);
        goto done;
    }
    FILE *gp = popen("gnuplot 2>&1", "w");
    if (!gp) {
        fprintf(stderr, "cltrain plot: cannot run gnuplot: %s\n", strerror(errno));
        goto done;
    }
    fprintf(gp, "set terminal pngcairo size 1000,600 noenhanced\n"
                "set output '%s'\n"
                "set title 'cltrain: %s'\n"
                "set xlabel 'step'\nset ylabel 'loss (nats/token)'\nset grid\n"
                "set key top right\n", out_png, quotable(metrics_path) ? metrics_path : "loss");
    fprintf(gp, "plot ");
    if (train.n)
        fprintf(gp, "'-' using 1:2 with lines lw 1 title 'train'%s", val.n ? ", " : "");
    if (val.n)
        fprintf(gp, "'-' using 1:2 with linespoints lw 2 pt 7 title 'validation'");
    fprintf(gp, "\n");
    if (train.n)
        write_series(gp, &train);
    if (val.n)
        write_series(gp, &val);
    const int rc = pclose(gp);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        /* the shell says 127 when gnuplot is not there */
        if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
            fprintf(stderr, "cltrain plot: gnuplot is not installed (apt-get install "
                            "gnuplot-nox)\n");
        else
            fprintf(stderr, "cltrain plot: gnuplot failed writing %s\n", out_png);
        goto done;
    }
    fprintf(stderr, "cltrain plot: %zu train and %zu validation points -> %s\n", train.n,
            val.n, out_png);
    status = 0;
done:
    fclose(in);
    free(train.step);
    free(train.value);
    free(val.step);
    free(val.value);
    return status;
}
