/* The host device's thread pool (host_threads.h). Workers sleep on a condition variable
 * between runs; a run publishes (fn, user, n_tasks) under a new generation number and
 * every worker, the caller included, takes task numbers from one atomic counter until
 * they run out. The caller then waits until every worker has left the run, so nothing
 * of the run outlives clt_host_pool_run. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/host/host_cpus.h"
#include "backends/host/host_threads.h"
#include "runtime/error.h"

#define MAX_THREADS 1024

struct worker {
    struct clt_host_pool *pool;
    pthread_t thread;
    int index;
};

struct clt_host_pool {
    int size;
    int started;              /* threads running (size - 1 once created) */
    pthread_mutex_t run_lock; /* one run at a time */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation; /* bumped per run; workers wait for a change */
    bool quit;
    int busy;                 /* workers still inside the current run */
    clt_host_task_fn fn;
    void *user;
    size_t n_tasks;
    atomic_size_t next;       /* the next task number to hand out */
    struct worker *workers;
};

int clt_host_threads_default(void)
{
    const char *env = getenv("CLT_HOST_THREADS");
    if (env && *env) {
        char *end = NULL;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= MAX_THREADS)
            return (int)n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set) < MAX_THREADS ? CPU_COUNT(&set) : MAX_THREADS;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 && cpus <= MAX_THREADS ? (int)cpus : 1;
}

static void take_tasks(struct clt_host_pool *pool, int worker)
{
    for (;;) {
        size_t t = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (t >= pool->n_tasks)
            return;
        pool->fn(pool->user, t, worker);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct clt_host_pool *pool = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit)
            break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        take_tasks(pool, w->index);
        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Worker i on cpus[i] (host_cpus.h), a hint only: an error leaves it to the scheduler. */
static void pin(const struct worker *w, const int *cpus)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[w->index], &one);
    (void)pthread_setaffinity_np(w->thread, sizeof one, &one);
}

clt_status clt_host_pool_create(int n_threads, struct clt_host_pool **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > MAX_THREADS)
        return clt_fail(CLT_ERR_INVALID_ARG, "host: %d threads; 1..%d", n_threads,
                        MAX_THREADS);
    struct clt_host_pool *pool = calloc(1, sizeof *pool);
    struct worker *workers = calloc((size_t)n_threads, sizeof *workers);
    if (!pool || !workers) {
        free(pool);
        free(workers);
        return clt_fail(CLT_ERR_OUT_OF_MEMORY, "host: no memory for a pool of %d threads",
                        n_threads);
    }
    pool->size = n_threads;
    pool->workers = workers;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->next, 0);
    int *cpus = malloc((size_t)n_threads * sizeof *cpus);
    const bool pinned = cpus && clt_host_cpus_for_workers(n_threads, cpus);
    for (int i = 1; i < n_threads; i++) {
        workers[i] = (struct worker){.pool = pool, .index = i};
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            free(cpus);
            clt_host_pool_destroy(pool);
            return clt_fail(CLT_ERR_OUT_OF_MEMORY, "host: cannot start thread %d of %d", i,
                            n_threads);
        }
        pool->started = i;
        if (pinned)
            pin(&workers[i], cpus);
    }
    /* the caller is worker 0 and stays where it is: it is the user's thread */
    free(cpus);
    *out = pool;
    return CLT_OK;
}

void clt_host_pool_destroy(struct clt_host_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i <= pool->started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->run_lock);
    free(pool->workers);
    free(pool);
}

int clt_host_pool_size(const struct clt_host_pool *pool) { return pool ? pool->size : 1; }

void clt_host_pool_run(struct clt_host_pool *pool, size_t n_tasks, clt_host_task_fn fn,
                       void *user)
{
    if (!pool || pool->size == 1 || n_tasks <= 1) { /* waking threads costs more */
        for (size_t t = 0; t < n_tasks; t++)
            fn(user, t, 0);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->user = user;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->next, 0);
    pool->busy = pool->size - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    take_tasks(pool, 0);
    pthread_mutex_lock(&pool->lock);
    while (pool->busy > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&pool->run_lock);
}

clt_status clt_host_dev_pool(struct clt_dev *base, struct clt_host_pool **out)
{
    struct clt_host_dev *dev = (struct clt_host_dev *)base;
    clt_status s = CLT_OK;
    pthread_mutex_lock(&dev->pool_lock);
    if (!dev->pool)
        s = clt_host_pool_create(clt_host_threads_default(), &dev->pool);
    *out = dev->pool;
    pthread_mutex_unlock(&dev->pool_lock);
    return s;
}
