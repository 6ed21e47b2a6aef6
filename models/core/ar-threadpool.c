/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-threadpool.c — the fork-join pool of ar-threadpool.h: persistent
 * workers woken by a generation counter, tasks handed out by an atomic
 * counter tagged with the job's generation, the caller working alongside
 * and waiting only for the tasks it did not run itself. */
#include "ar-threadpool.h"

#include <stdatomic.h>
#include <unistd.h>

struct _ArThreadPool
{
  guint n_threads;   /* the caller included */
  GThread **workers; /* (n_threads - 1) once started */
  guint n_workers;   /* started successfully */
  gboolean tried;    /* workers were started (or failed to start) */
  pid_t pid;         /* the process that started them */

  GMutex lock;
  GCond start;            /* generation changed or quit set */
  GCond done;             /* the last task of a job finished */
  guint32 generation;     /* one per posted job, under lock */
  _Atomic guint32 posted; /* the same, readable without the lock */
  gboolean quit;

  /* the posted job, read under lock by each worker */
  ArThreadPoolFunc fn;
  gpointer data;
  guint n_tasks;
  /* (generation << 32) | next task to hand out.  A worker takes a task by
   * compare-and-swap, and only while the generation is the one whose job
   * it read: a worker that wakes up late can never run a task of a later
   * job with an earlier job's function. */
  _Atomic guint64 next;
  _Atomic guint n_done; /* tasks of the current job finished */

  GMutex busy; /* held by the thread running a job */
};

ArThreadPool *
ar_threadpool_new (guint n_threads)
{
  ArThreadPool *pool = g_new0 (ArThreadPool, 1);

  if (n_threads == 0)
    n_threads = g_get_num_processors ();
  pool->n_threads = CLAMP (n_threads, 1, AR_THREADPOOL_MAX_THREADS);
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->start);
  g_cond_init (&pool->done);
  g_mutex_init (&pool->busy);
  atomic_init (&pool->next, 0);
  atomic_init (&pool->n_done, 0);
  atomic_init (&pool->posted, 0);
  return pool;
}

guint
ar_threadpool_get_n_threads (const ArThreadPool *pool)
{
  return pool ? pool->n_threads : 1;
}

/* Takes tasks of job @generation until none is left. */
static void
work (ArThreadPool *pool, guint32 generation, ArThreadPoolFunc fn,
    gpointer data, guint n_tasks)
{
  guint64 v = atomic_load (&pool->next);

  for (;;) {
    guint task = (guint) (v & G_MAXUINT32);

    if ((guint32) (v >> 32) != generation || task >= n_tasks)
      return;
    /* on failure v is reloaded, and the checks run again */
    if (!atomic_compare_exchange_weak (&pool->next, &v, v + 1))
      continue;
    fn (data, task);
    if (atomic_fetch_add (&pool->n_done, 1) + 1 == n_tasks) {
      /* under the lock, so the caller cannot miss it between its check
       * and its wait */
      g_mutex_lock (&pool->lock);
      g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
      return;
    }
    v = atomic_load (&pool->next);
  }
}

/* How long a worker that has finished a job, or a caller waiting for its
 * workers, polls before sleeping on the condition variable: the products of
 * one token follow each other within tens of microseconds, and going
 * through the kernel to sleep and to be woken costs about that much each
 * time (measured on a 2-processor machine: with no polling, a GRU of 512
 * units ran slower on two threads than on one). */
#define SPIN_US 50

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Polls until the posted generation differs from @seen, for at most
 * SPIN_US. */
static void
spin_for_job (ArThreadPool *pool, guint32 seen)
{
  gint64 until = g_get_monotonic_time () + SPIN_US;

  while (atomic_load_explicit (&pool->posted, memory_order_relaxed) == seen) {
    for (int i = 0; i < 64; i++)
      cpu_relax ();
    if (g_get_monotonic_time () > until)
      return;
  }
}

static gpointer
worker_main (gpointer user_data)
{
  ArThreadPool *pool = user_data;
  guint32 seen = 0;

  g_mutex_lock (&pool->lock);
  for (;;) {
    ArThreadPoolFunc fn;
    gpointer data;
    guint n_tasks;

    g_mutex_unlock (&pool->lock);
    spin_for_job (pool, seen);
    g_mutex_lock (&pool->lock);
    while (pool->generation == seen && !pool->quit)
      g_cond_wait (&pool->start, &pool->lock);
    if (pool->quit)
      break;
    seen = pool->generation;
    fn = pool->fn;
    data = pool->data;
    n_tasks = pool->n_tasks;
    g_mutex_unlock (&pool->lock);

    work (pool, seen, fn, data, n_tasks);

    g_mutex_lock (&pool->lock);
  }
  g_mutex_unlock (&pool->lock);
  return NULL;
}

/* Starts the workers on first use; FALSE when there are none to use (the
 * caller then works alone). */
static gboolean
ensure_workers (ArThreadPool *pool)
{
  if (!pool->tried) {
    pool->tried = TRUE;
    pool->pid = getpid ();
    pool->workers = g_new0 (GThread *, pool->n_threads);
    for (guint i = 0; i + 1 < pool->n_threads; i++) {
      /* Without threads everything runs in the caller: slower, not wrong. */
      pool->workers[i] =
          g_thread_try_new ("argen-pool", worker_main, pool, NULL);
      if (pool->workers[i] == NULL)
        break;
      pool->n_workers++;
    }
  }
  /* A forked child has none of its parent's threads. */
  return pool->n_workers > 0 && getpid () == pool->pid;
}

