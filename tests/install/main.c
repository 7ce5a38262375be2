/* The smallest useful clt program, built against an installed clt: it checks that the
 * headers and the library agree on the version, then multiplies two 2x2 matrices on
 * the host device. Exit 0 when everything works. */
#include <clt/clt.h>

#include <stdio.h>

int main(void)
{
    clt_context *ctx = NULL;
    clt_buffer *a = NULL, *b = NULL, *c = NULL;
    int rc = 1;
    const float a_data[4] = {1, 2, 3, 4}, b_data[4] = {5, 6, 7, 8};
    const float expected[4] = {19, 22, 43, 50};
    float c_data[4] = {0};
    const int64_t shape[2] = {2, 2};

    if (clt_version_number() != CLT_VERSION_NUMBER) {
        fprintf(stderr, "headers are %s but the library is %s\n", CLT_VERSION_STRING,
                clt_version_string());
        return 1;
    }

    clt_context_opts opts;
    clt_context_opts_init(&opts);
    opts.device = "host";
    opts.cache_dir = "";
    clt_gemm_args g = {.alpha = 1.0f, .beta = 0.0f};
    if (clt_context_create(&opts, &ctx) != CLT_OK ||
        clt_buffer_create(ctx, sizeof a_data, CLT_TIER_DEVICE, &a) != CLT_OK ||
        clt_buffer_create(ctx, sizeof b_data, CLT_TIER_DEVICE, &b) != CLT_OK ||
        clt_buffer_create(ctx, sizeof c_data, CLT_TIER_DEVICE, &c) != CLT_OK ||
        clt_buffer_write(a, 0, a_data, sizeof a_data, NULL) != CLT_OK ||
        clt_buffer_write(b, 0, b_data, sizeof b_data, NULL) != CLT_OK ||
        clt_tensor_init(&g.a, a, 0, CLT_DTYPE_F32, 2, shape) != CLT_OK ||
        clt_tensor_init(&g.b, b, 0, CLT_DTYPE_F32, 2, shape) != CLT_OK ||
        clt_tensor_init(&g.c, c, 0, CLT_DTYPE_F32, 2, shape) != CLT_OK ||
        clt_gemm(ctx, &g, NULL) != CLT_OK ||
        clt_buffer_read(c, 0, c_data, sizeof c_data, NULL) != CLT_OK) {
        fprintf(stderr, "clt failed: %s\n", clt_last_error());
        goto done;
    }
    for (int i = 0; i < 4; i++) {
        if (c_data[i] != expected[i]) {
            fprintf(stderr, "c[%d] = %g, expected %g\n", i, (double)c_data[i],
                    (double)expected[i]);
            goto done;
        }
    }
    printf("clt %s: consumer ok\n", clt_version_string());
    rc = 0;

done:
    clt_buffer_destroy(a);
    clt_buffer_destroy(b);
    clt_buffer_destroy(c);
    clt_context_destroy(ctx);
    return rc;
}
