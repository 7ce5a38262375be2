/* clt — transformer training compute on any OpenCL device or the host.
 *
 * One include for the whole public API (clt/opencl.h, for OpenCL interop, is separate).
 * Functions are clt_<object>_<verb>. The rules below hold for every function; a
 * function's own comment says only where it differs from them or adds to them.
 *
 * Handles. clt_context, clt_buffer, clt_event, clt_offload, clt_st_writer and
 * clt_st_reader are opaque. Each is made by a function that hands it out through an
 * out pointer (create, open, wrap) and freed by its destroy (close) function, which
 * does nothing given NULL. A making function that fails leaves nothing allocated and
 * *out NULL (a call refused for a NULL argument may leave *out as it was). A context
 * owns the buffers and events made from it: clt_context_destroy frees those the caller
 * has not, and their handles are then dangling. An offload engine is not owned by its
 * context: destroy it first. Getters given a NULL handle return 0 or NULL.
 *
 * Ownership. Pointers passed in are borrowed for the call only, and strings in option
 * structs are copied, unless the function says otherwise: the host memory of an
 * asynchronous transfer (until its event: buffer.h), memory wrapped as a buffer
 * (clt_buffer_wrap_host, clt_opencl_wrap_buffer), data added to a safetensors writer
 * (until commit or abort), and the user pointer given with a callback. Strings returned
 * are static (names, versions) unless the function says how long they stay valid
 * (clt_last_error, a reader's names). Nothing returned is the caller's to free() other
 * than through a clt destroy function.
 *
 * Threads. The library has no global mutable state; its only per-thread state is the
 * clt_last_error sentence. Functions that take no handle (names, versions, dtype sizes,
 * clt_convert, clt_parse_size, clt_device_list, clt_context_create,
 * clt_checkpoint_metadata) may be called from any thread at any time. Contexts are
 * independent: each may be used on its own thread while others are used on theirs.
 * Within one context, making and destroying buffers (wrapped ones included),
 * clt_context_device and clt_context_stats may be called from several threads at once;
 * submitting work — ops, transfers, copies, clt_context_finish, clt_tune,
 * clt_op_describe, checkpoints — must come from one thread at a time (the caller
 * serialises, e.g. with a lock per context; threads may take turns), and the work runs
 * in the order it was submitted. An event, an offload engine and a safetensors writer are
 * used by one thread at a time; a safetensors reader may be read from several at once.
 * clt_context_destroy must not run concurrently with any other call on that context or
 * on what was made from it. Log and trace callbacks are called from whichever thread is
 * in the library, the offload engine's own threads included, so they must be
 * thread-safe.
 *
 * Errors. Every function that can fail returns clt_status: CLT_OK, or the reason, and
 * then leaves a sentence for clt_last_error() on the calling thread that names the
 * function or op, the argument, the file, the tier and the byte counts; docs/errors.md
 * lists every status and what to do about it. Any such function may return
 * CLT_ERR_INVALID_ARG for a NULL handle or a NULL out pointer; CLT_ERR_OUT_OF_MEMORY when
 * the system refuses host memory; and, where it reaches a device, what the device
 * reports: CLT_ERR_OUT_OF_MEMORY, CLT_ERR_BUILD, CLT_ERR_TRANSFER, CLT_ERR_LAUNCH,
 * CLT_ERR_DEVICE_LOST. CLT_ERR_INTERNAL is a bug in clt, anywhere. A function's
 * "Errors:" adds what else it returns and when; "Errors: only the general ones (clt.h)"
 * means nothing else. A program may meet a status value newer than its headers: treat
 * it as a failure (clt_status_str still names it). The library never aborts, exits or
 * prints.
 *
 * Versions. CLT_VERSION_NUMBER is X·1000000 + Y·1000 + Z for version X.Y.Z of the
 * headers compiled against; clt_version_number() gives the library actually loaded. A
 * minor version (Y) only adds: functions, enum values (before their _COUNT), ops (in
 * clt_op's reserved room); it changes or removes no declaration, no enum value and no
 * struct's size or layout. A patch version (Z) changes no declaration at all. So a
 * program built against X.Y runs with any library X.Y' where Y' >= Y, as the shared
 * library's soname (libclt.so.X) says; a new major version may break the API and
 * changes the soname. To insist on it at run time:
 *     clt_version_number() / 1000000 == CLT_VERSION_MAJOR &&
 *     clt_version_number() >= CLT_VERSION_NUMBER
 * Names under runtime/ and backends/, and symbols not marked CLT_API, are not the API. */
#ifndef CLT_CLT_H
#define CLT_CLT_H

#include "clt/buffer.h"
#include "clt/checkpoint.h"
#include "clt/comm.h"
#include "clt/context.h"
#include "clt/convert.h"
#include "clt/device.h"
#include "clt/export.h"
#include "clt/log.h"
#include "clt/offload.h"
#include "clt/op.h"
#include "clt/safetensors.h"
#include "clt/status.h"
#include "clt/tensor.h"
#include "clt/tune.h"
#include "clt/types.h"
#include "clt/version.h"

#endif
