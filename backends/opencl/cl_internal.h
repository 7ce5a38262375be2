/* The OpenCL driver's insides, shared by its files: the device, memory and event
 * objects behind the runtime's opaque handles, and the helpers each file offers the
 * others. Only backends/opencl/ includes this (and with it the OpenCL headers). */
#ifndef CLT_CL_INTERNAL_H
#define CLT_CL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <pthread.h>

#include "runtime/buffer.h"
#include "runtime/driver.h"
#include "runtime/error.h"
#include "runtime/sha256.h"
#include "backends/opencl/cl_gemm_params.h"

extern const struct clt_driver clt_opencl_driver;

/* A program built for one device from one source with one set of options. */
struct clt_cl_program {
    char *file;                          /* "gemm.cl" */
    char *options;                       /* the full build options */
    const char *embedded_text;           /* the embedded source it came from, or NULL */
    uint8_t source_digest[CLT_SHA256_BYTES];  /* of the source, wherever it came from */
    cl_program program;
    struct clt_cl_program *next;
};

/* An open device: `base` is what the runtime holds (base.impl points back here). */
struct clt_cl_device {
    struct clt_dev base;
    int index;                           /* N of "opencl:N" */
    char label[32];                      /* "opencl:N", the prefix of every message */
    clt_device_info info;
    char device_version[CLT_NAME_MAX];   /* CL_DEVICE_VERSION, part of the cache key */

    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;              /* in order */
    /* The side queue (the driver's write_side/read_side): in order, for transfers that
     * overlap the queue's work. NULL when CLT_CL_COPY_QUEUE=0 or it could not be made:
     * side transfers then go on `queue`. */
    cl_command_queue side_queue;

    char *cache_dir;                     /* NULL: no on-disk cache */

    pthread_mutex_t programs_lock;       /* guards programs, and serialises builds */
    struct clt_cl_program *programs;

    clt_tune_mode tune;                  /* from the context: AUTO or OFF */
    pthread_mutex_t gemm_lock;           /* guards the GEMM parameters' resolution */
    bool gemm_params_ready;
    struct clt_cl_gemm_params gemm_params;

    /* The CPU family's packed panels, kept between GEMMs and grown on demand. The lock
     * is held from the first pack enqueued to the last kernel that reads the panels:
     * the queue is in order, so only another thread's enqueues could come between. */
    pthread_mutex_t scratch_lock;
    cl_mem scratch_a, scratch_b;
    size_t scratch_a_bytes, scratch_b_bytes;

    /* The optimizer kernels' q8 maps and thresholds (cl_optim.c), uploaded on first use
     * under scratch_lock and kept until close. */
    cl_mem q8_table;
};

struct clt_cl_mem {
    struct clt_mem base;                 /* base.impl points back here */
    cl_mem buffer;
    void *mapped;                        /* HOST_PINNED, once mapped: the CPU's pointer */
};

/* The driver's struct clt_dev_event: a cl_event and what it was, for messages. */
struct clt_cl_event {
    struct clt_cl_device *dev;
    cl_event event;
    const char *what;                    /* "clEnqueueReadBuffer", "gemm_f32" ... */
    clt_status failure;                  /* what its failure means: TRANSFER, LAUNCH */
};

static inline struct clt_cl_device *clt_cl_device_of(struct clt_dev *dev)
{
    return (struct clt_cl_device *)dev->impl;
}

/* The cl_mem behind a DEVICE or HOST_PINNED buffer of this driver. */
static inline cl_mem clt_cl_buffer_of(const clt_buffer *buf)
{
    return ((struct clt_cl_mem *)clt_buffer_mem(buf)->impl)->buffer;
}

/* ---- cl_errors.c ------------------------------------------------------------------ */

/* "CL_INVALID_WORK_GROUP_SIZE"; "CL_UNKNOWN_ERROR" for a code it does not know. */
const char *clt_cl_error_name(cl_int err);

/* The clt_status for a CL error: allocation failures are CLT_ERR_OUT_OF_MEMORY, a
 * vanished device CLT_ERR_DEVICE_LOST, compiler failures CLT_ERR_BUILD; anything else
 * is `otherwise` (CLT_ERR_TRANSFER for copies, CLT_ERR_LAUNCH for kernels ...). */
