/* What the tools report about the host machine: CPU packages, cores, hardware threads,
 * NUMA nodes and caches. Read through hwloc when the tools are built with it
 * (CLT_TOOLS_HAVE_HWLOC), otherwise from sysconf, which knows less. */
#ifndef CLT_TOOLS_HOST_TOPOLOGY_H
#define CLT_TOOLS_HOST_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#define HOST_TOPOLOGY_MAX_NUMA 64
#define HOST_TOPOLOGY_MAX_CACHES 12

typedef struct host_cache {
    int level;            /* 1, 2, 3 ... */
    const char *kind;     /* "data", "instruction", "unified" */
    uint64_t size_bytes;  /* of one instance */
    int line_bytes;       /* 0 if unknown */
    int count;            /* instances in the machine; 0 if unknown */
} host_cache;

typedef struct host_topology {
    const char *source;   /* "hwloc" or "sysconf" */
    char cpu_model[256];  /* "" if unknown */
    int packages;         /* -1 if unknown */
    int cores;            /* -1 if unknown */
    int pus;              /* hardware threads (processing units) */
    uint64_t memory_bytes;/* total physical memory (sysconf); 0 if unknown */
    int numa_count;       /* 0 if unknown */
    uint64_t numa_memory_bytes[HOST_TOPOLOGY_MAX_NUMA]; /* local memory per node */
    int cache_count;
    host_cache caches[HOST_TOPOLOGY_MAX_CACHES]; /* by level, data before instruction */
    bool from_hwloc;
} host_topology;

/* Fills *out. Never fails: what cannot be read is marked unknown as above. */
void host_topology_read(host_topology *out);

#endif
