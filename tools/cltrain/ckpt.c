/* cltrain's checkpoints: the model and state files of a directory, written as a pair that
 * survives a crash at any instant, and read back with every check made before anything
 * is changed. See ckpt.h for the protocol. */
#include "failf.h"
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MODEL_FILE "model.safetensors"
#define STATE_FILE "state.safetensors"
#define NEXT_SUFFIX ".next"

/* The paths of one checkpoint directory. */
struct ckpt_paths {
    char model[PATH_MAX], state[PATH_MAX];
    char model_next[PATH_MAX], state_next[PATH_MAX];
};

static bool make_paths(const char *dir, struct ckpt_paths *p, char *err, size_t cap)
{
    if (!dir || !*dir)
        return failf(err, cap, "no checkpoint directory given");
    const size_t n = sizeof p->model;
    if (snprintf(p->model, n, "%s/%s", dir, MODEL_FILE) >= (int)n ||
        snprintf(p->state, n, "%s/%s", dir, STATE_FILE) >= (int)n ||
        snprintf(p->model_next, n, "%s/%s%s", dir, MODEL_FILE, NEXT_SUFFIX) >= (int)n ||
        snprintf(p->state_next, n, "%s/%s%s", dir, STATE_FILE, NEXT_SUFFIX) >= (int)n)
        return failf(err, cap, "checkpoint directory path '%s' is too long", dir);
    return true;
}

/* fsync of the directory, so that renames in it are on disk before what follows. Some
 * file systems cannot fsync a directory (EINVAL) and order renames anyway. */
static bool sync_dir(const char *dir, char *err, size_t cap)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return failf(err, cap, "cannot open checkpoint directory '%s': %s", dir,
                     strerror(errno));
    bool ok = fsync(fd) == 0 || errno == EINVAL;
    if (!ok)
        failf(err, cap, "cannot sync checkpoint directory '%s': %s", dir, strerror(errno));
    close(fd);
    return ok;
}

/* ---- the pair's ids ----------------------------------------------------------------- */

/* What a file of the pair says about itself. */
struct file_id {
    bool exists;   /* the path names something */
    bool readable; /* a valid safetensors file */
    char id[64];   /* its checkpoint id; "" when it has none (written by another tool) */
};

static struct file_id read_id(const char *path)
{
    struct file_id f = {0};
    struct stat st;
    f.exists = stat(path, &st) == 0;
    if (!f.exists)
        return f;
    bool found = false;
    f.readable =
        clt_checkpoint_metadata(path, CKPT_ID_KEY, f.id, sizeof f.id, &found) == CLT_OK;
    if (!f.readable || !found)
        f.id[0] = '\0';
    return f;
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
    return a->readable && b->readable && a->id[0] && strcmp(a->id, b->id) == 0;
}

/* Both files carry ids and they differ: the pair is two halves of different saves. */
static bool ids_differ(const struct file_id *a, const struct file_id *b)
{
    return a->readable && b->readable && a->id[0] && b->id[0] && strcmp(a->id, b->id) != 0;
}

/* Makes `path` the complete file `next`, which belongs with the other file of the pair.
 * Without write access to the directory the reader still gets a consistent pair: it
 * reads `next` where it stands. */
static bool finish_rename(const char *dir, const char *next, char *path, size_t path_cap,
                          char *err, size_t cap)
{
    if (rename(next, path) == 0)
        return sync_dir(dir, err, cap);
    if (errno == EACCES || errno == EPERM || errno == EROFS) {
        snprintf(path, path_cap, "%s", next);
        return true;
    }
    return failf(err, cap,
                 "cannot complete the interrupted checkpoint in '%s': renaming "
                 "'%s' failed: %s",
                 dir, next, strerror(errno));
}

enum pair_state {
    PAIR_OK,           /* p->model and p->state are the files to read */
    PAIR_INCONSISTENT, /* two halves of different saves, and no "*.next" joins them */
    PAIR_FAILED,       /* the directory could not be read or the completing rename failed */
};

/* Finds the pair to read in dir, completing a save that stopped between its two renames
 * (the file whose id differs from the other's is replaced by its "*.next", which has the
 * other's id). Files that are unreadable or missing are left for the load to report. */
