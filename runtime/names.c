/* Names of the public enums, for messages and tools. */
#include "clt/clt.h"

const char *clt_status_str(clt_status status)
{
    switch (status) {
    case CLT_OK: return "success";
    case CLT_ERR_INVALID_ARG: return "invalid argument";
    case CLT_ERR_OUT_OF_MEMORY: return "out of memory";
    case CLT_ERR_NO_DEVICE: return "no such device";
    case CLT_ERR_UNSUPPORTED: return "not supported by the device";
    case CLT_ERR_BUILD: return "kernel build failed";
    case CLT_ERR_TRANSFER: return "memory transfer failed";
    case CLT_ERR_LAUNCH: return "kernel launch failed";
    case CLT_ERR_DEVICE_LOST: return "device lost";
    case CLT_ERR_IO: return "file input/output failed";
    case CLT_ERR_FORMAT: return "corrupt or foreign file";
    case CLT_ERR_INTERNAL: return "internal error";
    case CLT_ERR_COMM: return "communication between ranks failed";
    }
    return "unknown status";
}

const char *clt_status_name(clt_status status)
{
    switch (status) {
    case CLT_OK: return "CLT_OK";
    case CLT_ERR_INVALID_ARG: return "CLT_ERR_INVALID_ARG";
    case CLT_ERR_OUT_OF_MEMORY: return "CLT_ERR_OUT_OF_MEMORY";
    case CLT_ERR_NO_DEVICE: return "CLT_ERR_NO_DEVICE";
    case CLT_ERR_UNSUPPORTED: return "CLT_ERR_UNSUPPORTED";
    case CLT_ERR_BUILD: return "CLT_ERR_BUILD";
    case CLT_ERR_TRANSFER: return "CLT_ERR_TRANSFER";
    case CLT_ERR_LAUNCH: return "CLT_ERR_LAUNCH";
    case CLT_ERR_DEVICE_LOST: return "CLT_ERR_DEVICE_LOST";
    case CLT_ERR_IO: return "CLT_ERR_IO";
    case CLT_ERR_FORMAT: return "CLT_ERR_FORMAT";
    case CLT_ERR_INTERNAL: return "CLT_ERR_INTERNAL";
    case CLT_ERR_COMM: return "CLT_ERR_COMM";
    }
    return "CLT_ERR_UNKNOWN";
}

const char *clt_tier_name(clt_tier tier)
{
    switch (tier) {
    case CLT_TIER_DEVICE: return "DEVICE";
    case CLT_TIER_HOST_PINNED: return "HOST_PINNED";
    case CLT_TIER_HOST: return "HOST";
    case CLT_TIER_NVME: return "NVME";
    }
    return "?";
}

const char *clt_dtype_name(clt_dtype dtype)
{
    switch (dtype) {
    case CLT_DTYPE_F32: return "f32";
    case CLT_DTYPE_F16: return "f16";
    case CLT_DTYPE_BF16: return "bf16";
    case CLT_DTYPE_I32: return "i32";
    case CLT_DTYPE_U8: return "u8";
    }
    return "?";
}

size_t clt_dtype_size(clt_dtype dtype)
{
    switch (dtype) {
    case CLT_DTYPE_F32:
    case CLT_DTYPE_I32: return 4;
    case CLT_DTYPE_F16:
    case CLT_DTYPE_BF16: return 2;
    case CLT_DTYPE_U8: return 1;
    }
    return 0;
}

const char *clt_device_type_name(clt_device_type type)
{
    switch (type) {
    case CLT_DEVICE_TYPE_HOST: return "host";
    case CLT_DEVICE_TYPE_CPU: return "cpu";
    case CLT_DEVICE_TYPE_GPU: return "gpu";
    case CLT_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case CLT_DEVICE_TYPE_OTHER: return "other";
    }
    return "?";
}
