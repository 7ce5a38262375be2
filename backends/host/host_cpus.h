/* Which CPU each host worker runs on. A streaming loop wants one worker per physical
 * core: two workers on the SMT siblings of one core share its load ports and caches and
 * run no faster than one, while a core sits idle. hwloc knows which processing units
 * are siblings; without it the process's CPUs are taken in the order the OS numbers
 * them. */
#ifndef CLT_HOST_CPUS_H
#define CLT_HOST_CPUS_H

#include <stdbool.h>

/* Fills cpus[0..n) with the OS index of the CPU for worker 0..n-1 and returns true, or
 * returns false when the process may not run on n distinct CPUs (the workers are then
 * left to the scheduler). With hwloc the order is the first PU of every core the process
 * may use, then the second PU of every core, and so on, cores in topology order. */
bool clt_host_cpus_for_workers(int n, int *cpus);

/* "hwloc" or "affinity mask": what clt_host_cpus_for_workers reads, for logs and tests. */
const char *clt_host_cpus_source(void);

#endif
