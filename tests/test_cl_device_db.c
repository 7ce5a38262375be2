/* The parameter databases' lookup (backends/opencl/cl_device_db.h) on devices that CI
 * has no hardware for: a device is only its type, vendor and name here (AMD's
 * architecture is its name; NVIDIA's comes from the driver, which a NULL device does not
 * have, so it falls to the vendor's default). */
#include <string.h>

#include "backends/opencl/cl_device_db.h"
#include "backends/opencl/cl_internal.h"
#include "backends/opencl/cl_optim_db.h"
#include "support/support.h"

struct entry {
    const char *name;
    int value;
};

static const struct entry gcn[] = {{"gfx906 special", 11}, {NULL, 10}};
static const struct entry rdna[] = {{NULL, 20}};
static const struct entry amd_default[] = {{NULL, 30}};
static const struct entry cpu_default[] = {{"Exact CPU", 41}, {NULL, 40}};
static const struct clt_cl_db_arch amd[] = {
    {"gfx906", gcn}, {"gfx90a", gcn}, {"gfx1030", rdna}, {NULL, amd_default}};
static const struct clt_cl_db_arch cpu[] = {{NULL, cpu_default}};
static const struct clt_cl_db_vendor db[] = {
    {CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices", amd},
    {CLT_DEVICE_TYPE_CPU, NULL, cpu},
};

static struct clt_cl_device fake(clt_device_type type, const char *vendor, const char *name)
{
    struct clt_cl_device dev;
    memset(&dev, 0, sizeof dev);
    dev.info.type = type;
    snprintf(dev.info.vendor, sizeof dev.info.vendor, "%s", vendor);
    snprintf(dev.info.device_name, sizeof dev.info.device_name, "%s", name);
    dev.info.max_work_group_size = 1024;
    dev.info.local_mem_bytes = 64 * 1024;
    return dev;
}

static int value_of(clt_device_type type, const char *vendor, const char *name)
{
    const struct clt_cl_device dev = fake(type, vendor, name);
    const struct entry *e = clt_cl_db_lookup(&dev, db, 2, sizeof *e);
    return e ? e->value : -1;
}

static void test_lookup_levels(void **state)
{
    (void)state;
    /* architecture, then its default device */
    assert_int_equal(value_of(CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices, Inc.", "gfx906"),
                     10);
    assert_int_equal(value_of(CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices, Inc.",
                              "gfx90a:sramecc+:xnack-"),
                     10);
    assert_int_equal(value_of(CLT_DEVICE_TYPE_GPU, "advanced micro devices", "gfx1030"), 20);
    /* an architecture the vendor has no row for: the vendor's default */
    assert_int_equal(value_of(CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices, Inc.", "gfx1200"),
                     30);
    /* a device name entry beats the architecture's default; vendor NULL matches any */
    assert_int_equal(value_of(CLT_DEVICE_TYPE_CPU, "GenuineIntel", "Exact CPU"), 41);
    assert_int_equal(value_of(CLT_DEVICE_TYPE_CPU, "AuthenticAMD", "Other CPU"), 40);
    /* the type must match too; no row: NULL */
    assert_int_equal(value_of(CLT_DEVICE_TYPE_GPU, "Intel(R) Corporation", "Arc A770"), -1);
    assert_int_equal(value_of(CLT_DEVICE_TYPE_ACCELERATOR, "Advanced Micro Devices", "gfx906"),
                     -1);
}

/* The three real databases, through the same lookup: AMD's GCN and RDNA rows differ in
 * the GEMM tile, and every GPU gets the coalesced optimizer shape. */
static void test_real_databases(void **state)
{
    (void)state;
    struct clt_cl_device gcn_dev = fake(CLT_DEVICE_TYPE_GPU, "Advanced Micro Devices, Inc.",
                                        "gfx906");
    struct clt_cl_device rdna_dev = fake(CLT_DEVICE_TYPE_GPU, "AMD", "gfx1030");
    struct clt_cl_gemm_params g_gcn, g_rdna;
    clt_cl_gemm_default_params(&gcn_dev, &g_gcn);
    clt_cl_gemm_default_params(&rdna_dev, &g_rdna);
    assert_int_equal(g_gcn.family, CLT_CL_GEMM_GPU);
    assert_int_equal(g_rdna.family, CLT_CL_GEMM_GPU);
    assert_int_not_equal(g_gcn.gpu.mwg, g_rdna.gpu.mwg);
    assert_true(clt_cl_gemm_params_fit(&gcn_dev, &g_gcn));

    struct clt_cl_optim_shape s;
    assert_int_equal(clt_cl_optim_shape_of(&gcn_dev, &s), CLT_OK);
    assert_int_equal(s.vw, 4);
    assert_false(s.q8_items);

    struct clt_cl_attention_params a;
    struct clt_cl_device nv = fake(CLT_DEVICE_TYPE_GPU, "NVIDIA Corporation", "Tesla V100");
    clt_cl_attention_default_params(&nv, &a);
    assert_true(a.br >= 1 && a.wg >= 1 && a.bc >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_levels),
        cmocka_unit_test(test_real_databases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