clt_status clt_cl_status_of(cl_int err, clt_status otherwise);

/* Fails with the sentence "<label>: <call> failed: <NAME> (<err>)", the status from
 * clt_cl_status_of(err, otherwise). `call` is printf-formatted. */
clt_status clt_cl_fail(const struct clt_cl_device *dev, cl_int err, clt_status otherwise,
                       const char *call_fmt, ...) CLT_PRINTF(4, 5);

/* ---- cl_launch.c ------------------------------------------------------------------ */

/* Kernel arguments in order; CLT_CL_ARG(x) passes x by address, CLT_CL_ARG_MEM(m) a
 * cl_mem that may be NULL (an absent optional tensor). A NULL value with a size is a
 * __local array of that many bytes. */
struct clt_cl_arg {
    size_t size;
    const void *value;
};
#define CLT_CL_ARG(x) {sizeof(x), &(x)}
#define CLT_CL_ARG_MEM(m) {sizeof(cl_mem), (m) ? (const void *)&(m) : NULL}

/* Sets args[0 .. count) on the kernel; CLT_ERR_LAUNCH naming the kernel and argument. */
clt_status clt_cl_set_args(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                           const struct clt_cl_arg *args, size_t count);

/* Enqueues the kernel over `dims` dimensions (local may be NULL); with `event` non-NULL,
 * *event is its event, NULL on failure. */
clt_status clt_cl_enqueue(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                          cl_uint dims, const size_t *global, const size_t *local,
                          cl_event *event);

/* ---- cl_driver.c ------------------------------------------------------------------ */

/* Logs through the context that opened the device. */
void clt_cl_log(const struct clt_cl_device *dev, clt_log_level level, const char *fmt, ...)
    CLT_PRINTF(3, 4);

/* Adds to the context's counters, under its stats lock. */
void clt_cl_count_build(struct clt_cl_device *dev, bool from_cache, double seconds);
void clt_cl_count_cache_rejected(struct clt_cl_device *dev);

/* Seconds on a monotonic clock, for timings. */
double clt_cl_now(void);

/* ---- cl_program.c ----------------------------------------------------------------- */

/* The program for kernels_cl/<file> built with `options` (the driver prepends
 * -cl-std=CL1.2), from the device's table, else the disk cache, else the compiler.
 * The program stays owned by the device. Errors: CLT_ERR_BUILD (the text names the
 * file and device and holds the build log), CLT_ERR_IO (no such source file). */
clt_status clt_cl_program_get(struct clt_cl_device *dev, const char *file,
                              const char *options, cl_program *out);

/* Releases every program of the device (at close). */
void clt_cl_programs_release(struct clt_cl_device *dev);

/* ---- cl_cache.c ------------------------------------------------------------------- */

/* The cache key of a program: SHA-256 over the cache format version, the platform,
 * device and driver identity, the build options and the source. */
void clt_cl_cache_key(const struct clt_cl_device *dev, const char *options,
                      const char *source, size_t source_length,
                      uint8_t key[CLT_SHA256_BYTES]);

/* Loads and builds the entry for `key`. Returns true with *out set on success; false if
 * there is no entry or it was rejected (logged at warn and counted). */
bool clt_cl_cache_load(struct clt_cl_device *dev, const char *file, const char *options,
                       const uint8_t key[CLT_SHA256_BYTES], cl_program *out);

/* Writes the program's binary as the entry for `key`, atomically, then evicts the
 * oldest entries beyond the size cap. Failures are logged at warn, never reported. */
void clt_cl_cache_store(struct clt_cl_device *dev, const char *file,
                        const uint8_t key[CLT_SHA256_BYTES], cl_program program);

/* ---- cl_file.c -------------------------------------------------------------------- */

/* Hashing for cache keys: each field goes in with its length first, so that no two
 * different lists of fields hash the same bytes ("ab"+"c" vs "a"+"bc"). */
void clt_cl_hash_field(struct clt_sha256 *h, const void *data, size_t n);
void clt_cl_hash_string(struct clt_sha256 *h, const char *s);
/* The device's identity: platform name and version, device name, device version,
 * driver version. */
void clt_cl_hash_device(struct clt_sha256 *h, const struct clt_cl_device *dev);

