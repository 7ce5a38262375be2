/* The progress line, the log lines and the metrics file (progress.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json_writer.h"
#include "common/units.h"
#include "progress.h"

struct progress {
    FILE *out, *metrics;
    bool tty;
    bool line_open; /* a progress line is on screen without its newline */
    int64_t every;
};

static const char *const tier_short[CLT_TIER_COUNT] = {"dev", "pinned", "host", "nvme"};
static const char *const tier_json[CLT_TIER_COUNT] = {"device", "host_pinned", "host",
                                                      "nvme"};

bool progress_open(FILE *out, const char *metrics_path, int64_t every, progress **pp,
                   char *err, size_t cap)
{
    progress *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, cap, "out of memory");
        return false;
    }
    p->out = out;
    p->tty = out && isatty(fileno(out));
    p->every = every < 1 ? 1 : every;
    if (metrics_path) {
        p->metrics = fopen(metrics_path, "a");
        if (!p->metrics) {
            snprintf(err, cap, "--metrics %s: cannot open for writing: %s", metrics_path,
                     strerror(errno));
            free(p);
            return false;
        }
    }
    *pp = p;
    return true;
}

const char *progress_duration(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, size, "?");
        return buf;
    }
    const long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, size, "%lds", s);
    return buf;
}

/* "dev 41 MiB host 12 MiB": the tiers in use. */
static void memory_text(const uint64_t used[CLT_TIER_COUNT], char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int t = 0; t < CLT_TIER_COUNT && at < size; t++) {
        if (!used[t])
            continue;
        char b[32];
        at += (size_t)snprintf(buf + at, size - at, "%s%s %s", at ? " " : "", tier_short[t],
                               format_bytes(used[t], b, sizeof b));
    }
}

static void end_line(progress *p)
{
    if (p->line_open) {
        fputc('\n', p->out);
        p->line_open = false;
    }
}

/* "offload": {...}: an engine's counters (of a step, or of the run). */
static void write_offload(json_writer *w, const clt_offload_stats *st)
{
    json_key(w, "offload");
    json_begin_object(w);
    json_kv_uint(w, "bytes_to_device", st->bytes_to_device);
    json_kv_uint(w, "bytes_from_device", st->bytes_from_device);
    json_kv_uint(w, "bytes_nvme_read", st->bytes_nvme_read);
    json_kv_uint(w, "bytes_nvme_write", st->bytes_nvme_write);
    json_kv_uint(w, "uploads", st->uploads);
    json_kv_double(w, "fetch_wait_ms", (st->fetch_wait_s + st->optim_idle_wait_s) * 1e3);
    json_kv_double(w, "grad_wait_ms", st->grad_wait_s * 1e3);
    json_kv_double(w, "optim_ms", st->optim_s * 1e3);
    json_kv_double(w, "nvme_ms", st->nvme_s * 1e3);
    json_kv_double(w, "nvme_wait_ms", st->nvme_wait_s * 1e3);
    json_end_object(w);
}

/* "comm": {...}: a data-parallel run's communication (of a step, or of the run), left
 * open for the caller's own fields; the caller ends it. */
static void begin_comm(json_writer *w, const struct comm_report *c)
{
    json_key(w, "comm");
    json_begin_object(w);
    json_kv_int(w, "ranks", c->ranks);
    json_kv_uint(w, "bytes_allreduced", c->bytes_reduced);
    json_kv_uint(w, "bytes_allgathered", c->bytes_gathered);
    json_kv_uint(w, "bytes_sent_model", c->bytes_sent);
    json_kv_uint(w, "grad_bytes", c->grad_bytes);
    json_kv_double(w, "allreduce_ms", c->reduce_s * 1e3);
    json_kv_double(w, "exposed_ms", c->exposed_s * 1e3);
    const double hidden = c->reduce_s > 0 ? 1.0 - c->exposed_s / c->reduce_s : 0.0;
    json_kv_double(w, "hidden_fraction", hidden < 0 ? 0 : hidden);
    json_kv_uint(w, "state_bytes", c->state_bytes);
}

static void write_metrics_step(progress *p, const struct step_report *r)
{
    json_writer w;
    json_init(&w, p->metrics, false);
    json_begin_object(&w);
    json_kv_string(&w, "type", "train");
    json_kv_int(&w, "step", r->step);
    json_kv_double(&w, "loss", r->loss);
    json_kv_double(&w, "lr", r->lr);
    json_kv_double(&w, "grad_norm", r->grad_norm);
    json_kv_double(&w, "tokens_per_s", r->tokens_per_s);
    json_kv_double(&w, "ms_step", r->ms_step);
    json_kv_double(&w, "ms_forward", r->ms_forward);
    json_kv_double(&w, "ms_backward", r->ms_backward);
    json_kv_double(&w, "ms_optim", r->ms_optim);
    json_kv_bool(&w, "skipped", r->skipped);
    json_kv_double(&w, "loss_scale", r->loss_scale);
    json_key(&w, "mem_used");
    json_begin_object(&w);
    for (int t = 0; t < CLT_TIER_COUNT; t++)
        json_kv_uint(&w, tier_json[t], r->mem_used[t]);
    json_end_object(&w);
    if (r->offloaded)
        write_offload(&w, &r->offload);
    if (r->dist) {
        begin_comm(&w, &r->comm);
        json_end_object(&w);
    }
    json_end_object(&w);
    json_finish(&w);
}