static enum pair_state resolve_pair(const char *dir, struct ckpt_paths *p, char *err,
                                    size_t cap)
{
    if (!make_paths(dir, p, err, cap))
        return PAIR_FAILED;
    const struct file_id model = read_id(p->model), state = read_id(p->state);
    if (same_id(&model, &state))
        return PAIR_OK;
    /* The state renamed, the model not yet (or, reordered by a crash of the file system,
     * the other way round); the first save in a directory leaves no old model at all. */
    if (state.readable && state.id[0] && (!model.exists || ids_differ(&model, &state))) {
        const struct file_id next = read_id(p->model_next);
        if (same_id(&next, &state))
            return finish_rename(dir, p->model_next, p->model, sizeof p->model, err, cap)
                       ? PAIR_OK
                       : PAIR_FAILED;
    }
    if (model.readable && model.id[0] && (!state.exists || ids_differ(&model, &state))) {
        const struct file_id next = read_id(p->state_next);
        if (same_id(&next, &model))
            return finish_rename(dir, p->state_next, p->state, sizeof p->state, err, cap)
                       ? PAIR_OK
                       : PAIR_FAILED;
    }
    if (ids_differ(&model, &state)) {
        failf(err, cap,
              "checkpoint '%s' is inconsistent: %s has id %s and %s id %s, and no "
              "complete \"*%s\" file joins them",
              dir, MODEL_FILE, model.id, STATE_FILE, state.id, NEXT_SUFFIX);
        return PAIR_INCONSISTENT;
    }
    return PAIR_OK;
}

