/* clt — transformer training compute on any OpenCL device or the host.
 *
 * One include for the whole public API. Conventions: functions are
 * clt_<object>_<verb>; every function that can fail returns clt_status and leaves a
 * sentence for clt_last_error(); handles are opaque; a destroy function given NULL does
 * nothing. */
#ifndef CLT_CLT_H
#define CLT_CLT_H

#include "clt/buffer.h"
#include "clt/checkpoint.h"
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