/* mkdir -p. False with the reason in `why` if the directory cannot be made. */
bool clt_cl_make_dirs(const char *dir, char *why, size_t why_cap);

/* Writes the chunks, in order, to a temporary file beside `path` in `dir`, fsyncs it and
 * renames it over `path`. False with the reason in `why`; nothing is left behind. */
struct clt_cl_chunk {
    const void *data;
    size_t size;
};
bool clt_cl_write_atomically(const char *dir, const char *path,
                             const struct clt_cl_chunk *chunks, int n_chunks, char *why,
                             size_t why_cap);

/* ---- cl_gemm.c -------------------------------------------------------------------- */

bool clt_cl_gemm_supports(const struct clt_cl_device *dev, const clt_gemm_args *args);

/* Enqueues the GEMM with the device's parameters (resolving them first if this is the
 * device's first GEMM: cl_tune.c); *event is the last kernel's event (caller owns it). */
clt_status clt_cl_gemm_enqueue(struct clt_cl_device *dev, const clt_gemm_args *args,
                               cl_event *event);

/* The kernel that `p` picks for this problem (direct below the flop threshold, else the
 * family, or CLBlast where it applies). */
enum clt_cl_gemm_kernel clt_cl_gemm_choose(const struct clt_cl_device *dev,
                                           const struct clt_cl_gemm_params *p,
                                           const clt_gemm_args *args);

/* Enqueues the GEMM with the given kernel and parameters: what the tuner measures.
 * CLT_ERR_UNSUPPORTED if that kernel cannot take this problem or these parameters do
 * not fit the device (work-group size, local memory). */
clt_status clt_cl_gemm_enqueue_with(struct clt_cl_device *dev, const clt_gemm_args *args,
                                    const struct clt_cl_gemm_params *p,
                                    enum clt_cl_gemm_kernel kernel, cl_event *event);

/* "gemm_cpu RM=6 NR=16 KU=2", "gemm_direct TS=16", "clblast" ... with parameters p. */
void clt_cl_gemm_describe(const struct clt_cl_device *dev, const clt_gemm_args *args,
                          const struct clt_cl_gemm_params *p, char *out, size_t size);

/* Releases the device's packing scratch (at close). */
void clt_cl_gemm_release(struct clt_cl_device *dev);

/* ---- the other ops, one family per file: cl_attention.c, cl_rows.c (softmax,
 * layernorm, cross-entropy), cl_elementwise.c (GELU, add, scale, bias, sqnorm),
 * cl_embedding.c ---------------------------------------------------------------------- */

/* Whether the family's kernels run this op (kind, dtypes, shapes) on the device. Answer
 * from kinds, dtypes and shapes alone (buffers may be NULL). */
bool clt_cl_attention_supports(const struct clt_cl_device *dev, const clt_op *op);
bool clt_cl_rows_supports(const struct clt_cl_device *dev, const clt_op *op);
bool clt_cl_elementwise_supports(const struct clt_cl_device *dev, const clt_op *op);
bool clt_cl_embedding_supports(const struct clt_cl_device *dev, const clt_op *op);

/* Enqueues a validated, supported op of the family; *event is the last kernel's event
 * (the caller owns it). Scratch goes through clt_dev_reserve. */
clt_status clt_cl_attention_enqueue(struct clt_cl_device *dev, const clt_op *op,
                                    cl_event *event);
clt_status clt_cl_rows_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event);
clt_status clt_cl_elementwise_enqueue(struct clt_cl_device *dev, const clt_op *op,
                                      cl_event *event);
clt_status clt_cl_embedding_enqueue(struct clt_cl_device *dev, const clt_op *op,
                                    cl_event *event);

/* ---- cl_optim.c: AdamW, SGD, LAMB (f32 or q8 states) and the 8-bit codecs ----------- */

/* Whether kernels_cl/optim.cl runs this op: every case but AdamW/LAMB with one state f32
 * and the other q8 (left to the host). From kinds and dtypes alone. */
bool clt_cl_optim_supports(const struct clt_cl_device *dev, const clt_op *op);

/* Enqueues a validated, supported optimizer or codec op; *event is the last kernel's
 * event (the caller owns it). */
