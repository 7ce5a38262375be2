/* Fuzzes the strict JSON parser of file headers (runtime/json_parse.c): the input is the
 * text, parsed at the depth limit the safetensors reader uses and at a deeper one.
 *
 * Checked beyond "no crash": a failure is CLT_ERR_FORMAT (or out of memory) with a
 * sentence that starts "byte N: " where N lies inside the text or at its end, and
 * leaves the document empty; a success is a tree whose links stay inside the node
 * array, whose counts match the children linked, whose keys appear exactly on members
 * of objects, whose strings are valid UTF-8 without NUL, whose nesting respects the
 * limit, and whose every node is reached from the root exactly once. */
#include <stdbool.h>

#include "fuzz_util.h"
#include "runtime/error.h"
#include "runtime/json_parse.h"

/* Depth-first walk from node i, at depth `depth` (the root is 0); counts visits. */
static void check_node(const clt_json_doc *doc, size_t i, bool in_object, int depth,
                       int max_depth, size_t *visits)
{
    FUZZ_CHECK(i < doc->n_nodes, "node %zu of %zu", i, doc->n_nodes);
    const clt_json_node *n = &doc->nodes[i];
    (*visits)++;
    FUZZ_CHECK((n->key != NULL) == in_object, "node %zu: key %s", i, n->key ? "set" : "NULL");
    if (n->key)
        FUZZ_CHECK(clt_utf8_valid(n->key, strlen(n->key)), "node %zu: key not UTF-8", i);
    switch (n->kind) {
    case CLT_JSON_STRING:
        FUZZ_CHECK(n->str && clt_utf8_valid(n->str, strlen(n->str)),
                   "node %zu: string not UTF-8", i);
        break;
    case CLT_JSON_INT:
        break;
    case CLT_JSON_OBJECT:
    case CLT_JSON_ARRAY: {
        FUZZ_CHECK(depth < max_depth, "container at depth %d, limit %d", depth, max_depth);
        size_t count = 0;
        for (size_t c = n->first; c != CLT_JSON_NONE; c = doc->nodes[c].next) {
            FUZZ_CHECK(c > i && c < doc->n_nodes, "child %zu of node %zu", c, i);
            check_node(doc, c, n->kind == CLT_JSON_OBJECT, depth + 1, max_depth, visits);
            count++;
            if (n->kind == CLT_JSON_OBJECT)
                FUZZ_CHECK(clt_json_member(doc, n, doc->nodes[c].key) != NULL,
                           "member '%s' not found", doc->nodes[c].key);
        }
        FUZZ_CHECK(count == n->count, "node %zu: count %zu, %zu linked", i, n->count, count);
        break;
    }
    default:
        FUZZ_CHECK(false, "node %zu: kind %d", i, (int)n->kind);
    }
}

static void parse_once(const char *text, size_t n, int max_depth)
{
    clt_json_doc doc;
    clt_status st = clt_json_parse(text, n, max_depth, &doc);
    if (st != CLT_OK) {
        FUZZ_CHECK(st == CLT_ERR_FORMAT || st == CLT_ERR_OUT_OF_MEMORY, "status %s",
                   clt_status_name(st));
        FUZZ_CHECK(doc.nodes == NULL && doc.n_nodes == 0, "a failed parse left nodes");
        if (st == CLT_ERR_FORMAT) {
            unsigned long long at = 0;
            FUZZ_CHECK(sscanf(clt_last_error(), "byte %llu: ", &at) == 1 && at <= n,
                       "error sentence '%s' for %zu bytes", clt_last_error(), n);
        }
    } else {
        FUZZ_CHECK(doc.n_nodes > 0, "success without a root");
        size_t visits = 0;
        check_node(&doc, 0, false, 0, max_depth, &visits);
        FUZZ_CHECK(visits == doc.n_nodes, "%zu nodes, %zu reached", doc.n_nodes, visits);
    }
    clt_json_free(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Its own copy, exactly `size` long, so that reading one byte past the text is an
     * overflow the sanitizer reports (libFuzzer's buffer may be larger). */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    parse_once(text, size, 4); /* safetensors' ST_MAX_DEPTH */
    parse_once(text, size, 64);
    free(text);
    return 0;
}
