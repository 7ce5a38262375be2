/* clt-bench offload, NVMe part: the NVME tier's write and read bandwidth against the
 * raw sequential O_DIRECT bandwidth of the same directory, measured in the same run,
 * in interleaved rounds. The raw rows are the bench's own: a file in the directory,
 * preallocated, moved in 4 MiB pwrite/pread calls from one aligned block (what
 * `dd bs=4M oflag=direct` measures). The tier's rows go through the public API only:
 * clt_buffer_copy between a HOST buffer and an NVME buffer, and between a HOST_PINNED
 * buffer of --device and the same NVME buffer. Rates are GB/s (1e9 bytes/s) at the
 * median; ratios are a tier row's rate over the raw row of the same direction, each
 * with issue 8's goal (>= 0.8). The training rows that follow in the same run are
 * bench_offload_train.h's. */
#ifndef CLT_BENCH_OFFLOAD_H
#define CLT_BENCH_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <clt/clt.h>

#include "bench/bench_offload_train.h"
#include "bench/bench_output.h"

typedef struct offload_bench_opts {
    const char *device;   /* for the HOST_PINNED rows; NULL: clt's default device */
    const char *nvme_dir; /* NULL: $CLT_NVME_DIR, else $TMPDIR, else /tmp (the context's) */
    size_t bytes;         /* per transfer; rounded up to a multiple of 4096 */
    int repeat;
} offload_bench_opts;

/* In the order each round runs them: each read right after the write of the same file,
 * so that a disk (or a virtual disk's host) that caches recent writes favours no row. */
enum offload_row {
    OFFLOAD_RAW_WRITE,     /* the bench's O_DIRECT pwrite loop */
    OFFLOAD_RAW_READ,      /* the bench's O_DIRECT pread loop */
    OFFLOAD_NVME_WRITE,    /* HOST -> NVME */
    OFFLOAD_NVME_READ,     /* NVME -> HOST */
    OFFLOAD_PINNED_WRITE,  /* HOST_PINNED -> NVME */
    OFFLOAD_PINNED_READ,   /* NVME -> HOST_PINNED */
    OFFLOAD_ROWS
};

#define OFFLOAD_RATIOS 4

typedef struct offload_report {
    clt_device_info device;
    char nvme_dir[1024];
    char fs_type[32];          /* "ext4", "tmpfs", ... or "0x..." */
    char block_device[64];     /* "nvme0n1", "vda", ... or "" when unknown */
    char tier_io[512];         /* what the tier said it does (its log) */
    char tier_warnings[512];   /* its fallbacks (log warnings), "" when none */
    bool raw_direct;           /* the raw rows got O_DIRECT */
    size_t bytes;
    int repeat;
    bench_result rows[OFFLOAD_ROWS];  /* rate: GB/s */
    double ratios[OFFLOAD_RATIOS];    /* see offload_ratio_names in the .c */
    bool checked, check_ok;           /* the NVME buffer held the bytes written */
    char error[512];
    bool trained;                     /* the training part ran (train is filled) */
    offload_train_report train;
} offload_report;

/* Measures into `report`. Returns 0, or 1 when a run or the check failed. */
int bench_offload_run(const offload_bench_opts *opts, offload_report *report);

/* The NVMe part, then the training part when report->trained. */
void bench_offload_text(const offload_report *report, FILE *out);
bool bench_offload_json(const offload_report *report, FILE *out);

#endif
