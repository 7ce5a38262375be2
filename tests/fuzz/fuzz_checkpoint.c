/* Fuzzes what a resumed or sampled run reads from a checkpoint directory before it
 * trusts it: cltrain's pairing of model.safetensors and state.safetensors (their
 * checkpoint ids, the "*.next" files of an interrupted save, tools/cltrain/ckpt.c), the
 * model's config in its __metadata__, every state metadata field a resume reads, and
 * clt_checkpoint_load of optimizer-state tensors (runtime/checkpoint.c) into a host
 * context.
 *
 * The input is up to four files cut at FUZZ_SEP: model.safetensors, state.safetensors,
 * model.safetensors.next, state.safetensors.next (an empty part: no such file). They go
 * into a scratch directory, emptied before every input.
 *
 * Checked beyond "no crash": an accepted config is one gpt_config_valid accepts; a
 * metadata value returned fits its buffer; a refused load names its reason and leaves
 * the state buffer as it was; a load that succeeds wrote exactly the file's bytes. */
#include <stdbool.h>

#include <clt/clt.h>

#include "ckpt.h"
#include "fuzz_util.h"
#include "gpt.h"

/* The state tensors a load is asked for: one of each dtype a state file holds. */
#define STATE_BYTES 96
static const struct {
    const char *name;
    clt_dtype dtype;
    size_t offset;
    int rank;
    int64_t shape[2];
} state_layout[] = {
    {"exp_avg", CLT_DTYPE_F32, 0, 2, {2, 3}},
    {"codes", CLT_DTYPE_U8, 24, 2, {4, 4}},
    {"absmax", CLT_DTYPE_F32, 40, 1, {2}},
    {"scale", CLT_DTYPE_BF16, 48, 1, {4}},
    {"count", CLT_DTYPE_I32, 56, 1, {1}},
};
#define N_STATE (sizeof state_layout / sizeof state_layout[0])

static const char *const file_names[] = {"model.safetensors", "state.safetensors",
                                         "model.safetensors.next", "state.safetensors.next"};

static struct {
    const char *dir;
    clt_context *ctx;
    clt_buffer *buf;
    clt_named_tensor state[N_STATE];
} fx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fx.dir = fuzz_scratch_dir();
    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    opts.cache_dir = "";
    if (clt_context_create(&opts, &fx.ctx) != CLT_OK ||
        clt_buffer_create(fx.ctx, STATE_BYTES, CLT_TIER_HOST, &fx.buf) != CLT_OK) {
        fprintf(stderr, "fuzz setup: %s\n", clt_last_error());
        abort();
    }
    for (size_t i = 0; i < N_STATE; i++) {
        fx.state[i].name = state_layout[i].name;
        if (clt_tensor_init(&fx.state[i].tensor, fx.buf, state_layout[i].offset,
                            state_layout[i].dtype, state_layout[i].rank,
                            state_layout[i].shape) != CLT_OK) {
            fprintf(stderr, "fuzz setup: %s\n", clt_last_error());
            abort();
        }
    }
    return 0;
}

/* Every metadata field train.c's resume reads, with the buffer size it reads it into. */
static void check_state_meta(void)
{
    static const struct {
        const char *key;
        size_t cap;
    } fields[] = {{"optimizer", 64},   {"dtype", 64},       {"step", 64},
                  {"opt_step", 64},    {"good_steps", 64},  {"tokens_seen", 64},
                  {"loss_scale", 80},  {"data_rng", 80},    {"seed", 64},
                  {CKPT_ID_KEY, 64},   {"clt_version", 2}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char v[80], err[512];
        memset(v, 'x', sizeof v);
        bool ok = ckpt_state_meta(fx.dir, fields[i].key, v, fields[i].cap, err, sizeof err);
        FUZZ_CHECK(memchr(v, '\0', fields[i].cap) != NULL, "'%s': no NUL in %zu bytes",
                   fields[i].key, fields[i].cap);
        if (!ok)
            FUZZ_CHECK(err[0] != '\0' && v[0] == '\0', "'%s' refused without a reason",
                       fields[i].key);
    }
}

static void check_load_state(void)
{
    uint8_t before[STATE_BYTES], after[STATE_BYTES];
    for (size_t i = 0; i < STATE_BYTES; i++)
        before[i] = (uint8_t)(0xa5 ^ i);
    FUZZ_CHECK(clt_buffer_write(fx.buf, 0, before, STATE_BYTES, NULL) == CLT_OK, "%s",
               clt_last_error());
    char err[1024] = "";
    bool ok = ckpt_load_state(fx.ctx, fx.dir, fx.state, N_STATE, err, sizeof err);
    FUZZ_CHECK(clt_buffer_read(fx.buf, 0, after, STATE_BYTES, NULL) == CLT_OK, "%s",
               clt_last_error());
    if (!ok) {
        FUZZ_CHECK(err[0] != '\0', "a refused load without a reason");
        /* Only a read error in the middle of the data may leave tensors half loaded;
         * the files here do not shrink. */
        FUZZ_CHECK(memcmp(before, after, STATE_BYTES) == 0, "a refused load (%s) changed "
                   "the state", err);
        return;
    }
    /* Each tensor now holds its bytes in the file that was loaded. */
    char path[4200];
    snprintf(path, sizeof path, "%s/state.safetensors", fx.dir);
    clt_st_reader *r = NULL;
    FUZZ_CHECK(clt_st_reader_open(path, &r) == CLT_OK, "loaded, then unreadable: %s",
               clt_last_error());
    for (size_t i = 0; i < N_STATE; i++) {
        clt_st_info info;
        uint8_t want[STATE_BYTES];
        FUZZ_CHECK(clt_st_reader_find(r, state_layout[i].name, &info) == CLT_OK &&
                       info.bytes <= sizeof want &&
                       clt_st_reader_read(r, state_layout[i].name, want, info.bytes) ==
                           CLT_OK,
                   "'%s' loaded but not in the file", state_layout[i].name);
        FUZZ_CHECK(memcmp(after + state_layout[i].offset, want, info.bytes) == 0,
                   "'%s' loaded other bytes than the file's", state_layout[i].name);
    }
    clt_st_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[4];
    size_t len[4];
    size_t n = fuzz_split(data, size, part, len, 4);
    fuzz_dir_clear(fx.dir);
    for (size_t i = 0; i < n; i++)
        if (len[i] > 0)
            fuzz_write_file(fx.dir, file_names[i], part[i], len[i]);

    struct gpt_config cfg;
    char err[1024] = "", why[256];
    if (ckpt_read_config(fx.dir, &cfg, err, sizeof err))
        FUZZ_CHECK(gpt_config_valid(&cfg, why, sizeof why), "config accepted: %s", why);
    else
        FUZZ_CHECK(err[0] != '\0', "a refused config without a reason");
    check_state_meta();
    check_load_state();
    return 0;
}
