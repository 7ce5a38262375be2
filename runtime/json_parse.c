/* Strict recursive-descent JSON for file headers. Every error names the byte where the
 * text went wrong, so a corrupt file can be found with a hex dump. Strings decode into
 * one block sized from the text up front (a decoded string is never longer than its
 * quoted form), so only the node array grows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/json_parse.h"

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    int max_depth;
    clt_json_doc *doc;
} parser;

/* "end of text", "'x'" or "byte 0x1f", for "expected ..., found ..." sentences. */
static const char *describe(const parser *p, char *buf, size_t size)
{
    if (p->pos >= p->len)
        return "the end of the header";
    unsigned c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", (char)c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

static clt_status expected(const parser *p, const char *what)
{
    char buf[16];
    return clt_fail(CLT_ERR_FORMAT, "byte %zu: expected %s, found %s", p->pos, what,
                    describe(p, buf, sizeof buf));
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* Length of the UTF-8 sequence at s (at most n bytes available), or 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool clt_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static size_t put_utf8(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | cp >> 12);
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | cp >> 18);
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Four hex digits after "\u" at p->pos; advances past them. */
static clt_status hex4(parser *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++, p->pos++) {
        if (p->pos >= p->len)
            return expected(p, "four hex digits after \\u");
        unsigned c = p->s[p->pos];
        unsigned d = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : 16;
        if (d == 16)
            return expected(p, "four hex digits after \\u");
        v = v << 4 | d;
    }
    *out = v;
    return CLT_OK;
}

/* The escape after a backslash at p->pos; appends its UTF-8 to dst. */
static clt_status unescape(parser *p, char *dst, size_t *n)
{
    const size_t at = p->pos - 1;
    if (p->pos >= p->len)
        return expected(p, "an escape character after '\\'");
    unsigned c = p->s[p->pos++];
    static const char in[] = "\"\\/bfnrt", out[] = "\"\\/\b\f\n\r\t";
    const char *simple = c != 0 ? strchr(in, (int)c) : NULL;
    if (simple) {
        dst[(*n)++] = out[simple - in];
        return CLT_OK;
    }
    if (c != 'u') {
        p->pos--;
        return expected(p, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\u)");
    }
    uint32_t cp;
    clt_status st = hex4(p, &cp);
    if (st != CLT_OK)
        return st;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        /* A high surrogate must be followed by an escaped low one. */
        uint32_t lo = 0;
        if (p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
            p->pos += 2;
            if ((st = hex4(p, &lo)) != CLT_OK)
                return st;
        }
        if (lo < 0xdc00 || lo > 0xdfff)
            return clt_fail(CLT_ERR_FORMAT,
                            "byte %zu: \\u%04X is a high surrogate without a low one", at,
                            (unsigned)cp);
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        return clt_fail(CLT_ERR_FORMAT, "byte %zu: \\u%04X is a lone low surrogate", at,
                        (unsigned)cp);
    } else if (cp == 0) {
        return clt_fail(CLT_ERR_FORMAT, "byte %zu: \\u0000 is not allowed in a string", at);
    }
    *n += put_utf8(dst + *n, cp);
    return CLT_OK;
}

/* A string starting at the opening quote at p->pos; *out points into doc->strings. */
static clt_status parse_string(parser *p, const char **out)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return expected(p, "a string");
    const size_t start = p->pos++;
    char *dst = p->doc->strings + p->doc->strings_used;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len)
            return clt_fail(CLT_ERR_FORMAT, "byte %zu: string never ends", start);
        unsigned c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return clt_fail(CLT_ERR_FORMAT, "byte %zu: control character 0x%02x in a string",
                            p->pos, c);
        if (c == '\\') {
            p->pos++;
            clt_status st = unescape(p, dst, &n);
            if (st != CLT_OK)
                return st;
            continue;
        }
        size_t k = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (k == 0)
            return clt_fail(CLT_ERR_FORMAT, "byte %zu: invalid UTF-8 in a string", p->pos);
        memcpy(dst + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    dst[n] = '\0';
    p->doc->strings_used += n + 1;
    *out = dst;
    return CLT_OK;
}

static clt_status parse_int(parser *p, int64_t *out)
{
    const size_t start = p->pos;
    bool neg = false;
    if (p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return expected(p, "a digit");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9')
        return clt_fail(CLT_ERR_FORMAT, "byte %zu: number with a leading zero", start);
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = p->s[p->pos++] - '0';
        if (v > (limit - d) / 10)
            return clt_fail(CLT_ERR_FORMAT, "byte %zu: integer does not fit in 64 bits",
                            start);
        v = v * 10 + d;
    }
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return clt_fail(CLT_ERR_FORMAT,
                        "byte %zu: number with a fraction or exponent (only integers are "
                        "allowed)",
                        start);
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return CLT_OK;
}

