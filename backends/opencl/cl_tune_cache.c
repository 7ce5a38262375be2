/* The GEMM tuning cache: one small text file per device beside the program cache,
 * <cache dir>/gemm-tune-<hex>.txt, holding the parameters a search measured best.
 *
 *   clt-gemm-tune 1
 *   platform Portable Computing Language OpenCL 3.0 PoCL 6.0 ...
 *   device pthread-haswell-AMD EPYC 7B13
 *   device-version OpenCL 3.0 PoCL HSTR: ...
 *   driver-version 6.0
 *   kernels <SHA-256 of the embedded kernel sources>
 *   params family=cpu clblast=0 direct_below_flops=131072 ts=16 rm=6 nr=16 ...
 *   sha256 <SHA-256 of every byte above this line>
 *
 * The name's hex is a SHA-256 of the format version, the device's identity and the
 * kernels' digest, so another device, driver or kernel version never finds the entry.
 * Nothing read back is trusted: the checksum, the header, every identity line and the
 * parameters (they must parse and fit the device) are checked, and any doubt rejects
 * the entry (logged at warn; the caller counts it and measures again or uses the
 * defaults). Writes are atomic, and their failures only warnings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_sources.h"

/* An entry is a few hundred bytes; anything much larger is not one. */
#define ENTRY_MAX_BYTES 16384
#define CHECKSUM_PREFIX "sha256 "
#define PARAMS_PREFIX "params "

/* The digest of the embedded kernels: all of them, since the GEMM's files build on
 * shared ones (their "clt-prelude"), so that a kernel change retires the tunings
 * measured with the old kernels. */
static void kernels_digest(uint8_t digest[CLT_SHA256_BYTES])
{
    struct clt_sha256 h;
    clt_sha256_init(&h);
    for (size_t i = 0; i < clt_cl_source_count; i++) {
        clt_cl_hash_string(&h, clt_cl_sources[i].name);
        clt_cl_hash_field(&h, clt_cl_sources[i].text, clt_cl_sources[i].length);
    }
    clt_sha256_final(&h, digest);
}

bool clt_cl_tune_cache_path(const struct clt_cl_device *dev, char *path, size_t cap)
{
    const char *kernel_dir = getenv("CLT_KERNEL_DIR");
    if (!dev->cache_dir || (kernel_dir && kernel_dir[0]))
        return false;
    uint8_t version[4] = {(uint8_t)CLT_CL_TUNE_FORMAT_VERSION,
                          (uint8_t)(CLT_CL_TUNE_FORMAT_VERSION >> 8), 0, 0};
    uint8_t kernels[CLT_SHA256_BYTES], key[CLT_SHA256_BYTES];
    char hex[2 * CLT_SHA256_BYTES + 1];
    struct clt_sha256 h;
    kernels_digest(kernels);
    clt_sha256_init(&h);
    clt_cl_hash_string(&h, "clt OpenCL GEMM tuning");
    clt_cl_hash_field(&h, version, sizeof version);
    clt_cl_hash_device(&h, dev);
    clt_cl_hash_field(&h, kernels, sizeof kernels);
    clt_sha256_final(&h, key);
    clt_sha256_hex(key, hex);
    return snprintf(path, cap, "%s/gemm-tune-%s.txt", dev->cache_dir, hex) < (int)cap;
}

/* The header and identity lines this device writes and expects: everything before
 * the params line. False if they do not fit in `cap`. */
