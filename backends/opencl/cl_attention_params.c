/* Attention tile parameters as text, "key=value" pairs separated by spaces or commas:
 * the format of $CLT_ATTENTION_PARAMS (for experiments) and of log lines. Parsing starts
 * from the caller's values, so a text may give only the keys it changes; it is strict,
 * because a typo silently ignored would make an experiment measure the defaults. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"

struct field {
    const char *key;
    size_t offset;
    int lo, hi;
};

#define FIELD(key, lo, hi) {#key, offsetof(struct clt_cl_attention_params, key), lo, hi}
static const struct field fields[] = {
    FIELD(br, 1, 1024), FIELD(wg, 1, 1024), FIELD(bc, 1, 1024),
    FIELD(ju, 1, 64),   FIELD(du, 0, 128),  FIELD(split, 0, 128),
};
#define FIELD_COUNT ((int)(sizeof fields / sizeof fields[0]))

void clt_cl_attention_params_format(const struct clt_cl_attention_params *p, char *out,
                                    size_t size)
{
    snprintf(out, size, "br=%d wg=%d bc=%d ju=%d du=%d split=%d", p->br, p->wg, p->bc, p->ju,
             p->du, p->split);
}

static clt_status parse_pair(const char *key, const char *value,
                             struct clt_cl_attention_params *p)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        const struct field *f = &fields[i];
        if (strcmp(key, f->key) != 0)
            continue;
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (*end || errno || v < f->lo || v > f->hi)
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "CLT_ATTENTION_PARAMS: %s=%s is not a whole number in %d..%d", key,
                            value, f->lo, f->hi);
        *(int *)((char *)p + f->offset) = (int)v;
        return CLT_OK;
    }
    return clt_fail(CLT_ERR_INVALID_ARG,
                    "CLT_ATTENTION_PARAMS: unknown key '%s' (keys: br, wg, bc, ju, du, split)",
                    key);
}

clt_status clt_cl_attention_params_parse(const char *text, struct clt_cl_attention_params *p)
{
    struct clt_cl_attention_params out = *p;
    char pair[64];
    const char *s = text;
    while (*s) {
        s += strspn(s, " ,\t\n");
        size_t n = strcspn(s, " ,\t\n");
        if (n == 0)
            break;
        if (n >= sizeof pair)
            return clt_fail(CLT_ERR_INVALID_ARG, "CLT_ATTENTION_PARAMS: '%.40s...' is too long",
                            s);
        memcpy(pair, s, n);
        pair[n] = '\0';
        s += n;
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1])
            return clt_fail(CLT_ERR_INVALID_ARG,
                            "CLT_ATTENTION_PARAMS: '%s' is not key=value", pair);
        *eq = '\0';
        clt_status st = parse_pair(pair, eq + 1, &out);
        if (st != CLT_OK)
            return st;
    }
    *p = out;
    return CLT_OK;
}
