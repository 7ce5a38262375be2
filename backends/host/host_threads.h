/* The host device's worker threads: a pool owned by one host device (created lazily by
 * the first op that wants it, destroyed when the device closes), never a global, so two
 * contexts never share or fight over threads. Work is a set of numbered tasks; which
 * thread runs which task varies from run to run, so callers make each task's result
 * depend only on its number (a fixed partition), never on the thread or the order. */
#ifndef CLT_HOST_THREADS_H
#define CLT_HOST_THREADS_H

#include <stddef.h>

#include <pthread.h>

#include "runtime/driver.h"

struct clt_host_pool;

/* One task: `task` in 0..n_tasks-1, run by worker `worker` in 0..size-1 (0 is the
 * calling thread). A worker runs one task at a time, so per-worker scratch is safe. */
typedef void (*clt_host_task_fn)(void *user, size_t task, int worker);

/* The thread count a host device uses: CLT_HOST_THREADS when it is a number 1..1024,
 * else the CPUs this process may run on. */
int clt_host_threads_default(void);

/* A pool of `n_threads` workers (1..1024) counting the caller: n_threads - 1 threads are
 * started, worker i pinned to the CPU clt_host_cpus_for_workers gives it (one per
 * physical core first, through hwloc) when the process has that many CPUs, so the OS
 * neither bounces a streaming loop between cores nor stacks two on SMT siblings. */
clt_status clt_host_pool_create(int n_threads, struct clt_host_pool **out);
void clt_host_pool_destroy(struct clt_host_pool *pool);
int clt_host_pool_size(const struct clt_host_pool *pool);

/* Runs fn for every task 0..n_tasks-1 across the workers and returns when all are done.
 * Concurrent calls on one pool run one after the other. A NULL pool runs the tasks on
 * the caller, as worker 0. */
void clt_host_pool_run(struct clt_host_pool *pool, size_t n_tasks, clt_host_task_fn fn,
                       void *user);

/* The pool of a host device, created on first use with clt_host_threads_default()
 * workers; the device destroys it when it closes. */
clt_status clt_host_dev_pool(struct clt_dev *dev, struct clt_host_pool **out);

/* The host driver's device: its pool, made by the first op that needs it (two threads'
 * first ops on one context may race for it, hence the lock). */
struct clt_host_dev {
    struct clt_dev base;
    pthread_mutex_t pool_lock;
    struct clt_host_pool *pool;
};

#endif