static bool identity_text(const struct clt_cl_device *dev, char *out, size_t cap)
{
    uint8_t kernels[CLT_SHA256_BYTES];
    char kernels_hex[2 * CLT_SHA256_BYTES + 1];
    kernels_digest(kernels);
    clt_sha256_hex(kernels, kernels_hex);
    const char *fields[][2] = {
        {"platform", dev->info.platform},
        {"device", dev->info.device_name},
        {"device-version", dev->device_version},
        {"driver-version", dev->info.driver_version},
        {"kernels", kernels_hex},
    };
    size_t used = 0;
    int n = snprintf(out, cap, "clt-gemm-tune %d\n", CLT_CL_TUNE_FORMAT_VERSION);
    for (size_t i = 0; n >= 0 && (used += (size_t)n) < cap && i < sizeof fields / sizeof fields[0];
         i++) {
        /* A line break inside a device string (no driver should report one) would
         * break the one-field-a-line layout: it becomes a space. */
        char value[CLT_NAME_MAX];
        snprintf(value, sizeof value, "%s", fields[i][1]);
        for (char *p = value; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        n = snprintf(out + used, cap - used, "%s %s\n", fields[i][0], value);
    }
    return n >= 0 && used < cap;
}

/* ---- loading ---------------------------------------------------------------------- */

/* Reads the whole file (at most ENTRY_MAX_BYTES) into a NUL-terminated block. NULL with
 * `why` empty if there is no file, else with the reason. */
static char *read_entry(const char *path, size_t *size, char *why, size_t why_cap)
{
    char *text = NULL;
    why[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT)
            snprintf(why, why_cap, "cannot open it: %s", strerror(errno));
        return NULL;
    }
    text = malloc(ENTRY_MAX_BYTES + 1);
    if (!text) {
        snprintf(why, why_cap, "out of host memory");
        goto done;
    }
    *size = fread(text, 1, ENTRY_MAX_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(why, why_cap, "cannot read it: %s", strerror(errno));
    } else if (*size > ENTRY_MAX_BYTES) {
        snprintf(why, why_cap, "longer than %d bytes, so not a tuning entry", ENTRY_MAX_BYTES);
    } else {
        text[*size] = '\0';
        if (strlen(text) != *size)
            snprintf(why, why_cap, "holds a NUL byte, so not a text entry");
    }
done:
    fclose(f);
    if (why[0]) {
        free(text);
        text = NULL;
    }
    return text;
}

/* Checks the entry's text and parses its parameters over the defaults in *out. Returns
 * false with the reason in `why`. */
static bool check_entry(struct clt_cl_device *dev, const char *text, size_t size,
                        struct clt_cl_gemm_params *out, char *why, size_t why_cap)
{
    /* The last line: "sha256 <64 hex digits>\n", over every byte before it. */
    const size_t checksum_line = strlen(CHECKSUM_PREFIX) + 2 * CLT_SHA256_BYTES + 1;
    if (size < checksum_line || text[size - 1] != '\n' ||
        strncmp(text + size - checksum_line, CHECKSUM_PREFIX, strlen(CHECKSUM_PREFIX)) != 0 ||
        (size > checksum_line && text[size - checksum_line - 1] != '\n')) {
        snprintf(why, why_cap, "truncated: it does not end with a '%s<hex>' line",
                 CHECKSUM_PREFIX);
        return false;
    }
    const size_t body = size - checksum_line;
    uint8_t digest[CLT_SHA256_BYTES];
    char hex[2 * CLT_SHA256_BYTES + 1];
    clt_sha256(text, body, digest);
    clt_sha256_hex(digest, hex);
    if (strncmp(text + body + strlen(CHECKSUM_PREFIX), hex, 2 * CLT_SHA256_BYTES) != 0) {
        snprintf(why, why_cap, "checksum mismatch (corrupt)");
        return false;
    }

    char header[64];
    snprintf(header, sizeof header, "clt-gemm-tune %d\n", CLT_CL_TUNE_FORMAT_VERSION);
    if (strncmp(text, header, strlen(header)) != 0) {
        int shown = (int)strcspn(text, "\n");
        snprintf(why, why_cap, "its first line is '%.*s', not 'clt-gemm-tune %d'",
                 shown < 40 ? shown : 40, text, CLT_CL_TUNE_FORMAT_VERSION);
        return false;
    }
    char identity[4 * CLT_NAME_MAX + 256];
    if (!identity_text(dev, identity, sizeof identity)) {
        snprintf(why, why_cap, "the device's identity is too long to compare");
        return false;
    }
    const size_t identity_length = strlen(identity);
    if (body < identity_length || memcmp(text, identity, identity_length) != 0) {
        snprintf(why, why_cap, "it was written for another platform, device, driver or "
                 "kernel version");
        return false;
    }

