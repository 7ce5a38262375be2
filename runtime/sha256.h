/* SHA-256 (FIPS 180-4): keys and checksums of the compiled-program cache. Small and
 * portable rather than fast; it hashes kilobytes of kernel source and megabytes of
 * binaries at most, once per program. */
#ifndef CLT_RUNTIME_SHA256_H
#define CLT_RUNTIME_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CLT_SHA256_BYTES 32

struct clt_sha256 {
    uint32_t state[8];
    uint64_t total_bytes;      /* message length so far */
    unsigned char block[64];   /* bytes not yet compressed */
    size_t block_fill;
};

void clt_sha256_init(struct clt_sha256 *h);
void clt_sha256_update(struct clt_sha256 *h, const void *data, size_t n);
void clt_sha256_final(struct clt_sha256 *h, uint8_t digest[CLT_SHA256_BYTES]);

/* One-shot digest of `n` bytes. */
void clt_sha256(const void *data, size_t n, uint8_t digest[CLT_SHA256_BYTES]);

/* Lower-case hex of a digest: 64 characters and a NUL. */
void clt_sha256_hex(const uint8_t digest[CLT_SHA256_BYTES], char hex[2 * CLT_SHA256_BYTES + 1]);

#endif