/* For the readers: the directory must exist, and the pair in it be whole. */
static bool find_pair(const char *dir, struct ckpt_paths *p, char *err, size_t cap)
{
    struct stat st;
    if (!make_paths(dir, p, err, cap))
        return false;
    if (stat(dir, &st) != 0)
        return failf(err, cap, "cannot open checkpoint directory '%s': %s", dir,
                     strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return failf(err, cap, "checkpoint path '%s' is not a directory", dir);
    return resolve_pair(dir, p, err, cap) == PAIR_OK;
}

/* ---- saving ------------------------------------------------------------------------- */

/* A new id, distinct from those in the directory: wall-clock nanoseconds and the pid. */
static void new_id(const struct ckpt_paths *p, char *out, size_t cap)
{
    const struct file_id model = read_id(p->model), state = read_id(p->state);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long ns =
        (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
    do {
        snprintf(out, cap, "%016llx-%ld", ns++, (long)getpid());
    } while (strcmp(out, model.id) == 0 || strcmp(out, state.id) == 0);
}

/* Whether `name` is a temporary file the safetensors writer left beside a file of the
 * pair when its process died ("<file>.tmp-<pid>-<n>"): a live writer's are kept. */
static bool is_stale_temp(const char *name)
{
    if (strncmp(name, MODEL_FILE, strlen(MODEL_FILE)) != 0 &&
        strncmp(name, STATE_FILE, strlen(STATE_FILE)) != 0)
        return false;
    const char *tmp = strstr(name, ".tmp-");
    if (!tmp)
        return false;
    char *end = NULL;
    errno = 0;
    long pid = strtol(tmp + 5, &end, 10);
    if (errno != 0 || end == tmp + 5 || *end != '-' || pid <= 0 || pid > INT_MAX)
        return false;
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Removes what an interrupted save left: "*.next" files (after resolve_pair has used
 * any that completes the pair) and the temporary files of dead writers. */
static bool remove_leftovers(const char *dir, const struct ckpt_paths *p, char *err,
                             size_t cap)
{
    if ((unlink(p->model_next) != 0 && errno != ENOENT) ||
        (unlink(p->state_next) != 0 && errno != ENOENT))
        return failf(err, cap, "cannot remove an old \"*%s\" file in '%s': %s", NEXT_SUFFIX,
                     dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return failf(err, cap, "cannot read checkpoint directory '%s': %s", dir,
                     strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        char path[PATH_MAX];
        if (is_stale_temp(e->d_name) &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            unlink(path); /* best effort: a leftover costs disk space, nothing else */
    }
    closedir(d);
    return true;
}

static bool make_dir(const char *dir, char *err, size_t cap)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return failf(err, cap, "cannot create checkpoint directory '%s': %s", dir,
                     strerror(errno));
    if (stat(dir, &st) != 0)
        return failf(err, cap, "cannot use checkpoint directory '%s': %s", dir,
                     strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return failf(err, cap, "checkpoint path '%s' is not a directory", dir);
    return true;
}

/* The model's parameters as named views of its master buffer. */
static clt_named_tensor *param_tensors(gpt_model *m, size_t *n, char *err, size_t cap)
{
    const struct gpt_param *params = gpt_param_table(m, n);
    clt_named_tensor *t = calloc(*n ? *n : 1, sizeof *t);
    if (!t) {
        failf(err, cap, "out of memory listing %zu parameters", *n);
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        t[i].name = params[i].name;
        if (clt_tensor_init(&t[i].tensor, gpt_param_buffer(m),
                            params[i].offset * sizeof(float), CLT_DTYPE_F32, params[i].rank,
                            params[i].shape) != CLT_OK) {
            failf(err, cap, "parameter %s: %s", params[i].name, clt_last_error());
            free(t);
            return NULL;
        }
    }
    return t;
}

static bool is_reserved_key(const char *key)
{
    return strcmp(key, CKPT_ID_KEY) == 0 || strcmp(key, "clt_version") == 0;
}

bool ckpt_save(clt_context *ctx, const char *dir, gpt_model *m,
               const clt_named_tensor *state, size_t n_state, const char *const *state_meta,
               char *err, size_t cap)
{
    if (!ctx || !m || (n_state > 0 && !state))
        return failf(err, cap, "ckpt_save: no context, model or state tensors");
    struct ckpt_paths p;
    if (!make_paths(dir, &p, err, cap) || !make_dir(dir, err, cap))
        return false;

    /* The state's metadata: the caller's pairs, the id and the version, NULL. */
    size_t n_meta = 0;
    while (state_meta && state_meta[n_meta]) {
        if (!state_meta[n_meta + 1])
            return failf(err, cap, "state metadata key '%s' has no value",
                         state_meta[n_meta]);
        if (is_reserved_key(state_meta[n_meta]))
            return failf(err, cap, "state metadata key '%s' is cltrain's own",
                         state_meta[n_meta]);
        n_meta += 2;
    }
    const char **smeta = malloc((n_meta + 5) * sizeof *smeta);
    clt_named_tensor *params = NULL;
    size_t n_params = 0;
    bool ok = smeta != NULL, state_next_written = false;
    if (!ok)
        failf(err, cap, "out of memory saving a checkpoint");

    /* A save that was interrupted is completed first, so that removing its leftovers
     * cannot lose the checkpoint that the directory holds. A pair that cannot be
     * completed is overwritten below. */
    ok = ok && resolve_pair(dir, &p, err, cap) != PAIR_FAILED;
    ok = ok && make_paths(dir, &p, err, cap) && remove_leftovers(dir, &p, err, cap);

    char id[64], version[32];
    new_id(&p, id, sizeof id);
    snprintf(version, sizeof version, "%s", clt_version_string());
    if (ok) {
        for (size_t i = 0; i < n_meta; i++)
            smeta[i] = state_meta[i];
        smeta[n_meta] = CKPT_ID_KEY;
        smeta[n_meta + 1] = id;
        smeta[n_meta + 2] = "clt_version";
        smeta[n_meta + 3] = version;
        smeta[n_meta + 4] = NULL;
        if (clt_checkpoint_save(ctx, p.state_next, state, n_state, smeta) != CLT_OK)
            ok = failf(err, cap, "cannot save the checkpoint state: %s", clt_last_error());
        state_next_written = ok;
    }

    if (ok)
        ok = (params = param_tensors(m, &n_params, err, cap)) != NULL;
    if (ok) {
        const struct gpt_config *c = gpt_config_of(m);
        char layer[16], head[16], embd[16], nctx[16], vocab[16];
        snprintf(layer, sizeof layer, "%d", c->layers);
        snprintf(head, sizeof head, "%d", c->heads);
        snprintf(embd, sizeof embd, "%d", c->dim);
        snprintf(nctx, sizeof nctx, "%d", c->ctx);
        snprintf(vocab, sizeof vocab, "%d", c->vocab);
        /* GPT-2's config names, and "format" as transformers' loader expects it. */
        const char *const mmeta[] = {"format",      "pt",    "n_layer",    layer,
                                     "n_head",      head,    "n_embd",     embd,
                                     "n_ctx",       nctx,    "vocab_size", vocab,
                                     "clt_version", version, CKPT_ID_KEY,  id,
                                     NULL};
        if (clt_checkpoint_save(ctx, p.model_next, params, n_params, mmeta) != CLT_OK)
            ok = failf(err, cap, "cannot save the checkpoint model: %s", clt_last_error());
    }

    /* Both complete: state first, then model. Between the two renames the directory
     * holds the new state, the old model and the new model as "*.next": readers
     * complete it (resolve_pair). */
    if (ok && rename(p.state_next, p.state) != 0) {
        ok = failf(err, cap, "cannot rename '%s' to '%s': %s", p.state_next, p.state,
                   strerror(errno));
        unlink(p.model_next);
    }
    state_next_written = state_next_written && !ok;
    if (ok)
        ok = sync_dir(dir, err, cap);
    if (ok && rename(p.model_next, p.model) != 0) {
        /* A reader may have completed the pair already. */
        const int e = errno;
        const struct file_id now = read_id(p.model);
        if (!(e == ENOENT && now.readable && strcmp(now.id, id) == 0))
            ok = failf(err, cap,
                       "cannot rename '%s' to '%s': %s (the next load completes "
                       "the checkpoint from it)",
                       p.model_next, p.model, strerror(e));
    }
    if (ok)
        ok = sync_dir(dir, err, cap);
    if (state_next_written)
        unlink(p.state_next);
    free(params);
    free(smeta);
    return ok;
}

/* ---- loading ------------------------------------------------------------------------ */

static bool parse_positive(const char *text, int *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > INT_MAX || text[0] == '+' ||
        text[0] == ' ')
        return false;
    *out = (int)v;
    return true;
}

static const char *shape_text(int rank, const int64_t *shape, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

/* The config in an open model file, its fields checked against the embeddings' shapes. */
static bool config_of_file(const clt_st_reader *r, const char *path, struct gpt_config *cfg,
                           char *err, size_t cap)
{
    static const char *const keys[] = {"n_layer", "n_head", "n_embd", "n_ctx",
                                       "vocab_size"};
    int *fields[] = {&cfg->layers, &cfg->heads, &cfg->dim, &cfg->ctx, &cfg->vocab};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = clt_st_reader_metadata(r, keys[i]);
        if (!v)
            return failf(err, cap,
                         "'%s' has no %s in its metadata: not a cltrain checkpoint", path,
                         keys[i]);
        if (!parse_positive(v, fields[i]))
            return failf(err, cap, "'%s': metadata %s is \"%s\", not a positive integer",
                         path, keys[i], v);
    }
    char why[256];
    if (!gpt_config_valid(cfg, why, sizeof why))
        return failf(err, cap, "'%s': its config is not a model cltrain builds: %s", path,
                     why);
    const struct {
        const char *name;
        int64_t rows, cols;
    } embeddings[] = {{"wte.weight", cfg->vocab, cfg->dim},
                      {"wpe.weight", cfg->ctx, cfg->dim}};
    for (size_t i = 0; i < 2; i++) {
        clt_st_info info;
        char a[64], b[64];
        const int64_t want[2] = {embeddings[i].rows, embeddings[i].cols};
        if (clt_st_reader_find(r, embeddings[i].name, &info) != CLT_OK)
            return failf(err, cap, "'%s' has no tensor %s", path, embeddings[i].name);
        if (info.rank != 2 || info.shape[0] != want[0] || info.shape[1] != want[1])
            return failf(err, cap, "'%s': tensor %s is %s, but its config says %s", path,
                         embeddings[i].name, shape_text(info.rank, info.shape, a, sizeof a),
                         shape_text(2, want, b, sizeof b));
    }
    return true;
}

static bool open_model_file(const char *dir, struct ckpt_paths *p, clt_st_reader **r,
                            char *err, size_t cap)
{
    *r = NULL;
    if (!find_pair(dir, p, err, cap))
        return false;
    if (clt_st_reader_open(p->model, r) != CLT_OK)
        return failf(err, cap, "cannot read the checkpoint model: %s", clt_last_error());
    return true;
}

bool ckpt_read_config(const char *dir, struct gpt_config *cfg, char *err, size_t cap)
{
    struct ckpt_paths p;
    clt_st_reader *r = NULL;
    if (!cfg)
        return failf(err, cap, "ckpt_read_config: no config to fill");
    struct gpt_config c = {0};
    bool ok =
        open_model_file(dir, &p, &r, err, cap) && config_of_file(r, p.model, &c, err, cap);
    clt_st_reader_close(r);
    if (ok)
        *cfg = c;
    return ok;
}

/* Every parameter of the model is in the file with its shape, and the file holds nothing
 * else; the config in the file is the model's (the head count shows in no shape). */
static bool model_matches_file(const clt_st_reader *r, const char *path, gpt_model *m,
                               char *err, size_t cap)
{
    struct gpt_config fc;
    if (!config_of_file(r, path, &fc, err, cap))
        return false;
    const struct gpt_config *mc = gpt_config_of(m);
    if (fc.heads != mc->heads)
        return failf(err, cap, "'%s' is a model with %d attention heads, this one has %d",
                     path, fc.heads, mc->heads);
    size_t n;
    const struct gpt_param *params = gpt_param_table(m, &n);
    for (size_t i = 0; i < n; i++) {
        clt_st_info info;
        char a[64], b[64];
        if (clt_st_reader_find(r, params[i].name, &info) != CLT_OK)
            return failf(err, cap,
                         "'%s' has no tensor %s %s (it is a model of %d layers, "
                         "%d dims; this one has %d layers, %d dims)",
                         path, params[i].name,
                         shape_text(params[i].rank, params[i].shape, a, sizeof a),
                         fc.layers, fc.dim, mc->layers, mc->dim);
        bool same = info.dtype == CLT_ST_F32 && info.rank == params[i].rank;
        for (int k = 0; same && k < info.rank; k++)
            same = info.shape[k] == params[i].shape[k];
        if (!same)
            return failf(err, cap, "'%s': tensor %s is %s %s, the model's is F32 %s", path,
                         params[i].name, clt_st_dtype_name(info.dtype),
                         shape_text(info.rank, info.shape, a, sizeof a),
                         shape_text(params[i].rank, params[i].shape, b, sizeof b));
    }
    if (clt_st_reader_count(r) != n) {
        for (size_t i = 0; i < clt_st_reader_count(r); i++) {
            const char *name = clt_st_reader_name(r, i);
            bool known = false;
            for (size_t k = 0; !known && k < n; k++)
                known = strcmp(name, params[k].name) == 0;
            if (!known)
                return failf(err, cap,
                             "'%s' has tensor %s, which this model lacks (the file "
                             "is a model of %d layers, this one has %d)",
                             path, name, fc.layers, mc->layers);
        }
    }
    return true;
}

bool ckpt_load_model(clt_context *ctx, const char *dir, gpt_model *m, char *err, size_t cap)
{
    if (!ctx || !m)
        return failf(err, cap, "ckpt_load_model: no context or model");
    struct ckpt_paths p;
    clt_st_reader *r = NULL;
    clt_named_tensor *params = NULL;
    size_t n = 0;
    bool ok = open_model_file(dir, &p, &r, err, cap) &&
              model_matches_file(r, p.model, m, err, cap);
    clt_st_reader_close(r);
    ok = ok && (params = param_tensors(m, &n, err, cap)) != NULL;
    if (ok &&
        clt_checkpoint_load(ctx, p.model, params, n, CLT_CHECKPOINT_LOAD_STRICT) != CLT_OK)
        ok = failf(err, cap, "cannot load the checkpoint model: %s", clt_last_error());
    if (ok && gpt_sync_work(m) != CLT_OK)
        ok = failf(err, cap, "cannot update the model's working copy: %s", gpt_error(m));
    free(params);
    return ok;
}

bool ckpt_load_state(clt_context *ctx, const char *dir, const clt_named_tensor *state,
                     size_t n_state, char *err, size_t cap)
{
    if (!ctx || (n_state > 0 && !state))
        return failf(err, cap, "ckpt_load_state: no context or state tensors");
    struct ckpt_paths p;
    if (!find_pair(dir, &p, err, cap))
        return false;
    if (clt_checkpoint_load(ctx, p.state, state, n_state, CLT_CHECKPOINT_LOAD_STRICT) !=
        CLT_OK)
        return failf(err, cap, "cannot load the checkpoint state: %s", clt_last_error());
    return true;
}

bool ckpt_state_meta(const char *dir, const char *key, char *out, size_t cap, char *err,
                     size_t errcap)
{
    if (out && cap > 0)
        out[0] = '\0';
    if (!key || !out || cap == 0)
        return failf(err, errcap, "ckpt_state_meta: no key or output");
    struct ckpt_paths p;
    if (!find_pair(dir, &p, err, errcap))
        return false;
    if (clt_checkpoint_metadata(p.state, key, out, cap, NULL) != CLT_OK)
        return failf(err, errcap, "%s", clt_last_error());
    return true;
}
