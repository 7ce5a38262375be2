/* clt — safetensors files: checkpoints and optimizer state.
 *
 * The format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON naming each tensor's dtype, shape and
 * data_offsets (relative to the byte after the header) plus an optional
 * "__metadata__" object of strings, then the data: little-endian, row-major, with no
 * gaps between tensors.
 *
 * Writing is atomic: a writer fills a temporary file beside the target and commit
 * renames it over the target after fsync, so a crash at any instant leaves either the
 * previous file or the new one, never a mix. Reading validates the whole header up front
 * (CLT_ERR_FORMAT names the file and what is wrong), so a reader that opened never meets
 * a malformed entry later. */
#ifndef CLT_SAFETENSORS_H
#define CLT_SAFETENSORS_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions a tensor may have here. The format has no limit; a file with more
 * gives CLT_ERR_UNSUPPORTED. */
#define CLT_ST_MAX_RANK 8

/* Element types, named in files as in clt_st_dtype_name. */
typedef enum clt_st_dtype {
    CLT_ST_BOOL = 0,
    CLT_ST_U8 = 1,
    CLT_ST_I8 = 2,
    CLT_ST_F8_E4M3 = 3,
    CLT_ST_F8_E5M2 = 4,
    CLT_ST_I16 = 5,
    CLT_ST_U16 = 6,
    CLT_ST_F16 = 7,
    CLT_ST_BF16 = 8,
    CLT_ST_I32 = 9,
    CLT_ST_U32 = 10,
    CLT_ST_F32 = 11,
    CLT_ST_F64 = 12,
    CLT_ST_I64 = 13,
    CLT_ST_U64 = 14,
} clt_st_dtype;

#define CLT_ST_DTYPE_COUNT 15

/* The name used in files ("F32", "BF16", "F8_E4M3" ...); "?" for an unknown value. */
CLT_API const char *clt_st_dtype_name(clt_st_dtype dtype);

/* Bytes per element (1, 2, 4 or 8); 0 for an unknown value. */
CLT_API size_t clt_st_dtype_size(clt_st_dtype dtype);

/* Looks up a name as written in files (exact, case-sensitive). Errors:
 * CLT_ERR_INVALID_ARG for NULL or a name that is not a dtype. */
CLT_API clt_status clt_st_dtype_from_name(const char *name, clt_st_dtype *out);

/* F32, F16, BF16, I32 and U8 correspond to clt_dtype. Errors: CLT_ERR_UNSUPPORTED for
 * the other safetensors dtypes, CLT_ERR_INVALID_ARG for unknown values or NULL. */
CLT_API clt_status clt_st_dtype_from_clt(clt_dtype dtype, clt_st_dtype *out);
CLT_API clt_status clt_st_dtype_to_clt(clt_st_dtype dtype, clt_dtype *out);

/* ---- writing ------------------------------------------------------------------------ */

/* A writer belongs to one thread at a time; readers may be shared (see read). Neither
 * needs a context. */
typedef struct clt_st_writer clt_st_writer;

/* Supplies a tensor's bytes at commit time, for data that is not in host memory as one
 * block (device buffers, NVMe tiers): writes `bytes` bytes starting `offset` bytes into
 * the tensor to dst. Called with consecutive ranges of at most a few MiB, in order.
 * A status other than CLT_OK aborts the commit; its clt_last_error() sentence is kept,
 * prefixed with the file and tensor. */
typedef clt_status (*clt_st_source_fn)(void *user, size_t offset, void *dst, size_t bytes);

/* Starts a file that will replace `path` on commit, as a writer in *out that is the
 * caller's until clt_st_writer_destroy (path is copied). Creates the temporary file now
 * (beside path, so the rename stays on one file system). Errors: CLT_ERR_INVALID_ARG for
 * a NULL or empty path; CLT_ERR_IO when the temporary file cannot be created (an
 * unwritable or missing directory). */
CLT_API clt_status clt_st_writer_open(const char *path, clt_st_writer **out);

/* Sets a "__metadata__" entry; setting a key again replaces its value. Both strings are
 * copied. Errors: CLT_ERR_INVALID_ARG for NULL, a string that is not valid UTF-8, or a
 * finished writer. */
CLT_API clt_status clt_st_writer_set_metadata(clt_st_writer *w, const char *key,
                                              const char *value);

/* Adds a tensor, written after those added before it. The name is copied and must be
 * non-empty UTF-8, unique, and not "__metadata__". rank is 0 (a scalar) to
 * CLT_ST_MAX_RANK; shape has `rank` entries >= 0 (a 0 makes an empty tensor); `bytes`
 * must equal the product of the shape times clt_st_dtype_size(dtype).
 *
 * The data is NOT copied: `data` must stay valid and unchanged until commit, abort or
 * destroy, so that a checkpoint of many GB is never held twice in memory. It may be
 * NULL only when bytes is 0. Errors: CLT_ERR_INVALID_ARG for a break of these rules, an
 * unknown dtype or a finished writer (the text names the tensor). */
