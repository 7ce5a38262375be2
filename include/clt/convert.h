/* clt — converting between storage types on the host, for uploading f16/bf16 data and
 * reading it back. Rounding is to nearest, ties to even; NaN stays NaN; values beyond
 * f16's range become infinities. */
#ifndef CLT_CONVERT_H
#define CLT_CONVERT_H

#include "clt/status.h"
#include "clt/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Converts n contiguous elements of src_dtype at src into dst_dtype at dst: f32, f16 or
 * bf16 (i32 and u8 are refused). The two ranges must not overlap unless dst == src and
 * the dtypes have the same size. Host memory only; thread-safe. Errors:
 * CLT_ERR_INVALID_ARG for NULL dst or src, a dtype that is not f32, f16 or bf16,
 * overlapping ranges, or an n whose byte count overflows. */
CLT_API clt_status clt_convert(clt_dtype dst_dtype, void *dst, clt_dtype src_dtype,
                               const void *src, size_t n);

/* One value at a time, rounded as above. Never fail; thread-safe. */
CLT_API uint16_t clt_f32_to_f16(float x);
CLT_API float clt_f16_to_f32(uint16_t h);
CLT_API uint16_t clt_f32_to_bf16(float x);
CLT_API float clt_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
