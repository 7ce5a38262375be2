/* A streaming JSON writer; see json_writer.h for the contract. */
#include "json_writer.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void json_init(json_writer *w, FILE *out, bool pretty)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->pretty = pretty;
}

static void put(json_writer *w, const char *s, size_t n)
{
    if (n > 0 && fwrite(s, 1, n, w->out) != n)
        w->failed = true;
}

static void puts_raw(json_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void newline_and_indent(json_writer *w)
{
    if (!w->pretty)
        return;
    put(w, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        put(w, "  ", 2);
}

/* Everything that starts a value goes through here: it checks that a value may come
 * now and writes the separator (comma, newline) that belongs in front of it. */
static bool begin_value(json_writer *w)
{
    if (w->depth == 0) {
        if (w->has_items[0]) { /* a second top-level value: not one document */
            w->failed = true;
            return false;
        }
        w->has_items[0] = true;
        return true;
    }
    if (w->in_object[w->depth]) {
        if (!w->key_pending) { /* an object member without a key */
            w->failed = true;
            return false;
        }
        w->key_pending = false;
        return true;
    }
    if (w->has_items[w->depth])
        put(w, ",", 1);
    w->has_items[w->depth] = true;
    newline_and_indent(w);
    return true;
}

/* Writes `s` as a JSON string: quotes, escapes for '"', '\\' and control characters,
 * and U+FFFD in place of every byte that does not start a valid UTF-8 sequence. */
static void put_quoted(json_writer *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    put(w, "\"", 1);
    while (*p) {
        unsigned char c = p[0];
        if (c < 0x80) {
            char esc[8];
            switch (c) {
            case '"': put(w, "\\\"", 2); break;
            case '\\': put(w, "\\\\", 2); break;
            case '\b': put(w, "\\b", 2); break;
            case '\f': put(w, "\\f", 2); break;
            case '\n': put(w, "\\n", 2); break;
            case '\r': put(w, "\\r", 2); break;
            case '\t': put(w, "\\t", 2); break;
            default:
                if (c < 0x20) {
                    snprintf(esc, sizeof esc, "\\u%04x", c);
                    put(w, esc, 6);
                } else {
                    put(w, (const char *)p, 1);
                }
            }
            p++;
            continue;
        }
        /* Length of a well-formed sequence starting with c, and the range its second
         * byte must fall in (which excludes overlong forms and surrogates). */
        int len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) { len = 3; lo = 0xA0; }
        else if (c >= 0xE1 && c <= 0xEC) len = 3;
        else if (c == 0xED) { len = 3; hi = 0x9F; }
        else if (c >= 0xEE && c <= 0xEF) len = 3;
        else if (c == 0xF0) { len = 4; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) { len = 4; hi = 0x8F; }
        bool valid = len > 0 && p[1] >= lo && p[1] <= hi;
        for (int i = 2; valid && i < len; i++)
            valid = p[i] >= 0x80 && p[i] <= 0xBF;
        if (valid) {
            put(w, (const char *)p, (size_t)len);
            p += len;
        } else {
            put(w, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
            p++;
        }
    }
    put(w, "\"", 1);
}

static void open_container(json_writer *w, bool object)
{
    if (!begin_value(w))
        return;
    if (w->depth + 1 >= JSON_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put(w, object ? "{" : "[", 1);
    w->depth++;
    w->in_object[w->depth] = object;
    w->has_items[w->depth] = false;
}

static void close_container(json_writer *w, bool object)
{
    if (w->depth == 0 || w->in_object[w->depth] != object || w->key_pending) {
        w->failed = true;
        return;
    }
    bool had_items = w->has_items[w->depth];
    w->depth--;
    if (had_items)
        newline_and_indent(w);
    put(w, object ? "}" : "]", 1);
}

void json_begin_object(json_writer *w) { open_container(w, true); }
void json_end_object(json_writer *w) { close_container(w, true); }
void json_begin_array(json_writer *w) { open_container(w, false); }
void json_end_array(json_writer *w) { close_container(w, false); }

void json_key(json_writer *w, const char *key)
{
    if (w->depth == 0 || !w->in_object[w->depth] || w->key_pending || key == NULL) {
        w->failed = true;
        return;
    }
    if (w->has_items[w->depth])
        put(w, ",", 1);
    w->has_items[w->depth] = true;
    newline_and_indent(w);
    put_quoted(w, key);
    puts_raw(w, w->pretty ? ": " : ":");
    w->key_pending = true;
}

void json_string(json_writer *w, const char *s)
{
    if (s == NULL) {
        json_null(w);
        return;
    }
    if (begin_value(w))
        put_quoted(w, s);
}

void json_int(json_writer *w, int64_t v)
{
    char buf[32];
    if (begin_value(w)) {
        snprintf(buf, sizeof buf, "%" PRId64, v);
        puts_raw(w, buf);
    }
}

void json_uint(json_writer *w, uint64_t v)
{
    char buf[32];
    if (begin_value(w)) {
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        puts_raw(w, buf);
    }
}

void json_double(json_writer *w, double v)
{
    if (!isfinite(v)) {
        json_null(w);
        return;
    }
    if (!begin_value(w))
        return;
    /* The shortest of %.15g and %.17g that reads back as the same double: 0.1 stays
     * "0.1", yet every value round-trips. %g never writes a form JSON rejects for a
     * finite value in the C locale, which the tools never change. */
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    puts_raw(w, buf);
}

void json_bool(json_writer *w, bool v)
{
    if (begin_value(w))
        puts_raw(w, v ? "true" : "false");
}

void json_null(json_writer *w)
{
    if (begin_value(w))
        puts_raw(w, "null");
}

void json_kv_string(json_writer *w, const char *key, const char *v) { json_key(w, key); json_string(w, v); }
void json_kv_int(json_writer *w, const char *key, int64_t v) { json_key(w, key); json_int(w, v); }
void json_kv_uint(json_writer *w, const char *key, uint64_t v) { json_key(w, key); json_uint(w, v); }
void json_kv_double(json_writer *w, const char *key, double v) { json_key(w, key); json_double(w, v); }
void json_kv_bool(json_writer *w, const char *key, bool v) { json_key(w, key); json_bool(w, v); }

bool json_finish(json_writer *w)
{
    if (w->depth != 0 || !w->has_items[0])
        w->failed = true;
    put(w, "\n", 1);
    if (fflush(w->out) != 0)
        w->failed = true;
    return !w->failed;
}
