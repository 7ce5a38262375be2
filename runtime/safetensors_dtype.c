/* safetensors element types: names as the format spells them, sizes, and the mapping to
 * clt's storage types. */
#include <string.h>

#include "clt/safetensors.h"
#include "runtime/error.h"

static const struct {
    const char *name;
    size_t size;
} st_dtypes[CLT_ST_DTYPE_COUNT] = {
    [CLT_ST_BOOL] = {"BOOL", 1},       [CLT_ST_U8] = {"U8", 1},
    [CLT_ST_I8] = {"I8", 1},           [CLT_ST_F8_E4M3] = {"F8_E4M3", 1},
    [CLT_ST_F8_E5M2] = {"F8_E5M2", 1}, [CLT_ST_I16] = {"I16", 2},
    [CLT_ST_U16] = {"U16", 2},         [CLT_ST_F16] = {"F16", 2},
    [CLT_ST_BF16] = {"BF16", 2},       [CLT_ST_I32] = {"I32", 4},
    [CLT_ST_U32] = {"U32", 4},         [CLT_ST_F32] = {"F32", 4},
    [CLT_ST_F64] = {"F64", 8},         [CLT_ST_I64] = {"I64", 8},
    [CLT_ST_U64] = {"U64", 8},
};

static bool known(clt_st_dtype d) { return (unsigned)d < CLT_ST_DTYPE_COUNT; }

const char *clt_st_dtype_name(clt_st_dtype dtype)
{
    return known(dtype) ? st_dtypes[dtype].name : "?";
}

size_t clt_st_dtype_size(clt_st_dtype dtype)
{
    return known(dtype) ? st_dtypes[dtype].size : 0;
}

clt_status clt_st_dtype_from_name(const char *name, clt_st_dtype *out)
{
    if (!name || !out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_from_name: %s is NULL",
                        !name ? "name" : "out");
    for (int i = 0; i < CLT_ST_DTYPE_COUNT; i++)
        if (strcmp(name, st_dtypes[i].name) == 0) {
            *out = (clt_st_dtype)i;
            return CLT_OK;
        }
    return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_from_name: '%s' is not a dtype", name);
}

clt_status clt_st_dtype_from_clt(clt_dtype dtype, clt_st_dtype *out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_from_clt: out is NULL");
    switch (dtype) {
    case CLT_DTYPE_F32: *out = CLT_ST_F32; return CLT_OK;
    case CLT_DTYPE_F16: *out = CLT_ST_F16; return CLT_OK;
    case CLT_DTYPE_BF16: *out = CLT_ST_BF16; return CLT_OK;
    case CLT_DTYPE_I32: *out = CLT_ST_I32; return CLT_OK;
    case CLT_DTYPE_U8: *out = CLT_ST_U8; return CLT_OK;
    default: break; /* a storage type added later without a mapping */
    }
    if (clt_dtype_size(dtype) == 0)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_from_clt: unknown dtype %d",
                        (int)dtype);
    return clt_fail(CLT_ERR_UNSUPPORTED, "clt_st_dtype_from_clt: %s has no safetensors dtype",
                    clt_dtype_name(dtype));
}

clt_status clt_st_dtype_to_clt(clt_st_dtype dtype, clt_dtype *out)
{
    if (!out)
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_to_clt: out is NULL");
    switch (dtype) {
    case CLT_ST_F32: *out = CLT_DTYPE_F32; return CLT_OK;
    case CLT_ST_F16: *out = CLT_DTYPE_F16; return CLT_OK;
    case CLT_ST_BF16: *out = CLT_DTYPE_BF16; return CLT_OK;
    case CLT_ST_I32: *out = CLT_DTYPE_I32; return CLT_OK;
    case CLT_ST_U8: *out = CLT_DTYPE_U8; return CLT_OK;
    default: break;
    }
    if (!known(dtype))
        return clt_fail(CLT_ERR_INVALID_ARG, "clt_st_dtype_to_clt: unknown dtype %d",
                        (int)dtype);
    return clt_fail(CLT_ERR_UNSUPPORTED, "clt_st_dtype_to_clt: %s has no clt storage type",
                    st_dtypes[dtype].name);
}