clt_status clt_cl_optim_enqueue(struct clt_cl_device *dev, const clt_op *op, cl_event *event);

/* Releases the device's q8 table (at close). */
void clt_cl_optim_release(struct clt_cl_device *dev);

/* ---- cl_elementwise_launch.c: what the elementwise and embedding families share ---- */

/* Launch parameters of kernels_cl/elementwise.cl and embedding.cl, from a small table
 * keyed by device type (CPU, or anything else: GPU-like). The reductions' partitioning
 * follows from them and the shape only, so a device's results are reproducible. */
struct clt_cl_ew_params {
    size_t wg;             /* work-items per group, a power of two */
    cl_uint items;         /* vectors of four per work-item in the contiguous kernels */
    cl_int rows_per_item;  /* bias_add */
    cl_int bias_chunk;     /* bias_grad: rows per partial sum, at least */
    cl_int bias_partials;  /* bias_grad: partial sums per column, at most */
    size_t sqnorm_groups;  /* sqnorm: partial sums (work-groups), at most */
    size_t chunk;          /* embedding_bwd: positions per chunk, the chain's group size */
};
void clt_cl_ew_params_of(const struct clt_cl_device *dev, struct clt_cl_ew_params *out);

#define CLT_CL_EW_LOCAL(bytes) {(bytes), NULL}

/* Enqueues kernel `name` of kernels_cl/<file>, built for `dtype` (-DAB_DTYPE=d
 * -DC_DTYPE=d), over a 1-D range of `global` work-items rounded up to groups of
 * `local`. `event` NULL keeps no event; otherwise *event is the launch's (the caller
 * owns it). CLT_ERR_UNSUPPORTED when the compiled kernel cannot run `local` work-items
 * per group; CL errors through clt_cl_fail, naming the kernel. */
clt_status clt_cl_ew_launch(struct clt_cl_device *dev, const char *file, const char *name,
                            clt_dtype dtype, const struct clt_cl_arg *args, size_t n_args,
                            size_t global, size_t local, cl_event *event);

/* A scratch buffer of `bytes` for one op, counted against the device's budget (`what`
 * names it in an out-of-memory error). Free it with clt_cl_ew_scratch_free once the
 * kernels that use it are enqueued: OpenCL keeps the memory until they finish, the
 * budget gets the bytes back at once. */
clt_status clt_cl_ew_scratch(struct clt_cl_device *dev, size_t bytes, const char *what,
                             cl_mem *out);
void clt_cl_ew_scratch_free(struct clt_cl_device *dev, cl_mem mem, size_t bytes);

/* A tensor's offset in elements (its byte offset is a multiple of the element size). */
static inline cl_ulong clt_cl_elem_offset(const clt_tensor *t)
{
    return (cl_ulong)(t->offset / clt_dtype_size(t->dtype));
}

/* ---- cl_elementwise_reduce.c: the deterministic reductions of the family -------------- */

clt_status clt_cl_bias_grad_enqueue(struct clt_cl_device *dev, const clt_bias_grad_args *args,
                                    cl_event *event);
clt_status clt_cl_sqnorm_enqueue(struct clt_cl_device *dev, const clt_sqnorm_args *args,
                                 cl_event *event);

/* ---- cl_rows.c: what the row-wise family's files (cl_softmax.c, cl_layernorm.c,
 * cl_cross_entropy.c) share ------------------------------------------------------------ */

/* How a kernel of the family is laid out: local size (wg, rpg), vectors of vw elements.
 * Row kernels run wg work-items on each of rpg rows per group; the other kernels say in
 * their .cl file what the two dimensions mean. Built as -DWG -DRPG -DVW. */
struct clt_cl_rows_shape {
    int wg, rpg, vw;
};

/* The device's shapes, from its type (CPU, GPU, other): for row kernels on rows of `len`
 * elements, for layernorm's column sums, for one-group reductions. */
enum clt_cl_rows_use { CLT_CL_ROWS_ROW, CLT_CL_ROWS_COLUMNS, CLT_CL_ROWS_REDUCE };
struct clt_cl_rows_shape clt_cl_rows_shape_for(const struct clt_cl_device *dev,
                                               enum clt_cl_rows_use use, int64_t len);

