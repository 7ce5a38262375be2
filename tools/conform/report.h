/* Reporting: the human table, --json (one document on stdout), --junit FILE, and
 * --list. Everything is gathered in device_run first; these functions only format. */
#ifndef CLT_CONFORM_REPORT_H
#define CLT_CONFORM_REPORT_H

#include <stdio.h>

#include "caps.h"
#include "conform.h"
#include "train_check.h"

/* Everything found on one device. */
typedef struct device_run {
    clt_device_info info;
    caps_report caps;
    bool opened;
    char open_error[1024];
    case_result *results;
    int nresults;
    bool train_ran;
    train_result train;
    double seconds;
} device_run;

/* How a failing case is replayed: the program name and the flags that select it. */
typedef struct replay_info {
    const char *prog; /* argv[0] */
} replay_info;

/* The command that replays only case r on device: "clt-conform --device opencl:0 --op
 * gemm --case 'f16 m=67 ...'". */
void report_replay_command(const replay_info *ri, const char *device, const case_result *r,
                           char *buf, size_t cap);

/* --list: every selected op (selected[k]), its parameters, dtypes, shape classes, case
 * counts (quick/full), tolerance and determinism promise. */
void report_list(FILE *out, const bool *selected);

/* The human report of one device: capabilities, then one line per case (as it runs,
 * through report_case_line), then the training check and a summary. */
void report_device_header(FILE *out, const device_run *run);
void report_case_line(FILE *out, const replay_info *ri, const device_run *run,
                      const case_result *r);
void report_device_footer(FILE *out, const device_run *run);

/* Whether anything on the device failed (a case, the training check, opening it). */
bool device_run_failed(const device_run *run);

/* One JSON document with every device, on out. false if it could not be written. */
bool report_json(FILE *out, const replay_info *ri, const device_run *runs, int n,
                 bool quick, double seconds);

/* JUnit XML: a testsuite per device, a testcase per case (and one for the training
 * check). false with errno's reason in err when the file cannot be written. */
bool report_junit(const char *path, const replay_info *ri, const device_run *runs, int n,
                  char *err, size_t cap);

#endif
