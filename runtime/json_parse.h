/* A small strict JSON parser for file headers (safetensors): objects, arrays, strings
 * and integers only. Fractions, exponents, true, false and null are refused, since no
 * header we read holds them and accepting them would only hide corrupt files. */
#ifndef CLT_RUNTIME_JSON_PARSE_H
#define CLT_RUNTIME_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clt/status.h"

#define CLT_JSON_NONE ((size_t)-1)

typedef enum clt_json_kind {
    CLT_JSON_OBJECT,
    CLT_JSON_ARRAY,
    CLT_JSON_STRING,
    CLT_JSON_INT,
} clt_json_kind;

/* One value. Children of an object or array are linked by index (the node array grows
 * while parsing, so pointers would not stay valid). */
typedef struct clt_json_node {
    clt_json_kind kind;
    const char *key;  /* the member's name when the parent is an object, else NULL */
    const char *str;  /* STRING: decoded UTF-8, NUL-terminated (\u0000 is refused) */
    int64_t num;      /* INT */
    size_t count;     /* OBJECT, ARRAY: number of children */
    size_t first;     /* OBJECT, ARRAY: index of the first child, or CLT_JSON_NONE */
    size_t next;      /* index of the next sibling, or CLT_JSON_NONE */
} clt_json_node;

typedef struct clt_json_doc {
    clt_json_node *nodes; /* nodes[0] is the root */
    size_t n_nodes, cap_nodes;
    char *strings; /* decoded keys and strings, each NUL-terminated */
    size_t strings_used;
} clt_json_doc;

/* Parses text[0, len): one value, with only whitespace around it. On failure returns
 * CLT_ERR_FORMAT with a sentence starting "byte N: " (N counted from text) and leaves
 * doc empty; CLT_ERR_OUT_OF_MEMORY if memory runs out. Nesting deeper than max_depth is
 * refused. Free the doc with clt_json_free in both cases. */
clt_status clt_json_parse(const char *text, size_t len, int max_depth, clt_json_doc *doc);

void clt_json_free(clt_json_doc *doc);

/* The member of an object node named key, or NULL (the first, if repeated). */
const clt_json_node *clt_json_member(const clt_json_doc *doc, const clt_json_node *obj,
                                     const char *key);

/* Whether s[0, len) is well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
bool clt_utf8_valid(const char *s, size_t len);

#endif