static clt_status new_node(parser *p, clt_json_kind kind, const char *key, size_t *out)
{
    clt_json_doc *d = p->doc;
    if (d->n_nodes == d->cap_nodes) {
        size_t cap = d->cap_nodes ? d->cap_nodes * 2 : 64;
        clt_json_node *nodes = realloc(d->nodes, cap * sizeof *nodes);
        if (!nodes)
            return clt_fail(CLT_ERR_OUT_OF_MEMORY, "JSON: no memory for %zu values", cap);
        d->nodes = nodes;
        d->cap_nodes = cap;
    }
    d->nodes[d->n_nodes] = (clt_json_node){.kind = kind, .key = key,
                                           .first = CLT_JSON_NONE, .next = CLT_JSON_NONE};
    *out = d->n_nodes++;
    return CLT_OK;
}

static clt_status parse_value(parser *p, const char *key, int depth, size_t *out);

/* An object or array whose opening bracket is at p->pos. */
static clt_status parse_container(parser *p, const char *key, int depth, size_t *out)
{
    const bool is_obj = p->s[p->pos] == '{';
    const char close = is_obj ? '}' : ']';
    if (depth >= p->max_depth)
        return clt_fail(CLT_ERR_FORMAT, "byte %zu: nesting deeper than %d levels", p->pos,
                        p->max_depth);
    size_t self, prev = CLT_JSON_NONE;
    clt_status st = new_node(p, is_obj ? CLT_JSON_OBJECT : CLT_JSON_ARRAY, key, &self);
    if (st != CLT_OK)
        return st;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        *out = self;
        return CLT_OK;
    }
    for (;;) {
        const char *child_key = NULL;
        skip_ws(p);
        if (is_obj) {
            if ((st = parse_string(p, &child_key)) != CLT_OK)
                return st;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return expected(p, "':' after a key");
            p->pos++;
        }
        size_t child;
        if ((st = parse_value(p, child_key, depth + 1, &child)) != CLT_OK)
            return st;
        clt_json_node *nodes = p->doc->nodes;
        if (prev == CLT_JSON_NONE)
            nodes[self].first = child;
        else
            nodes[prev].next = child;
        nodes[self].count++;
        prev = child;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return expected(p, is_obj ? "',' or '}'" : "',' or ']'");
    }
    *out = self;
    return CLT_OK;
}

static clt_status parse_value(parser *p, const char *key, int depth, size_t *out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return expected(p, "a value");
    const unsigned c = p->s[p->pos];
    clt_status st;
    if (c == '{' || c == '[')
        return parse_container(p, key, depth, out);
    if (c == '"') {
        const char *s;
        if ((st = parse_string(p, &s)) != CLT_OK ||
            (st = new_node(p, CLT_JSON_STRING, key, out)) != CLT_OK)
            return st;
        p->doc->nodes[*out].str = s;
        return CLT_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v = 0;
        if ((st = parse_int(p, &v)) != CLT_OK ||
            (st = new_node(p, CLT_JSON_INT, key, out)) != CLT_OK)
            return st;
        p->doc->nodes[*out].num = v;
        return CLT_OK;
    }
    if (c == 't' || c == 'f' || c == 'n')
        return clt_fail(CLT_ERR_FORMAT, "byte %zu: true, false and null are not allowed here",
                        p->pos);
    return expected(p, "a value");
}

clt_status clt_json_parse(const char *text, size_t len, int max_depth, clt_json_doc *doc)
{
    *doc = (clt_json_doc){0};
    parser p = {.s = (const unsigned char *)text, .len = len, .max_depth = max_depth,
                .doc = doc};
    clt_status st = CLT_OK;
    doc->strings = malloc(len + 1);
    if (!doc->strings) {
        st = clt_fail(CLT_ERR_OUT_OF_MEMORY, "JSON: no memory for %zu bytes of text", len);
        goto done;
    }
    size_t root;
    if ((st = parse_value(&p, NULL, 0, &root)) != CLT_OK)
        goto done;
    skip_ws(&p);
    if (p.pos != len)
        st = expected(&p, "nothing after the value");
done:
    if (st != CLT_OK)
        clt_json_free(doc);
    return st;
}

void clt_json_free(clt_json_doc *doc)
{
    if (!doc)
        return;
    free(doc->nodes);
    free(doc->strings);
    *doc = (clt_json_doc){0};
}

const clt_json_node *clt_json_member(const clt_json_doc *doc, const clt_json_node *obj,
                                     const char *key)
{
    if (obj->kind != CLT_JSON_OBJECT)
        return NULL;
    for (size_t i = obj->first; i != CLT_JSON_NONE; i = doc->nodes[i].next)
        if (strcmp(doc->nodes[i].key, key) == 0)
            return &doc->nodes[i];
    return NULL;
}
