/* A tiny command-line parser shared by the tools.
 *
 * A tool describes its options in a table; args_parse() fills the targets, accepts
 * "--name value" and "--name=value", stops at "--", and keeps positional arguments
 * in order. Errors (unknown option, missing or malformed value) are reported on
 * stderr naming the option, and args_parse returns ARGS_USAGE_ERROR so the tool can
 * print its usage and exit 2. */
#ifndef CLT_TOOLS_ARGS_H
#define CLT_TOOLS_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum args_kind {
    ARGS_FLAG,   /* bool: present or not, takes no value */
    ARGS_STRING, /* const char *: points into argv */
    ARGS_INT,    /* int64_t: decimal, range-checked */
    ARGS_DOUBLE, /* double: finite */
    ARGS_LIST,   /* args_list: every occurrence appended, in order */
} args_kind;

/* The target of an ARGS_LIST option: the values of a repeatable option ("--shape A
 * --shape B"), pointing into argv. More than ARGS_LIST_MAX is a usage error. */
#define ARGS_LIST_MAX 64
typedef struct args_list {
    const char *items[ARGS_LIST_MAX];
    int count;
} args_list;

typedef struct args_option {
    const char *name;    /* with its dashes: "--device" */
    args_kind kind;
    void *target;        /* bool *, const char **, int64_t *, double * or args_list * */
    const char *metavar; /* value placeholder for usage: "NAME"; NULL for flags */
    const char *help;    /* one line */
} args_option;

enum { ARGS_OK = 0, ARGS_USAGE_ERROR = 2 };

/* Parses argv[1..argc-1] against `options` (n entries). Positional arguments are
 * moved, in order, to argv[1..*n_positional] (n_positional may be NULL if the tool
 * takes none; then a positional argument is an error). `prog` names the tool in
 * messages. Returns ARGS_OK or ARGS_USAGE_ERROR. */
int args_parse(const char *prog, const args_option *options, int n, int argc, char **argv,
               int *n_positional);

/* Prints the option table, one aligned line per option, to `out`. */
void args_print_options(const args_option *options, int n, FILE *out);

#endif
