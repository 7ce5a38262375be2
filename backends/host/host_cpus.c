/* Worker-to-CPU placement (host_cpus.h). */
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#include "backends/host/host_cpus.h"

#ifdef CLT_HAVE_HWLOC
#include <hwloc.h>

/* Cores in topology order, the j-th allowed PU of each core in round j: physical cores
 * before SMT siblings. The topology is loaded per call: pools are made once per device. */
static bool cpus_from_hwloc(int n, int *cpus)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return false;
    int found = 0;
    hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
    if (allowed && hwloc_topology_load(topo) == 0 &&
        hwloc_get_cpubind(topo, allowed, HWLOC_CPUBIND_PROCESS) == 0) {
        const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        for (int round = 0; found < n; round++) {
            const int before = found;
            for (int c = 0; c < cores && found < n; c++) {
                hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)c);
                int seen = 0, pu;
                hwloc_bitmap_foreach_begin(pu, core->cpuset)
                {
                    if (hwloc_bitmap_isset(allowed, (unsigned)pu) && seen++ == round)
                        cpus[found++] = pu;
                }
                hwloc_bitmap_foreach_end();
            }
            if (found == before)
                break; /* no core has a PU left */
        }
    }
    hwloc_bitmap_free(allowed);
    hwloc_topology_destroy(topo);
    return found == n;
}
#endif

static bool cpus_from_affinity(int n, int *cpus)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < n)
        return false;
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < n; cpu++)
        if (CPU_ISSET(cpu, &allowed))
            cpus[found++] = cpu;
    return found == n;
}

bool clt_host_cpus_for_workers(int n, int *cpus)
{
    if (n < 1)
        return false;
#ifdef CLT_HAVE_HWLOC
    if (cpus_from_hwloc(n, cpus))
        return true;
#endif
    return cpus_from_affinity(n, cpus);
}

const char *clt_host_cpus_source(void)
{
#ifdef CLT_HAVE_HWLOC
    return "hwloc";
#else
    return "affinity mask";
#endif
}
