/* clt-bench gemm's output: an aligned table for people, one JSON document for scripts. */
#ifndef CLT_BENCH_REPORT_H
#define CLT_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench/bench_gemm.h"

/* The table, the peers and the check, as text. */
void bench_report_text(const gemm_report *rep, FILE *out);

/* One JSON document on `out`: device, peers, every row with its medians, samples and
 * ratios, the check. False if it could not be written. */
bool bench_report_json(const gemm_report *rep, FILE *out);

#endif
