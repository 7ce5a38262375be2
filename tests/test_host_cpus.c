/* Host worker placement: distinct CPUs the process may use, and pool workers running
 * where they were put. */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#include "support/support.h"

#include "backends/host/host_cpus.h"
#include "backends/host/host_threads.h"

static int allowed_cpus(cpu_set_t *set)
{
    assert_int_equal(sched_getaffinity(0, sizeof *set, set), 0);
    return CPU_COUNT(set);
}

static void placement_is_distinct_and_allowed(void **state)
{
    (void)state;
    cpu_set_t set;
    const int n = allowed_cpus(&set);
    int cpus[CPU_SETSIZE];
    for (int k = 1; k <= n; k++) {
        assert_true(clt_host_cpus_for_workers(k, cpus));
        for (int i = 0; i < k; i++) {
            assert_true(cpus[i] >= 0 && cpus[i] < CPU_SETSIZE);
            assert_true(CPU_ISSET(cpus[i], &set));
            for (int j = 0; j < i; j++)
                assert_int_not_equal(cpus[i], cpus[j]);
        }
    }
    print_message("placement from %s over %d CPUs\n", clt_host_cpus_source(), n);
}

static void more_workers_than_cpus_are_not_placed(void **state)
{
    (void)state;
    cpu_set_t set;
    const int n = allowed_cpus(&set);
    int cpus[CPU_SETSIZE + 1];
    assert_false(clt_host_cpus_for_workers(n + 1, cpus));
    assert_false(clt_host_cpus_for_workers(0, cpus));
}

/* Each task spins until every worker has joined, so each worker runs exactly one task
 * and says where it ran. */
struct where {
    int size;
    atomic_int arrived;
    int cpu_of_worker[CPU_SETSIZE];
};

static void record_cpu(void *user, size_t task, int worker)
{
    (void)task;
    struct where *w = user;
    w->cpu_of_worker[worker] = sched_getcpu();
    atomic_fetch_add(&w->arrived, 1);
    while (atomic_load(&w->arrived) < w->size)
        sched_yield();
}

static void pool_workers_run_on_their_cpus(void **state)
{
    (void)state;
    cpu_set_t set;
    const int n = allowed_cpus(&set);
    if (n < 2) {
        print_message("one CPU: nothing to place\n");
        return;
    }
    int cpus[CPU_SETSIZE];
    assert_true(clt_host_cpus_for_workers(n, cpus));
    struct clt_host_pool *pool = NULL;
    assert_int_equal(clt_host_pool_create(n, &pool), CLT_OK);
    struct where w = {.size = n};
    atomic_init(&w.arrived, 0);
    clt_host_pool_run(pool, (size_t)n, record_cpu, &w);
    for (int i = 1; i < n; i++) /* worker 0 is the caller, left where it is */
        assert_int_equal(w.cpu_of_worker[i], cpus[i]);
    clt_host_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placement_is_distinct_and_allowed),
        cmocka_unit_test(more_workers_than_cpus_are_not_placed),
        cmocka_unit_test(pool_workers_run_on_their_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
