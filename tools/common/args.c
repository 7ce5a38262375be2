/* A tiny command-line parser; see args.h for the contract. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const args_option *find_option(const args_option *options, int n, const char *name,
                                      size_t name_len)
{
    for (int i = 0; i < n; i++)
        if (strlen(options[i].name) == name_len &&
            strncmp(options[i].name, name, name_len) == 0)
            return &options[i];
    return NULL;
}

/* Stores `value` into the option's target; false (with a message) if it does not
 * parse as the option's kind. */
static bool store_value(const char *prog, const args_option *opt, const char *value)
{
    char *end = NULL;
    errno = 0;
    switch (opt->kind) {
    case ARGS_STRING:
        *(const char **)opt->target = value;
        return true;
    case ARGS_INT: {
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno == ERANGE) {
            fprintf(stderr, "%s: %s expects an integer, got '%s'\n", prog, opt->name, value);
            return false;
        }
        *(int64_t *)opt->target = (int64_t)v;
        return true;
    }
    case ARGS_DOUBLE: {
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v)) {
            fprintf(stderr, "%s: %s expects a number, got '%s'\n", prog, opt->name, value);
            return false;
        }
        *(double *)opt->target = v;
        return true;
    }
    case ARGS_LIST: {
        args_list *list = opt->target;
        if (list->count >= ARGS_LIST_MAX) {
            fprintf(stderr, "%s: %s given more than %d times\n", prog, opt->name, ARGS_LIST_MAX);
            return false;
        }
        list->items[list->count++] = value;
        return true;
    }
    case ARGS_FLAG:
        break;
    }
    fprintf(stderr, "%s: %s takes no value\n", prog, opt->name);
    return false;
}

int args_parse(const char *prog, const args_option *options, int n, int argc, char **argv,
               int *n_positional)
{
    int n_pos = 0;
    bool options_ended = false;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        bool is_option = !options_ended && arg[0] == '-' && arg[1] != '\0';
        if (!is_option) {
            if (n_positional == NULL) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", prog, arg);
                return ARGS_USAGE_ERROR;
            }
            /* Positionals only ever move left, over options already consumed. */
            argv[1 + n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_ended = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const args_option *opt = find_option(options, n, arg, name_len);
        if (opt == NULL) {
            fprintf(stderr, "%s: unknown option '%.*s'\n", prog, (int)name_len, arg);
            return ARGS_USAGE_ERROR;
        }
        if (opt->kind == ARGS_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: %s takes no value\n", prog, opt->name);
                return ARGS_USAGE_ERROR;
            }
            *(bool *)opt->target = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value (%s)\n", prog, opt->name,
                        opt->metavar ? opt->metavar : "VALUE");
                return ARGS_USAGE_ERROR;
            }
            value = argv[++i];
        }
        if (!store_value(prog, opt, value))
            return ARGS_USAGE_ERROR;
    }
    if (n_positional)
        *n_positional = n_pos;
    return ARGS_OK;
}

void args_print_options(const args_option *options, int n, FILE *out)
{
    int width = 0;
    for (int i = 0; i < n; i++) {
        int w = (int)strlen(options[i].name);
        if (options[i].metavar)
            w += 1 + (int)strlen(options[i].metavar);
        if (w > width)
            width = w;
    }
    for (int i = 0; i < n; i++) {
        char left[128];
        snprintf(left, sizeof left, "%s%s%s", options[i].name, options[i].metavar ? " " : "",
                 options[i].metavar ? options[i].metavar : "");
        fprintf(out, "  %-*s  %s\n", width, left, options[i].help ? options[i].help : "");
    }
}
