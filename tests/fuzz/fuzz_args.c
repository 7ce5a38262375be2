/* Fuzzes the tools' shared command-line parser (tools/common/args.c) against a table with
 * every kind of option, once taking positional arguments and once refusing them. The
 * input is the argument list, NUL-separated (argv[0] is "fuzz").
 *
 * Checked beyond "no crash", against args.h's contract: after ARGS_OK the positionals
 * are the original non-option arguments in their order (everything after "--", and
 * "-" itself, included), at most argc - 1 of them; a list holds at most ARGS_LIST_MAX
 * values, each one of the original arguments or a suffix of one ("--name=value"); a
 * string option points into argv the same way; a double is finite. A refusal is
 * ARGS_USAGE_ERROR. */
#include <math.h>
#include <stdbool.h>

#include "common/args.h"
#include "fuzz_util.h"

#define MAX_ARGS 512

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!(devnull = fopen("/dev/null", "w")))
        fuzz_die("/dev/null");
    return 0;
}

/* Whether p points into one of the original arguments (at its start or after an '='). */
static bool points_into_argv(const char *p, const fuzz_cmdline *c)
{
    for (int i = 1; i < c->argc; i++) {
        const char *a = c->owned[i];
        size_t len = strlen(a);
        if (p == a)
            return true;
        if (p > a && p <= a + len && p[-1] == '=')
            return true;
    }
    return false;
}

static void parse(const uint8_t *data, size_t size, bool positionals)
{
    fuzz_cmdline c;
    fuzz_cmdline_init(&c, "fuzz", data, size, MAX_ARGS);
    bool flag = false;
    const char *str = NULL;
    int64_t num = 0;
    double real = 0;
    args_list list = {.count = 0};
    const args_option options[] = {
        {"--flag", ARGS_FLAG, &flag, NULL, "a flag"},
        {"--str", ARGS_STRING, &str, "S", "a string"},
        {"--num", ARGS_INT, &num, "N", "an integer"},
        {"--real", ARGS_DOUBLE, &real, "X", "a number"},
        {"--list", ARGS_LIST, &list, "V", "repeatable"},
        {"-o", ARGS_STRING, &str, "FILE", "a short option"},
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int n_pos = -1;
    int rc = args_parse("fuzz", options, n_options, c.argc, c.argv,
                        positionals ? &n_pos : NULL);
    FUZZ_CHECK(rc == ARGS_OK || rc == ARGS_USAGE_ERROR, "returned %d", rc);
    if (rc == ARGS_OK) {
        FUZZ_CHECK(list.count >= 0 && list.count <= ARGS_LIST_MAX, "list of %d", list.count);
        for (int i = 0; i < list.count; i++)
            FUZZ_CHECK(points_into_argv(list.items[i], &c), "list value %d", i);
        FUZZ_CHECK(!str || points_into_argv(str, &c), "string value");
        FUZZ_CHECK(isfinite(real), "a double that is not finite");
        if (positionals) {
            FUZZ_CHECK(n_pos >= 0 && n_pos <= c.argc - 1, "%d positionals of %d arguments",
                       n_pos, c.argc - 1);
            /* In order: each one later in the original list than the one before. */
            int at = 0;
            for (int p = 1; p <= n_pos; p++) {
                int i = at + 1;
                while (i < c.argc && c.owned[i] != c.argv[p])
                    i++;
                FUZZ_CHECK(i < c.argc, "positional %d is not a later argument", p);
                at = i;
            }
        }
    }
    args_print_options(options, n_options, devnull);
    fuzz_cmdline_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, true);
    parse(data, size, false);
    return 0;
}
