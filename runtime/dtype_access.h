/* One element of f32, f16 or bf16 storage, read as or written from a float: the single
 * definition the host reference and clt_convert share. (I32 and U8 hold indices and
 * codes; their values are converted as integers, for completeness of the switch.) */
#ifndef CLT_RUNTIME_DTYPE_ACCESS_H
#define CLT_RUNTIME_DTYPE_ACCESS_H

#include "clt/convert.h"

static inline float clt_load_elem(clt_dtype dtype, const void *p, size_t i)
{
    switch (dtype) {
    case CLT_DTYPE_F32: return ((const float *)p)[i];
    case CLT_DTYPE_F16: return clt_f16_to_f32(((const uint16_t *)p)[i]);
    case CLT_DTYPE_BF16: return clt_bf16_to_f32(((const uint16_t *)p)[i]);
    case CLT_DTYPE_I32: return (float)((const int32_t *)p)[i];
    case CLT_DTYPE_U8: return (float)((const uint8_t *)p)[i];
    }
    return 0.0f;
}

static inline void clt_store_elem(clt_dtype dtype, void *p, size_t i, float x)
{
    switch (dtype) {
    case CLT_DTYPE_F32: ((float *)p)[i] = x; break;
    case CLT_DTYPE_F16: ((uint16_t *)p)[i] = clt_f32_to_f16(x); break;
    case CLT_DTYPE_BF16: ((uint16_t *)p)[i] = clt_f32_to_bf16(x); break;
    case CLT_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)x; break;
    case CLT_DTYPE_U8: ((uint8_t *)p)[i] = (uint8_t)x; break;
    }
}

#endif
