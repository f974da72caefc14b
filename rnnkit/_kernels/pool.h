/* A small pool of worker threads for the time loops (POSIX threads).
 *
 * The sequences of a batch are independent, so each thread runs the whole time
 * loop on its own rows of the batch: one wake-up and one join per call, nothing
 * shared between steps but read-only weights. Calls from several Python threads
 * at once are served one at a time; a call that finds the pool busy runs on its
 * own thread. After fork() the child starts with no workers (they do not survive it).
 */

#if RNNKIT_THREADS

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#define POOL_MAX 64

typedef void (*pool_fn)(void *ctx, int tid, int nthreads);

static struct {
    pthread_mutex_t lock;           /* guards everything below */
    pthread_cond_t start, done;
    pthread_mutex_t busy;           /* held by the call that owns the pool */
    int workers;                    /* started so far */
    int wanted;                     /* threads per call, the caller included */
    unsigned long generation;       /* bumped for each job */
    int pending;                    /* workers still running the job */
    pool_fn fn;
    void *ctx;
    int nthreads;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, NULL, NULL, 0};

typedef struct {
    int tid;                        /* 1 .. workers */
    unsigned long seen;             /* the generation before the job the worker was started for */
} worker_start;

static void *pool_worker(void *arg)
{
    const worker_start w = *(worker_start *)arg;
    free(arg);
    const int tid = w.tid;
    unsigned long seen = w.seen;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.start, &pool.lock);
        seen = pool.generation;
        if (tid < pool.nthreads) {
            pool_fn fn = pool.fn;
            void *ctx = pool.ctx;
            const int n = pool.nthreads;
            pthread_mutex_unlock(&pool.lock);
            fn(ctx, tid, n);
            pthread_mutex_lock(&pool.lock);
            if (--pool.pending == 0) pthread_cond_signal(&pool.done);
        }
    }
    return NULL;
}

static void pool_after_fork_in_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.busy, NULL);
    pthread_cond_init(&pool.start, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.workers = 0;
    pool.pending = 0;
}

static int pool_default_threads(void)
{
    const char *names[] = {"RNNKIT_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"};
    for (int i = 0; i < 3; i++) {
        const char *s = getenv(names[i]);
        if (s && atoi(s) > 0) return atoi(s) < POOL_MAX ? atoi(s) : POOL_MAX;
    }
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set) < POOL_MAX ? CPU_COUNT(&set) : POOL_MAX;
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n < POOL_MAX ? (int)n : POOL_MAX);
}

/* Run fn(ctx, tid, n) for tid = 0 .. n-1, with n <= the pool's size (tid 0 on this thread). */
static void pool_run(pool_fn fn, void *ctx, int n)
{
    if (n > pool.wanted) n = pool.wanted;
    if (n <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    while (pool.workers < n - 1) {              /* start workers on first need */
        pthread_t th;
        worker_start *w = malloc(sizeof *w);
        if (!w) break;
        w->tid = pool.workers + 1, w->seen = pool.generation;
        if (pthread_create(&th, NULL, pool_worker, w) != 0) {
            free(w);
            break;
        }
        pthread_detach(th);
        pool.workers++;
    }
    if (n > pool.workers + 1) n = pool.workers + 1;
    pool.fn = fn, pool.ctx = ctx, pool.nthreads = n, pool.pending = n - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.lock);
    fn(ctx, 0, n);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}

static void pool_init(void)
{
    pool.wanted = pool_default_threads();
    pthread_atfork(NULL, NULL, pool_after_fork_in_child);
}

#else

typedef void (*pool_fn)(void *ctx, int tid, int nthreads);
static struct { int wanted; } pool = {1};
static void pool_run(pool_fn fn, void *ctx, int n) { (void)n; fn(ctx, 0, 1); }
static void pool_init(void) {}

#endif /* RNNKIT_THREADS */