void
ar_threadpool_run (ArThreadPool *pool, guint n_tasks, ArThreadPoolFunc fn,
    gpointer data)
{
  guint32 generation;

  g_return_if_fail (fn != NULL);

  if (pool == NULL || pool->n_threads < 2 || n_tasks < 2 ||
      !g_mutex_trylock (&pool->busy)) {
    for (guint i = 0; i < n_tasks; i++)
      fn (data, i);
    return;
  }
  if (!ensure_workers (pool)) {
    g_mutex_unlock (&pool->busy);
    for (guint i = 0; i < n_tasks; i++)
      fn (data, i);
    return;
  }

  g_mutex_lock (&pool->lock);
  /* 0 is what a new worker has seen */
  generation = pool->generation + 1 ? pool->generation + 1 : 1;
  pool->fn = fn;
  pool->data = data;
  pool->n_tasks = n_tasks;
  atomic_store (&pool->n_done, 0);
  atomic_store (&pool->next, (guint64) generation << 32);
  pool->generation = generation;
  atomic_store (&pool->posted, generation);
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);

  /* The caller works too; it waits only for tasks a worker has taken, never
   * for a worker that has not woken up yet (on a loaded machine that could
   * be a whole time slice). */
  work (pool, generation, fn, data, n_tasks);

  {
    gint64 until = g_get_monotonic_time () + SPIN_US;
    while (atomic_load (&pool->n_done) < n_tasks &&
        g_get_monotonic_time () <= until)
      cpu_relax ();
  }
  g_mutex_lock (&pool->lock);
  while (atomic_load (&pool->n_done) < n_tasks)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
  g_mutex_unlock (&pool->busy);
}

void
ar_threadpool_free (ArThreadPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  pool->quit = TRUE;
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);
  /* In a forked child the workers do not exist: nothing to join. */
  if (pool->n_workers > 0 && getpid () == pool->pid)
    for (guint i = 0; i < pool->n_workers; i++)
      g_thread_join (pool->workers[i]);
  g_free (pool->workers);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->start);
  g_cond_clear (&pool->done);
  g_mutex_clear (&pool->busy);
  g_free (pool);
}

/* ---- matrix-vector products split by rows ------------------------------ */

/* Rows per split point: a multiple of every kernel's row group. */
#define ROW_ALIGN 16
/* Tasks per thread: finer than one each, so a thread slowed down by
 * another process leaves more of the rows to the others. */
#define TASKS_PER_THREAD 4

/* One product split by rows: task i computes rows [i rows_per_task,
 * +rows_per_task) with the same typed kernel, over the matrix that starts
 * at that row (ar_matvec_typed). */
typedef struct
{
  ArTensorType type;
  float *y;
  const void *W;
  const float *x;
  const ArBlockQ8_0 *xq;
  const float *b;
  int rows, cols;
  gsize row_bytes; /* of one row of W */
  int rows_per_task;
} MatvecJob;

static void
matvec_task (gpointer data, guint task)
{
  const MatvecJob *j = data;
  int r0 = (int) task * j->rows_per_task;
  int n = MIN (j->rows_per_task, j->rows - r0);

  ar_matvec_typed (j->type, j->y + r0,
      (const guint8 *) j->W + (gsize) r0 * j->row_bytes, j->x, j->xq,
      j->b ? j->b + r0 : NULL, n, j->cols);
}

/* The number of tasks @j is split into (its rows_per_task set), 1 when it
 * is better done in one piece. */
static guint
plan (ArThreadPool *pool, MatvecJob *j)
{
  guint threads = ar_threadpool_get_n_threads (pool);
  int chunks;

  j->rows_per_task = j->rows;
  if (threads < 2 || (gint64) j->rows * j->cols < AR_THREADPOOL_MIN_WEIGHTS ||
      j->rows < 2 * ROW_ALIGN)
    return 1;
  chunks = MIN ((int) (threads * TASKS_PER_THREAD), j->rows / ROW_ALIGN);
  /* rows per task, rounded up to whole groups of ROW_ALIGN */
  j->rows_per_task =
      ((j->rows + chunks - 1) / chunks + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
  return (j->rows + j->rows_per_task - 1) / j->rows_per_task;
}

void
ar_threadpool_matvec_typed (ArThreadPool *pool, ArTensorType type, float *y,
    const void *W, const float *x, const ArBlockQ8_0 *xq, const float *b,
    int rows, int cols)
{
  MatvecJob j = { type, y, W, x, xq, b, rows, cols, 0, 0 };
  guint n;

  g_return_if_fail (rows >= 0 && cols >= 0);
  n = plan (pool, &j);
  if (n < 2) {
    matvec_task (&j, 0);
    return;
  }
  j.row_bytes = ar_tensor_data_size (type, (guint64) cols);
  ar_threadpool_run (pool, n, matvec_task, &j);
}

void
ar_threadpool_matvec (ArThreadPool *pool, float *y, const float *W,
    const float *x, const float *b, int rows, int cols)
{
  ar_threadpool_matvec_typed (pool, AR_TENSOR_F32, y, W, x, NULL, b, rows,
      cols);
}
