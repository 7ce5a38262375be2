/* Case generation: for every op clt has, its shape parameters, the dtypes it takes, the
 * shape classes it is tried at (edge sizes such as 1 and primes, tile multiples, large),
 * and how one case becomes tensors. Also the text form of a case, which --case parses
 * to replay it. */
#ifndef CLT_CONFORM_CASES_H
#define CLT_CONFORM_CASES_H

#include "conform.h"

/* Whether every op of CLT_OP_COUNT has an entry (a new op without one is a bug that
 * clt-conform refuses to run with); else a sentence in err naming the op. */
bool cases_table_complete(char *err, size_t cap);

/* The op's shape parameters, in the order of conform_case.values ("m", "n", ...). */
int cases_param_count(clt_op_kind op);
const char *cases_param_name(clt_op_kind op, int i);

/* Bit per clt_dtype: the storage dtypes the op is tried with. */
unsigned cases_dtypes(clt_op_kind op);

/* Whether the op promises the same bits from two runs on one device. */
bool cases_deterministic(clt_op_kind op);

/* The op's cases for one dtype, written to out (at most max); returns how many exist.
 * quick leaves the large shapes out. Each case's seed is derived from its op, dtype and
 * shape, so the same case has the same seed whatever else is selected. */
int cases_list(clt_op_kind op, clt_dtype dtype, bool quick, conform_case *out, int max);

/* The tensors and scalars of a case. */
void case_layout_build(const conform_case *c, case_layout *out);

/* Backward ops whose inputs must be consistent with a forward pass (attention's o and
 * lse, layernorm's mean and rstd, cross-entropy's lse): the forward case to run on the
 * host first and the names of its outputs that replace the inputs of the same name.
 * false when the op's inputs are all drawn at random. */
bool case_forward_of(const conform_case *c, conform_case *fwd, const char *const **names);

/* "m=67 n=13 k=129 ta=1 tb=0 batch=1 bias=1 cf32=0" */
void case_shape_text(const conform_case *c, char *buf, size_t cap);

/* "f16 m=67 ... seed=1234": the argument of --case. */
void case_text(const conform_case *c, char *buf, size_t cap);

/* Parses case_text's form for op. Parameters not given keep the op's first case's
 * values; the dtype must come first; seed defaults to the derived one. false with a
 * sentence in err on anything unknown or malformed. */
bool case_parse(clt_op_kind op, const char *text, conform_case *out, char *err, size_t cap);

#endif
