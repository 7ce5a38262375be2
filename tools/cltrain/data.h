/* cltrain's training data: UTF-8 text files as byte tokens (vocabulary 256, no tokenizer
 * to download), split into a training part and a held-out validation part.
 *
 * With no paths the default corpus is read: the plain-text fortune files of Debian's
 * `fortunes` package (DATA_DEFAULT_DIR; the `.dat` index files and links are skipped). */
#ifndef CLTRAIN_DATA_H
#define CLTRAIN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define DATA_DEFAULT_DIR "/usr/share/games/fortunes"

typedef struct data_corpus data_corpus;

/* Reads the files in order into one byte sequence; the last val_fraction of it
 * (0 < f < 1) is the validation split, the rest the training split. Each split must hold
 * at least ctx + 1 tokens. A directory stands for its regular files sorted by name
 * (bytewise), not recursing, skipping symbolic links, hidden files and the strfile index
 * "x.dat" beside a file "x" (so the fortunes directory reads as its text files only).
 *
 * Errors (false, with a sentence in err that names the file and what is wrong): a file
 * that is missing or unreadable, a path that is neither a file nor a directory (a pipe
 * or device has no end to read to), a directory without text files, an empty file, a
 * file that is not UTF-8 text (a NUL byte, an invalid or overlong sequence, a surrogate:
 * the sentence gives the byte offset and line), no paths and no default corpus
 * ("install the fortunes package or pass --data"), a split too small for ctx (the
 * sentence gives both sizes). */
bool data_open(const char *const *paths, int n_paths, int ctx, double val_fraction,
               data_corpus **out, char *err, size_t cap);
/* data_open with default_dir standing in for DATA_DEFAULT_DIR when n_paths is 0 (tests
 * use it to see the "no default corpus" error). */
bool data_open_with_default(const char *default_dir, const char *const *paths, int n_paths,
                            int ctx, double val_fraction, data_corpus **out, char *err,
                            size_t cap);
void data_close(data_corpus *d);

size_t data_train_tokens(const data_corpus *d);
size_t data_val_tokens(const data_corpus *d);
/* "3 files, 1.2 MiB", "fortunes (43 files, 2.5 MiB)" (one directory) or
 * "input.txt (12.3 KiB)" (one file): for the start of a run. */
const char *data_describe(const data_corpus *d);

/* Batches need 1 <= T <= the ctx given to data_open (then every window lies inside its
 * split; a larger T wraps around the split's end rather than reading past it).
 *
 * A training micro-batch: B windows of T + 1 tokens at offsets drawn from rng (uniform
 * over the training split): tokens[b·T + t] = window[t], targets[b·T + t] =
 * window[t + 1]. The same rng state gives the same batch. */
void data_train_batch(const data_corpus *d, struct rng *rng, int B, int T, int32_t *tokens,
                      int32_t *targets);
/* Rows [first, first + count) of that batch (0 <= first, first + count <= B) into tokens
 * and targets (count·T each), the rng advanced past all B rows: every rank of a
 * data-parallel run draws the global batch from the same rng and keeps its own rows. */
void data_train_rows(const data_corpus *d, struct rng *rng, int B, int first, int count,
                     int T, int32_t *tokens, int32_t *targets);

/* How many distinct validation windows of T + 1 tokens there are (at least 1): an
 * evaluation of ceil(windows / B) batches reads the whole validation split once. */
size_t data_val_windows(const data_corpus *d, int T);

/* The k-th validation micro-batch: B consecutive non-overlapping windows starting at
 * window B·k (wrapping around the validation split), so an evaluation of n batches
 * reads the same data every time. */
void data_val_batch(const data_corpus *d, int64_t k, int B, int T, int32_t *tokens,
                    int32_t *targets);
/* Rows [first, first + count) of that batch, as data_train_rows. */
void data_val_rows(const data_corpus *d, int64_t k, int B, int first, int count, int T,
                   int32_t *tokens, int32_t *targets);

#endif