/* A fresh kernel `name` of kernels_cl/<file>, built with *shape and -DAB_DTYPE=d
 * -DC_DTYPE=d for the storage dtype; the shape is halved (rpg first) until the compiled
 * kernel runs it, and *shape is what it runs. */
clt_status clt_cl_rows_kernel(struct clt_cl_device *dev, const char *file, const char *name,
                              clt_dtype dtype, struct clt_cl_rows_shape *shape,
                              cl_kernel *out);


/* Enqueues `kernel` over global (gx, gy) in groups of (shape.wg, shape.rpg); with `event`
 * non-NULL, *event is its event (NULL on failure). */
clt_status clt_cl_rows_launch(struct clt_cl_device *dev, cl_kernel kernel, const char *name,
                              size_t gx, size_t gy, struct clt_cl_rows_shape shape,
                              cl_event *event);

/* Runs row kernel `name` of kernels_cl/<file> (its first two arguments are the row count
 * and length, then `args`) on n_rows rows of `len` elements, in the device's row shape for
 * that length. */
clt_status clt_cl_rows_run(struct clt_cl_device *dev, const char *file, const char *name,
                           clt_dtype dtype, int64_t n_rows, int64_t len,
                           const struct clt_cl_arg *args, size_t count, cl_event *event);

/* A tensor as the kernels take it: its cl_mem (NULL when absent), the element offset of
 * element 0 and the row stride in elements (0 for a vector). */
struct clt_cl_rows_operand {
    cl_mem buf;
    cl_ulong offset;
    cl_long stride;
};
struct clt_cl_rows_operand clt_cl_rows_operand_of(const clt_tensor *t);

/* The ops, each in its file; *event is the last kernel's event (the caller owns it). */
clt_status clt_cl_softmax_enqueue(struct clt_cl_device *dev, const clt_softmax_args *args,
                                  cl_event *event);
clt_status clt_cl_softmax_bwd_enqueue(struct clt_cl_device *dev,
                                      const clt_softmax_bwd_args *args, cl_event *event);
/* lse (n,) f32 = log Σ exp over each row of x (n, V): cross-entropy's first kernel. */
clt_status clt_cl_softmax_lse_enqueue(struct clt_cl_device *dev, const clt_tensor *x,
                                      const clt_tensor *lse, cl_event *event);
clt_status clt_cl_layernorm_fwd_enqueue(struct clt_cl_device *dev,
                                        const clt_layernorm_fwd_args *args, cl_event *event);
clt_status clt_cl_layernorm_bwd_enqueue(struct clt_cl_device *dev,
                                        const clt_layernorm_bwd_args *args, cl_event *event);
clt_status clt_cl_cross_entropy_fwd_enqueue(struct clt_cl_device *dev,
                                            const clt_cross_entropy_fwd_args *args,
                                            cl_event *event);
clt_status clt_cl_cross_entropy_bwd_enqueue(struct clt_cl_device *dev,
                                            const clt_cross_entropy_bwd_args *args,
                                            cl_event *event);

/* ---- cl_device_arch.c ------------------------------------------------------------- */

/* Whether needle occurs in haystack, ASCII case ignored. */
bool clt_cl_contains_ignoring_case(const char *haystack, const char *needle);

/* The device's architecture as the parameter databases name it: "sm_70" from NVIDIA's
 * compute capability, "gfx906" from an AMD device name that is a gfx target; "" else. */
void clt_cl_architecture_of(const struct clt_cl_device *dev, char *out, size_t size);

/* ---- cl_gemm_db.c ----------------------------------------------------------------- */

/* The built-in parameters for this device: the most specific database entry (vendor →
 * architecture → device name), else the default for its device type. */
void clt_cl_gemm_default_params(const struct clt_cl_device *dev,
                                struct clt_cl_gemm_params *out);

/* Whether the parameters fit the device: work-group sizes, local memory, divisibility. */
bool clt_cl_gemm_params_fit(const struct clt_cl_device *dev,
                            const struct clt_cl_gemm_params *p);

/* ---- cl_clblast.c (CLT_HAVE_CLBLAST) ---------------------------------------------- */

