/* Prints the size of every public struct the Python binding mirrors, and the offset of
 * each of its fields, one "name value" per line, so that test_layout.py can check the
 * ctypes declarations (python/clt/_lib.py) against the C compiler's layout. */
#include <stddef.h>
#include <stdio.h>

#include "clt/clt.h"

#define SIZE(type) printf("%s %zu\n", #type, sizeof(type))
#define FIELD(type, field) printf("%s.%s %zu\n", #type, #field, offsetof(type, field))

int main(void)
{
    SIZE(clt_device_info);
    FIELD(clt_device_info, type);
    FIELD(clt_device_info, global_mem_bytes);
    FIELD(clt_device_info, fp16);
    FIELD(clt_device_info, unified_memory);
    SIZE(clt_context_opts);
    FIELD(clt_context_opts, cache_dir);
    FIELD(clt_context_opts, log_fn);
    FIELD(clt_context_opts, log_level);
    FIELD(clt_context_opts, tune);
    SIZE(clt_stats);
    FIELD(clt_stats, ops_run);
    FIELD(clt_stats, mem_used);
    FIELD(clt_stats, mem_budget);
    SIZE(clt_tensor);
    FIELD(clt_tensor, dtype);
    FIELD(clt_tensor, shape);
    FIELD(clt_tensor, strides);
    SIZE(clt_optim_hparams);
    FIELD(clt_optim_hparams, nesterov);
    FIELD(clt_optim_hparams, step);
    FIELD(clt_optim_hparams, grad_scale);
    SIZE(clt_gemm_args);
    FIELD(clt_gemm_args, trans_a);
    FIELD(clt_gemm_args, alpha);
    FIELD(clt_gemm_args, beta);
    SIZE(clt_attention_fwd_args);
    FIELD(clt_attention_fwd_args, scale);
    FIELD(clt_attention_fwd_args, causal);
    SIZE(clt_attention_bwd_args);
    FIELD(clt_attention_bwd_args, dv);
    FIELD(clt_attention_bwd_args, causal);
    SIZE(clt_softmax_args);
    FIELD(clt_softmax_args, algo);
    SIZE(clt_layernorm_fwd_args);
    FIELD(clt_layernorm_fwd_args, eps);
    SIZE(clt_layernorm_bwd_args);
    FIELD(clt_layernorm_bwd_args, accumulate);
    SIZE(clt_embedding_bwd_args);
    FIELD(clt_embedding_bwd_args, accumulate);
    SIZE(clt_cross_entropy_fwd_args);
    FIELD(clt_cross_entropy_fwd_args, ignore_index);
    SIZE(clt_cross_entropy_bwd_args);
    FIELD(clt_cross_entropy_bwd_args, dloss);
    FIELD(clt_cross_entropy_bwd_args, ignore_index);
    SIZE(clt_add_args);
    FIELD(clt_add_args, beta);
    SIZE(clt_scale_args);
    SIZE(clt_bias_grad_args);
    SIZE(clt_sqnorm_args);
    SIZE(clt_adamw_args);
    FIELD(clt_adamw_args, h);
    FIELD(clt_adamw_args, block);
    SIZE(clt_sgd_args);
    FIELD(clt_sgd_args, h);
    FIELD(clt_sgd_args, block);
    SIZE(clt_quantize8_args);
    FIELD(clt_quantize8_args, is_signed);
    FIELD(clt_quantize8_args, block);
    SIZE(clt_dequantize8_args);
    FIELD(clt_dequantize8_args, block);
    SIZE(clt_op);
    FIELD(clt_op, u);
    printf("CLT_OP_COUNT %d\n", CLT_OP_COUNT);
    printf("CLT_OP_DEQUANTIZE8 %d\n", (int)CLT_OP_DEQUANTIZE8);
    return 0;
}
