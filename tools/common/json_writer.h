/* A streaming JSON writer for the tools' --json output.
 *
 * The writer puts commas, colons and indentation where they belong, so callers only
 * say what comes next: begin/end an object or array, a key, a value. Strings are
 * escaped and made valid UTF-8 (a stray byte becomes U+FFFD), so names that come from
 * a vendor's driver cannot break the document; doubles that are not finite are
 * written as null, since JSON has no NaN or infinity.
 *
 * Misuse (a value where a key is due, unbalanced ends, nesting deeper than
 * JSON_MAX_DEPTH) and write errors are remembered rather than printed: json_finish()
 * reports them once, at the end. */
#ifndef CLT_TOOLS_JSON_WRITER_H
#define CLT_TOOLS_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_writer {
    FILE *out;
    bool pretty;                       /* newlines and two-space indentation */
    int depth;                         /* open objects and arrays */
    bool in_object[JSON_MAX_DEPTH];    /* per level: object (true) or array (false) */
    bool has_items[JSON_MAX_DEPTH];    /* per level: a comma is due before the next item */
    bool key_pending;                  /* a key was written, its value is due */
    bool failed;                       /* misuse or a write error happened */
} json_writer;

void json_init(json_writer *w, FILE *out, bool pretty);

void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);

/* Inside an object, every value is preceded by exactly one key. */
void json_key(json_writer *w, const char *key);

void json_string(json_writer *w, const char *s); /* NULL writes null */
void json_int(json_writer *w, int64_t v);
void json_uint(json_writer *w, uint64_t v);
void json_double(json_writer *w, double v);      /* NaN and ±inf write null */
void json_bool(json_writer *w, bool v);
void json_null(json_writer *w);

/* Key and value in one call, for the common case. */
void json_kv_string(json_writer *w, const char *key, const char *v);
void json_kv_int(json_writer *w, const char *key, int64_t v);
void json_kv_uint(json_writer *w, const char *key, uint64_t v);
void json_kv_double(json_writer *w, const char *key, double v);
void json_kv_bool(json_writer *w, const char *key, bool v);

/* Ends the document with a newline and flushes. Returns false if the document is
 * incomplete, was misused, or could not be written. */
bool json_finish(json_writer *w);

#endif