/* Whether CLBlast can take this problem (dtypes, no bias, layout), and run it. */
bool clt_cl_clblast_supports(const struct clt_cl_device *dev, const clt_gemm_args *args);
clt_status clt_cl_clblast_enqueue(struct clt_cl_device *dev, const clt_gemm_args *args,
                                  cl_event *event);

/* ---- cl_tune.c -------------------------------------------------------------------- */

/* A copy of the device's GEMM parameters (clt_tune may replace them while other
 * threads run GEMMs), resolved once under the device's lock: from
 * $CLT_GEMM_PARAMS if set, else the tuning cache, else a measured search (CLT_TUNE_AUTO
 * with a cache directory), else the database defaults. */
clt_status clt_cl_gemm_params_get(struct clt_cl_device *dev, struct clt_cl_gemm_params *out);

/* The driver's `tune` entry: for GEMM, measures now (or, without CLT_TUNE_FORCE, takes a
 * sound cache entry), stores the winner and makes it the device's parameters. */
clt_status clt_cl_tune(struct clt_dev *dev, clt_op_kind kind, unsigned flags);

/* ---- cl_tune_cache.c --------------------------------------------------------------- */

/* Bump when the tuning file's layout, its key, or the meaning of a parameter changes. */
#define CLT_CL_TUNE_FORMAT_VERSION 1

/* <cache dir>/gemm-tune-<hex>.txt, hex the SHA-256 of the format version, the device's
 * identity and the embedded kernel sources. False (no tuning cache) without a cache
 * directory, or when kernels come from $CLT_KERNEL_DIR (entries are for the embedded
 * kernels). */
bool clt_cl_tune_cache_path(const struct clt_cl_device *dev, char *path, size_t cap);

enum clt_cl_tune_entry {
    CLT_CL_TUNE_ENTRY_NONE,      /* no entry, or no tuning cache */
    CLT_CL_TUNE_ENTRY_LOADED,    /* *out holds the entry's parameters */
    CLT_CL_TUNE_ENTRY_REJECTED,  /* corrupt, foreign or unfit: logged at warn */
};

/* Reads and checks the device's entry (header, identity, checksum, parameters that parse
 * and fit the device). Leaves the thread's error sentence as it was. */
enum clt_cl_tune_entry clt_cl_tune_cache_load(struct clt_cl_device *dev,
                                              struct clt_cl_gemm_params *out);

/* Writes the entry atomically. A failure is logged at warn, never reported. */
void clt_cl_tune_cache_store(struct clt_cl_device *dev, const struct clt_cl_gemm_params *p);

/* ---- cl_tune_search.c -------------------------------------------------------------- */

/* What a GEMM search measures: candidates are ranked by the summed median time of the
 * `large` problems (f32, M×N×K); the direct kernel's crossover is found on cubes of the
 * `crossover` sizes (ascending). Each time is the median of `repeats` runs after one
 * warm-up run (which also builds the program). */
#define CLT_CL_TUNE_MAX_PROBLEMS 2
#define CLT_CL_TUNE_MAX_CROSSOVER 6
struct clt_cl_tune_plan {
    struct {
        int m, n, k;
    } large[CLT_CL_TUNE_MAX_PROBLEMS];
    int n_large;
    int crossover[CLT_CL_TUNE_MAX_CROSSOVER];
    int n_crossover;
    int repeats;
};

/* The plan first use and clt_tune run: 512³ and 256×1024×768, crossover at 32³..256³,
 * median of 5. */
void clt_cl_tune_default_plan(struct clt_cl_tune_plan *plan);

/* Measures the candidates of the device's kernel family (both families with
 * CLT_TUNE_PEERS), the direct kernel's crossover, and CLBlast (on GPUs, or anywhere with
 * CLT_TUNE_PEERS) and writes the winner into *out. Candidates that do not build or run
 * are skipped. Errors: CLT_ERR_UNSUPPORTED when no candidate ran, CLT_ERR_DEVICE_LOST,
 * CLT_ERR_OUT_OF_MEMORY for the scratch buffers. */
clt_status clt_cl_gemm_search(struct clt_cl_device *dev, const struct clt_cl_tune_plan *plan,
                              unsigned flags, struct clt_cl_gemm_params *out);

/* ---- cl_gemm_params.c -------------------------------------------------------------- */

