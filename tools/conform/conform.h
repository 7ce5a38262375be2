/* clt-conform's shared vocabulary: a case (one op, one dtype, one shape, one seed), the
 * tensors it builds, and what running it on a device found. */
#ifndef CLT_CONFORM_H
#define CLT_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <clt/clt.h>

#define CASE_MAX_PARAMS 8
#define CASE_MAX_TENSORS 10

/* One case: an op, the storage dtype of its floating tensors, the values of the op's
 * shape parameters (in the order cases.c names them), and the seed of its inputs. Its
 * text form, "f16 m=67 n=13 k=129 ta=1 tb=0 seed=1234", is what --case replays. */
typedef struct conform_case {
    clt_op_kind op;
    clt_dtype dtype;
    const char *shape_class; /* "edge", "prime", "tile", "large": for the report only */
    int64_t values[CASE_MAX_PARAMS];
    uint64_t seed;
} conform_case;

/* How a tensor's inputs are drawn (from the case's seed). */
typedef enum fill_kind {
    FILL_UNIFORM,  /* uniform in [lo, hi) */
    FILL_INDEX,    /* i32 in [0, hi): token ids, targets */
    FILL_CODES,    /* u8 in [0, 256): 8-bit state codes */
} fill_kind;

/* One tensor of a case: where it goes in the clt_op, its storage and shape, its
 * contents, and whether it is an output compared with the host. */
typedef struct tensor_spec {
    const char *name;
    size_t offset; /* of its clt_tensor within clt_op */
    clt_dtype dtype;
    int rank;
    int64_t shape[CLT_MAX_RANK];
    fill_kind fill;
    float lo, hi;
    bool output;
} tensor_spec;

/* The op with its scalars set, and the tensors the runner allocates and fills. */
typedef struct case_layout {
    clt_op op;
    int ntensors;
    tensor_spec t[CASE_MAX_TENSORS];
} case_layout;

/* Host copies of every tensor of a layout, in storage bytes. */
typedef struct case_data {
    unsigned char *bytes[CASE_MAX_TENSORS];
    size_t size[CASE_MAX_TENSORS];
} case_data;

typedef enum case_status { CASE_PASS, CASE_FAIL, CASE_SKIP } case_status;

/* What running one case found. message is heap-owned (the first mismatch, the error
 * text, or the build log), NULL when it passed. */
typedef struct case_result {
    conform_case c;
    case_status status;
    double seconds;
    double worst;          /* largest error over the allowed error (<= 1 passes) */
    bool determinism;      /* whether two device runs were compared bit for bit */
    char kernel[160];      /* clt_op_describe: the kernel variant the device used */
    char *message;
} case_result;

static inline const char *case_status_name(case_status s)
{
    return s == CASE_PASS ? "pass" : s == CASE_FAIL ? "FAIL" : "skip";
}

#endif
