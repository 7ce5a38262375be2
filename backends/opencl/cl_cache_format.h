/* The layout of an on-disk program cache entry, <cache dir>/<hex key>.bin. Kept apart
 * from the code so that tests can forge and damage entries without OpenCL headers.
 *
 *   offset  size  field
 *        0     8  magic "CLTPROG\0"
 *        8     4  format version, little-endian (CLT_CL_CACHE_FORMAT_VERSION)
 *       12     4  zero
 *       16    32  the key: SHA-256 of what the program was built from
 *       48     8  payload length in bytes, little-endian
 *       56    32  SHA-256 of the payload
 *       88     …  payload: the device binary from CL_PROGRAM_BINARIES
 *
 * The file's size must be exactly header + payload length. */
#ifndef CLT_CL_CACHE_FORMAT_H
#define CLT_CL_CACHE_FORMAT_H

/* Bump when the layout or what goes into the key changes: old entries then stop
 * matching (their key differs) and age out under the size cap. */
#define CLT_CL_CACHE_FORMAT_VERSION 1u

#define CLT_CL_CACHE_MAGIC "CLTPROG"    /* 7 characters and the NUL: 8 bytes */
#define CLT_CL_CACHE_MAGIC_BYTES 8
#define CLT_CL_CACHE_OFFSET_VERSION 8
#define CLT_CL_CACHE_OFFSET_KEY 16
#define CLT_CL_CACHE_OFFSET_LENGTH 48
#define CLT_CL_CACHE_OFFSET_DIGEST 56
#define CLT_CL_CACHE_HEADER_BYTES 88

/* The cap on the cache directory when $CLT_CACHE_MAX_BYTES is not set. */
#define CLT_CL_CACHE_DEFAULT_MAX_BYTES (512ull << 20)

#endif
