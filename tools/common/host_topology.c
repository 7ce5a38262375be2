/* Host topology for the tools: hwloc 2.x when available, sysconf otherwise. */
#include "host_topology.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <clt/clt.h>

#ifdef CLT_TOOLS_HAVE_HWLOC
#include <hwloc.h>
#endif

static void add_cache(host_topology *t, int level, const char *kind, uint64_t size,
                      int line_bytes, int count)
{
    if (size == 0 || t->cache_count >= HOST_TOPOLOGY_MAX_CACHES)
        return;
    t->caches[t->cache_count++] = (host_cache){
        .level = level, .kind = kind, .size_bytes = size, .line_bytes = line_bytes,
        .count = count};
}

/* The CPU model as the library's host device names it. */
static void read_cpu_model(char *out, size_t size)
{
    clt_device_info infos[64];
    int n = 0;
    if (clt_device_list(infos, 64, &n) != CLT_OK)
        return;
    for (int i = 0; i < n && i < 64; i++)
        if (infos[i].type == CLT_DEVICE_TYPE_HOST)
            snprintf(out, size, "%s", infos[i].device_name);
}

/* Total memory as the operating system reports it. hwloc's sum over NUMA nodes can
 * be smaller (containers and VMs may expose only part of it as node memory), so this
 * figure comes from sysconf on both paths. */
static uint64_t physical_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

static void read_with_sysconf(host_topology *t)
{
    t->source = "sysconf";
    read_cpu_model(t->cpu_model, sizeof t->cpu_model);
    long pus = sysconf(_SC_NPROCESSORS_ONLN);
    t->pus = pus > 0 ? (int)pus : -1;
    /* glibc's cache queries; elsewhere they do not exist and the list stays empty.
     * They report one instance's size, not how many instances there are. */
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
    long line = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
    int line_bytes = line > 0 ? (int)line : 0;
    long l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE), l1i = sysconf(_SC_LEVEL1_ICACHE_SIZE);
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    add_cache(t, 1, "data", l1d > 0 ? (uint64_t)l1d : 0, line_bytes, 0);
    add_cache(t, 1, "instruction", l1i > 0 ? (uint64_t)l1i : 0, line_bytes, 0);
    add_cache(t, 2, "unified", l2 > 0 ? (uint64_t)l2 : 0, line_bytes, 0);
    add_cache(t, 3, "unified", l3 > 0 ? (uint64_t)l3 : 0, line_bytes, 0);
#endif
}

#ifdef CLT_TOOLS_HAVE_HWLOC
static const char *cache_kind(hwloc_obj_cache_type_t type)
{
    switch (type) {
    case HWLOC_OBJ_CACHE_DATA: return "data";
    case HWLOC_OBJ_CACHE_INSTRUCTION: return "instruction";
    case HWLOC_OBJ_CACHE_UNIFIED: return "unified";
    }
    return "unified";
}

static int count_of(hwloc_topology_t topo, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type(topo, type);
    return n >= 0 ? n : -1;
}

static bool read_with_hwloc(host_topology *t)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0)
        return false;
    /* hwloc 2.x leaves instruction caches out unless asked. */
    hwloc_topology_set_icache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return false;
    }
    t->source = "hwloc";
    t->from_hwloc = true;

    t->packages = count_of(topo, HWLOC_OBJ_PACKAGE);
    t->cores = count_of(topo, HWLOC_OBJ_CORE);
    t->pus = count_of(topo, HWLOC_OBJ_PU);

    hwloc_obj_t package = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model = package ? hwloc_obj_get_info_by_name(package, "CPUModel") : NULL;
    if (model)
        snprintf(t->cpu_model, sizeof t->cpu_model, "%s", model);

    int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < numa && t->numa_count < HOST_TOPOLOGY_MAX_NUMA; i++) {
        hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        t->numa_memory_bytes[t->numa_count++] = node ? node->attr->numanode.local_memory : 0;
    }

    /* Data and unified caches level by level, then the instruction caches. */
    static const hwloc_obj_type_t cache_types[] = {
        HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L2ICACHE,
        HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L3ICACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L5CACHE,
    };
    for (size_t i = 0; i < sizeof cache_types / sizeof cache_types[0]; i++) {
        int n = hwloc_get_nbobjs_by_type(topo, cache_types[i]);
        hwloc_obj_t first = n > 0 ? hwloc_get_obj_by_type(topo, cache_types[i], 0) : NULL;
        if (first == NULL)
            continue;
        add_cache(t, (int)first->attr->cache.depth, cache_kind(first->attr->cache.type),
                  first->attr->cache.size, (int)first->attr->cache.linesize, n);
    }
    hwloc_topology_destroy(topo);
    return true;
}
#endif

void host_topology_read(host_topology *out)
{
    memset(out, 0, sizeof *out);
    out->packages = -1;
    out->cores = -1;
    out->pus = -1;
#ifdef CLT_TOOLS_HAVE_HWLOC
    if (!read_with_hwloc(out))
        read_with_sysconf(out);
#else
    read_with_sysconf(out);
#endif
    out->memory_bytes = physical_memory_bytes();
}