void progress_step(progress *p, const struct step_report *r)
{
    if (p->metrics)
        write_metrics_step(p, r);
    const bool plain_due = r->step % p->every == 0 || r->step == r->total || r->skipped;
    if (!p->out || (!p->tty && !plain_due))
        return;
    char mem[128], eta[32];
    memory_text(r->mem_used, mem, sizeof mem);
    const int width = r->total >= 10000 ? 6 : r->total >= 1000 ? 4 : 3;
    fprintf(p->out, "%sstep %*lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  %.0f ms/step  %s  "
                    "ETA %s%s",
            p->tty ? "\r\033[K" : "", width, (long long)r->step, (long long)r->total, r->loss,
            r->lr, r->tokens_per_s, r->ms_step, mem,
            progress_duration(r->eta_s, eta, sizeof eta),
            r->skipped ? "  (step skipped: inf/NaN gradients)" : "");
    if (p->tty) {
        p->line_open = true;
        if (r->skipped)
            end_line(p);
    } else {
        fputc('\n', p->out);
    }
    fflush(p->out);
}

void progress_eval(progress *p, int64_t step, double val_loss)
{
    end_line(p);
    if (p->out) {
        fprintf(p->out, "step %lld: validation loss %.4f\n", (long long)step, val_loss);
        fflush(p->out);
    }
    if (p->metrics) {
        json_writer w;
        json_init(&w, p->metrics, false);
        json_begin_object(&w);
        json_kv_string(&w, "type", "val");
        json_kv_int(&w, "step", step);
        json_kv_double(&w, "val_loss", val_loss);
        json_end_object(&w);
        json_finish(&w);
    }
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (!p->out)
        return;
    end_line(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

/* The text of the summary. */
static void summary_text(progress *p, const struct run_summary *s)
{
    char took[32], mem[128];
    memory_text(s->mem_peak, mem, sizeof mem);
    fprintf(p->out, "done: %lld steps (to step %lld) in %s, %.0f tokens, %.0f tok/s\n",
            (long long)s->steps_run, (long long)s->last_step,
            progress_duration(s->seconds, took, sizeof took), s->tokens, s->tokens_per_s);
    fprintf(p->out, "      ms/step %.1f = forward %.1f + backward %.1f + optimizer %.1f\n",
            s->ms_step, s->ms_forward, s->ms_backward, s->ms_optim);
    fprintf(p->out, "      final train loss %.4f", s->final_loss);
    if (isfinite(s->val_loss))
        fprintf(p->out, ", validation loss %.4f", s->val_loss);
    if (s->skipped)
        fprintf(p->out, ", %lld steps skipped", (long long)s->skipped);
    fprintf(p->out, "\n      peak memory: %s\n", mem[0] ? mem : "-");
    if (s->dist && s->steps_run > 0) {
        const double n = (double)s->steps_run, mib = 1024.0 * 1024.0;
        const double hidden = s->comm.reduce_s > 0 ? 1.0 - s->comm.exposed_s / s->comm.reduce_s
                                                   : 0.0;
        fprintf(p->out, "      communication per step over %d rank%s: %.2f MiB all-reduced, "
                        "%.2f MiB all-gathered; gradient all-reduce %.1f ms, %.0f%% of it "
                        "hidden behind the backward pass\n",
                s->comm.ranks, s->comm.ranks == 1 ? "" : "s", s->comm.bytes_reduced / mib / n,
                s->comm.bytes_gathered / mib / n, s->comm.reduce_s * 1e3 / n,
                100.0 * (hidden < 0 ? 0 : hidden));
    }
    if (s->checkpoint)
        fprintf(p->out, "      checkpoint: %s\n", s->checkpoint);
    fflush(p->out);
}

void progress_summary(progress *p, const struct run_summary *s)
{
    end_line(p);
    if (p->out)
        summary_text(p, s);
    if (p->metrics) {
        json_writer w;
        json_init(&w, p->metrics, false);
        json_begin_object(&w);
        json_kv_string(&w, "type", "summary");
        json_kv_int(&w, "steps_run", s->steps_run);
        json_kv_int(&w, "last_step", s->last_step);
        json_kv_int(&w, "skipped", s->skipped);
        json_kv_double(&w, "seconds", s->seconds);
        json_kv_double(&w, "tokens", s->tokens);
        json_kv_double(&w, "tokens_per_s", s->tokens_per_s);
        json_kv_double(&w, "ms_step", s->ms_step);
        json_kv_double(&w, "ms_forward", s->ms_forward);
        json_kv_double(&w, "ms_backward", s->ms_backward);
        json_kv_double(&w, "ms_optim", s->ms_optim);
        json_kv_double(&w, "final_loss", s->final_loss);
        json_kv_double(&w, "val_loss", s->val_loss);
        json_key(&w, "mem_peak");
        json_begin_object(&w);
        for (int t = 0; t < CLT_TIER_COUNT; t++)
            json_kv_uint(&w, tier_json[t], s->mem_peak[t]);
        json_end_object(&w);
        if (s->offloaded)
            write_offload(&w, &s->offload);
        if (s->dist) {
            begin_comm(&w, &s->comm);
            json_kv_bool(&w, "shard", s->shard);
            json_kv_string(&w, "wire", s->wire);
            json_key(&w, "state_bytes_per_rank");
            json_begin_array(&w);
            for (int r = 0; s->state_bytes && r < s->comm.ranks; r++)
                json_uint(&w, s->state_bytes[r]);
            json_end_array(&w);
            json_end_object(&w);
        }
        json_end_object(&w);
        json_finish(&w);
    }
}

void progress_close(progress *p)
{
    if (!p)
        return;
    end_line(p);
    if (p->metrics)
        fclose(p->metrics);
    free(p);
}