CLT_API clt_status clt_st_writer_add(clt_st_writer *w, const char *name, clt_st_dtype dtype,
                                     int rank, const int64_t *shape, const void *data,
                                     size_t bytes);

/* Like clt_st_writer_add, but the bytes come from `source(user, ...)`, called during
 * commit on the committing thread; `user` must stay valid until then. Errors: as
 * clt_st_writer_add, and CLT_ERR_INVALID_ARG for a NULL source. */
CLT_API clt_status clt_st_writer_add_source(clt_st_writer *w, const char *name,
                                            clt_st_dtype dtype, int rank,
                                            const int64_t *shape, size_t bytes,
                                            clt_st_source_fn source, void *user);

/* Writes the header and the data, fsyncs the file, renames it over path and fsyncs the
 * directory. On any failure the temporary file is removed and path is untouched. Either
 * way the writer is finished: later calls other than destroy give CLT_ERR_INVALID_ARG,
 * and it still needs clt_st_writer_destroy. Errors: CLT_ERR_IO naming the file and the
 * system's reason (a full disk); a source's own status; CLT_ERR_INVALID_ARG for a
 * finished writer. */
CLT_API clt_status clt_st_writer_commit(clt_st_writer *w);

/* Removes the temporary file and finishes the writer without touching path; the
 * handle still needs clt_st_writer_destroy. NULL or a finished writer: nothing. */
CLT_API void clt_st_writer_abort(clt_st_writer *w);

/* Frees the writer; without a commit this aborts. NULL does nothing. */
CLT_API void clt_st_writer_destroy(clt_st_writer *w);

/* ---- reading ------------------------------------------------------------------------ */

typedef struct clt_st_reader clt_st_reader;

typedef struct clt_st_info {
    clt_st_dtype dtype;
    int rank;                         /* 0 for a scalar */
    int64_t shape[CLT_ST_MAX_RANK];   /* entries past rank are 0 */
    size_t bytes;                     /* numel · dtype size */
    uint64_t file_offset;             /* where the data starts in the file */
} clt_st_info;

/* Opens a file and validates its header completely: the header length against the
 * file's size, the JSON, every entry's dtype, shape and data_offsets (inside the data,
 * matching the shape, not overlapping, together covering the data with no gap or
 * trailing bytes, as the reference implementation requires), unique names, and string
 * metadata. The reader in *out is the caller's until clt_st_reader_close; it keeps the
 * file open. Errors: CLT_ERR_INVALID_ARG for a NULL path; CLT_ERR_IO when the file
 * cannot be opened or read; CLT_ERR_FORMAT when it is not such a file, naming the
 * problem; CLT_ERR_UNSUPPORTED for a tensor of more than CLT_ST_MAX_RANK dimensions. */
CLT_API clt_status clt_st_reader_open(const char *path, clt_st_reader **out);

/* Number of tensors. */
CLT_API size_t clt_st_reader_count(const clt_st_reader *r);

/* The i-th tensor's name in header order, or NULL when i >= count. Valid until close. */
CLT_API const char *clt_st_reader_name(const clt_st_reader *r, size_t i);

/* Describes the named tensor. Errors: CLT_ERR_INVALID_ARG for NULL or a name not in
 * the file. */
CLT_API clt_status clt_st_reader_find(const clt_st_reader *r, const char *name,
                                      clt_st_info *out);

/* Reads the whole tensor into dst, which holds exactly `bytes` bytes. Uses pread, so
 * several threads may read from one reader at once. Errors: CLT_ERR_INVALID_ARG for
 * NULL, a name not in the file, or a size other than the tensor's; CLT_ERR_IO when the
 * file has shrunk or fails to read. */
CLT_API clt_status clt_st_reader_read(const clt_st_reader *r, const char *name, void *dst,
                                      size_t bytes);

/* Reads `bytes` bytes starting `offset` bytes into the tensor, for streaming a large
 * tensor in pieces; thread-safe as clt_st_reader_read. Errors: as clt_st_reader_read,
 * with CLT_ERR_INVALID_ARG for a range that does not lie inside the tensor. */
CLT_API clt_status clt_st_reader_read_range(const clt_st_reader *r, const char *name,
                                            size_t offset, void *dst, size_t bytes);

/* The "__metadata__" value for key, or NULL if absent. Valid until close. */
CLT_API const char *clt_st_reader_metadata(const clt_st_reader *r, const char *key);

/* Number of metadata entries, and the i-th key in header order (NULL past the end). */
CLT_API size_t clt_st_reader_metadata_count(const clt_st_reader *r);
CLT_API const char *clt_st_reader_metadata_key(const clt_st_reader *r, size_t i);

/* Closes the file and frees the reader; the names and values it gave die with it. Not
 * while another thread reads from it. NULL does nothing. */
CLT_API void clt_st_reader_close(clt_st_reader *r);

#ifdef __cplusplus
}
#endif
#endif