/* "family=cpu direct_below_flops=2e+06 ts=16 rm=6 nr=16 ku=2 mwg=64 ..." and back; the
 * format of the tuning cache and of $CLT_GEMM_PARAMS (which may give only some keys,
 * the rest coming from the defaults). */
void clt_cl_gemm_params_format(const struct clt_cl_gemm_params *p, char *out, size_t size);
clt_status clt_cl_gemm_params_parse(const char *text, struct clt_cl_gemm_params *p);

/* ---- cl_attention.c, cl_attention_db.c, cl_attention_params.c ----------------------- */

/* The tiles of kernels_cl/attention.cl, build options all. A work-group of `wg`
 * work-items owns br rows (query rows in the forward and dQ kernels, key rows in dK/dV),
 * br/wg of them per work-item as the lanes of a vector; the other operand streams
 * through local memory `bc` rows at a time, `ju` rows per register block (the step of
 * the online softmax); the loops over d are unrolled `du` times (0: all of d, which
 * keeps a GPU's accumulators in registers). From head size `split` on (0: never), dK
 * and dV are two launches, each with one accumulator per column (GPU registers). */
struct clt_cl_attention_params {
    int br, wg, bc, ju, du, split;
};

enum clt_cl_attention_kernel {
    CLT_CL_ATTENTION_FWD,
    CLT_CL_ATTENTION_DKDV,
    CLT_CL_ATTENTION_DQ,
};

/* The kernels and tiles an attention op runs with, for clt_op_describe:
 * "attention_fwd br=32 wg=2 bc=16 ju=16 du=1 split=0". */
clt_status clt_cl_attention_describe(const struct clt_cl_device *dev, const clt_op *op,
                                     char *out, size_t size);

/* "attention_fwd", "attention_bwd_dkdv", "attention_bwd_dq": the kernel's name. */
const char *clt_cl_attention_kernel_name(enum clt_cl_attention_kernel kernel);

/* The built-in parameters for this device (vendor → architecture → device name, with a
 * default at each level), before fitting. */
void clt_cl_attention_default_params(const struct clt_cl_device *dev,
                                     struct clt_cl_attention_params *out);

/* Local memory in bytes that `kernel` declares with these parameters and head size. */
uint64_t clt_cl_attention_local_bytes(const struct clt_cl_attention_params *p, int head_dim,
                                      enum clt_cl_attention_kernel kernel);

/* Whether the parameters are well formed (br/wg one of 1, 2, 4, 8, 16; ju divides bc
 * ...) and fit the device for `kernel` at this head size (work-items, local memory). */
bool clt_cl_attention_params_fit(const struct clt_cl_device *dev,
                                  const struct clt_cl_attention_params *p, int head_dim,
                                  enum clt_cl_attention_kernel kernel);

/* Shrinks *p until it fits: halves the larger of the owned rows' and the tiles' share of
 * local memory (keeping 32 work-items per group while the tiles can shrink instead),
 * then ju. False if not even one row per tile fits. */
bool clt_cl_attention_params_shrink(const struct clt_cl_device *dev,
                                    struct clt_cl_attention_params *p, int head_dim,
                                    enum clt_cl_attention_kernel kernel);

/* The parameters `kernel` runs with: $CLT_ATTENTION_PARAMS over the defaults when set
 * (used as given: CLT_ERR_INVALID_ARG if they are malformed or do not fit), else the
 * device's defaults shrunk to fit. *from_env says which. */
clt_status clt_cl_attention_params_get(const struct clt_cl_device *dev, int head_dim,
                                       enum clt_cl_attention_kernel kernel,
                                       struct clt_cl_attention_params *out, bool *from_env);

/* "br=32 wg=2 bc=16 ju=16 du=1 split=0" and back: the format of $CLT_ATTENTION_PARAMS,
 * which may give only some keys (the rest keep *p's values). Strict: an unknown key, a
 * value that is not a whole number in range, or a malformed pair is CLT_ERR_INVALID_ARG. */
void clt_cl_attention_params_format(const struct clt_cl_attention_params *p, char *out,
                                    size_t size);
clt_status clt_cl_attention_params_parse(const char *text, struct clt_cl_attention_params *p);

#endif
