/* Fuzzes cltrain's data loader (tools/cltrain/data.c): text files checked as UTF-8,
 * directories listed, the corpus split, and training and validation batches cut from it.
 *
 * The input: a 14-byte header, then up to four files cut at FUZZ_SEP.
 *   byte 0      bit 0: pass the scratch directory (files "a", "a.dat", ".hidden", "b";
 *               an empty part makes no file) instead of the files as a list of paths
 *               (an empty part is an empty file)
 *   byte 1      ctx = 1 + byte % 64
 *   byte 2      validation fraction (1 + byte) / 257
 *   byte 3      B = 1 + byte % 8 windows per batch
 *   byte 4      T = 1 + byte % (2 ctx): beyond ctx the windows wrap around their split
 *   byte 5      the rng's seed
 *   bytes 6-13  k, the validation batch (int64, little-endian: negative and huge too)
 *
 * Checked beyond "no crash": a refusal has a reason; an accepted corpus holds exactly
 * the bytes of the files it should read (the directory rules of data.h), each split at
 * least ctx + 1 tokens; every window's targets are its tokens shifted by one; the same
 * rng state and k give the same batches. */
#include <stdbool.h>

#include "data.h"
#include "fuzz_util.h"
#include "rng.h"

#define HEADER 14
#define MAX_FILES 4

static const char *const dir_names[MAX_FILES] = {"a", "a.dat", ".hidden", "b"};
static const char *const list_names[MAX_FILES] = {"f0", "f1", "f2", "f3"};

static const char *scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch = fuzz_scratch_dir();
    return 0;
}

/* Within each window of T, targets[t] is the token after tokens[t]. */
static void check_windows(const int32_t *tokens, const int32_t *targets, int B, int T)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++)
            FUZZ_CHECK(targets[b * T + t] == tokens[b * T + t + 1],
                       "window %d: target %d is not the next token", b, t);
    for (int i = 0; i < B * T; i++)
        FUZZ_CHECK(tokens[i] >= 0 && tokens[i] < 256 && targets[i] >= 0 && targets[i] < 256,
                   "token %d out of the byte range", i);
}

static void check_batches(const data_corpus *d, int B, int T, uint64_t seed, int64_t k)
{
    const size_t n = (size_t)B * (size_t)T;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    int32_t *tok2 = malloc(n * sizeof *tok2), *tgt2 = malloc(n * sizeof *tgt2);
    FUZZ_CHECK(tok && tgt && tok2 && tgt2, "no memory");
    struct rng a, b;
    rng_seed(&a, seed);
    b = a;
    data_train_batch(d, &a, B, T, tok, tgt);
    check_windows(tok, tgt, B, T);
    data_train_batch(d, &b, B, T, tok2, tgt2);
    FUZZ_CHECK(memcmp(tok, tok2, n * sizeof *tok) == 0 && memcmp(&a, &b, sizeof a) == 0,
               "the same rng state gave another training batch");

    FUZZ_CHECK(data_val_windows(d, T) >= 1, "no validation window");
    data_val_batch(d, k, B, T, tok, tgt);
    check_windows(tok, tgt, B, T);
    data_val_batch(d, k, B, T, tok2, tgt2);
    FUZZ_CHECK(memcmp(tok, tok2, n * sizeof *tok) == 0, "batch %lld differs between calls",
               (long long)k);
    free(tok);
    free(tgt);
    free(tok2);
    free(tgt2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t h[HEADER] = {0};
    memcpy(h, data, size < HEADER ? size : HEADER);
    const uint8_t *rest = data + (size < HEADER ? size : HEADER);
    const size_t rest_n = size < HEADER ? 0 : size - HEADER;

    const bool as_dir = h[0] & 1;
    const int ctx = 1 + h[1] % 64;
    const double val_fraction = (1.0 + h[2]) / 257.0;
    const int B = 1 + h[3] % 8, T = 1 + h[4] % (2 * ctx);
    int64_t k = 0;
    for (int i = 13; i >= 6; i--)
        k = (int64_t)((uint64_t)k << 8 | h[i]);

    const uint8_t *part[MAX_FILES];
    size_t len[MAX_FILES];
    size_t n = fuzz_split(rest, rest_n, part, len, MAX_FILES);
    fuzz_dir_clear(scratch);

    char paths[MAX_FILES][4200];
    const char *list[MAX_FILES];
    size_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = as_dir ? dir_names[i] : list_names[i];
        snprintf(paths[i], sizeof paths[i], "%s/%s", scratch, name);
        list[i] = paths[i];
        if (as_dir && len[i] == 0)
            continue;
        fuzz_write_file(scratch, name, part[i], len[i]);
        /* What a directory reads: not hidden files, not "a.dat" beside "a". */
        bool read = !as_dir || (name[0] != '.' && !(i == 1 && len[0] > 0));
        expect += read ? len[i] : 0;
    }

    data_corpus *d = NULL;
    char err[1024] = "";
    const char *dir = scratch;
    bool ok = as_dir ? data_open(&dir, 1, ctx, val_fraction, &d, err, sizeof err)
                     : data_open(list, (int)n, ctx, val_fraction, &d, err, sizeof err);
    if (!ok) {
        FUZZ_CHECK(d == NULL && err[0] != '\0', "a refusal without a reason");
        return 0;
    }
    const size_t train = data_train_tokens(d), val = data_val_tokens(d);
    FUZZ_CHECK(train + val == expect, "%zu + %zu tokens from %zu bytes of files", train, val,
               expect);
    FUZZ_CHECK(train >= (size_t)ctx + 1 && val >= (size_t)ctx + 1,
               "splits %zu and %zu for ctx %d", train, val, ctx);
    FUZZ_CHECK(strlen(data_describe(d)) > 0, "no description");
    check_batches(d, B, T, h[5], k);
    data_close(d);
    return 0;
}