    /* What is left of the body: exactly one line, "params <key=value ...>\n". */
    const char *params = text + identity_length;
    const size_t params_length = body - identity_length;
    const char *newline = memchr(params, '\n', params_length);
    if (strncmp(params, PARAMS_PREFIX, strlen(PARAMS_PREFIX)) != 0 || !newline ||
        (size_t)(newline - params) + 1 != params_length) {
        snprintf(why, why_cap, "no single '%s' line after the identity", PARAMS_PREFIX);
        return false;
    }
    char line[1024];
    const size_t value_length = (size_t)(newline - params) - strlen(PARAMS_PREFIX);
    if (value_length >= sizeof line) {
        snprintf(why, why_cap, "the params line is too long");
        return false;
    }
    memcpy(line, params + strlen(PARAMS_PREFIX), value_length);
    line[value_length] = '\0';
    struct clt_cl_gemm_params p = *out;
    if (clt_cl_gemm_params_parse(line, &p) != CLT_OK) {
        snprintf(why, why_cap, "%s", clt_last_error());
        return false;
    }
    if ((p.family != CLT_CL_GEMM_CPU && p.family != CLT_CL_GEMM_GPU) ||
        !clt_cl_gemm_params_fit(dev, &p)) {
        snprintf(why, why_cap, "its parameters do not fit the device: %.300s", line);
        return false;
    }
    *out = p;
    return true;
}

enum clt_cl_tune_entry clt_cl_tune_cache_load(struct clt_cl_device *dev,
                                              struct clt_cl_gemm_params *out)
{
    char path[4096];
    char why[1024] = "";
    enum clt_cl_tune_entry result = CLT_CL_TUNE_ENTRY_NONE;
    size_t size = 0;
    char *text = NULL;
    /* Checking may fail parses, which set the thread's error sentence; a rejected entry
     * is only a warning, so the caller's sentence is put back. */
    char saved_error[2048];
    snprintf(saved_error, sizeof saved_error, "%s", clt_last_error());

    if (!clt_cl_tune_cache_path(dev, path, sizeof path))
        goto done;
    text = read_entry(path, &size, why, sizeof why);
    if (!text && !why[0]) {
        clt_cl_log(dev, CLT_LOG_DEBUG, "no GEMM tuning entry (%s)", path);
        goto done;
    }
    if (text && check_entry(dev, text, size, out, why, sizeof why))
        result = CLT_CL_TUNE_ENTRY_LOADED;
    else
        result = CLT_CL_TUNE_ENTRY_REJECTED;
done:
    if (result == CLT_CL_TUNE_ENTRY_REJECTED) {
        clt_cl_log(dev, CLT_LOG_WARN, "GEMM tuning entry %s rejected: %s", path, why);
        clt_fail(CLT_OK, "%s", saved_error);
    }
    free(text);
    return result;
}

/* ---- storing ---------------------------------------------------------------------- */

void clt_cl_tune_cache_store(struct clt_cl_device *dev, const struct clt_cl_gemm_params *p)
{
    char path[4096];
    char why[512] = "";
    char text[4 * CLT_NAME_MAX + 2048];
    if (!clt_cl_tune_cache_path(dev, path, sizeof path)) {
        clt_cl_log(dev, CLT_LOG_DEBUG, "no tuning cache: the GEMM parameters are not stored");
        return;
    }
    if (!identity_text(dev, text, sizeof text)) {
        snprintf(why, sizeof why, "the device's identity is too long");
        goto done;
    }
    size_t used = strlen(text);
    char params[1024];
    clt_cl_gemm_params_format(p, params, sizeof params);
    int n = snprintf(text + used, sizeof text - used, PARAMS_PREFIX "%s\n", params);
    if (n < 0 || (size_t)n >= sizeof text - used - (strlen(CHECKSUM_PREFIX) + 66)) {
        snprintf(why, sizeof why, "the entry is too long");
        goto done;
    }
    used += (size_t)n;
    uint8_t digest[CLT_SHA256_BYTES];
    char hex[2 * CLT_SHA256_BYTES + 1];
    clt_sha256(text, used, digest);
    clt_sha256_hex(digest, hex);
    used += (size_t)snprintf(text + used, sizeof text - used, CHECKSUM_PREFIX "%s\n", hex);

    if (!clt_cl_make_dirs(dev->cache_dir, why, sizeof why))
        goto done;
    const struct clt_cl_chunk chunk = {text, used};
    if (!clt_cl_write_atomically(dev->cache_dir, path, &chunk, 1, why, sizeof why))
        goto done;
    clt_cl_log(dev, CLT_LOG_DEBUG, "stored the GEMM tuning in %s", path);
done:
    if (why[0])
        clt_cl_log(dev, CLT_LOG_WARN, "not storing the GEMM tuning in %s: %s", path, why);
}
