/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-parallel.c — a minimal fork-join over index ranges for the element-wise
 * loops of training (the gate nonlinearities of the recurrent layers).
 *
 * Why not GThreadPool: a training step hands out a few hundred jobs of a few
 * hundred microseconds each, one per time step, and waits for each before the
 * next BLAS call; what matters is the wake-up latency and that nothing is
 * allocated per job.  So: helper threads created once for the process, a
 * generation counter under one mutex, a condition variable to start a job and
 * another to report the last part done.  The caller does its own share of the
 * work meanwhile.  The helpers live until the process exits; they hold no
 * resources besides their stacks. */
#include "ar-nn-private.h"

#include <unistd.h>

typedef struct
{
  GMutex lock;
  GCond start; /* generation changed: a job is posted */
  GCond done;  /* pending reached 0 */
  guint64 generation;
  int pending; /* helper parts not yet finished */

  /* the posted job */
  ArNnRangeFunc fn;
  gpointer data;
  int n, parts;

  GMutex busy; /* held by the thread that posted the job */
  int n_helpers;
  pid_t pid; /* of the process that started the helpers */
} Pool;

typedef struct
{
  Pool *pool;
  int index; /* this helper runs part index (1 .. n_helpers) */
} Helper;

static void
part_range (int n, int parts, int i, int *begin, int *end)
{
  *begin = (int) ((gint64) n * i / parts);
  *end = (int) ((gint64) n * (i + 1) / parts);
}

static gpointer
helper_main (gpointer user_data)
{
  Helper *self = user_data;
  Pool *pool = self->pool;
  guint64 seen = 0;

  for (;;) {
    ArNnRangeFunc fn;
    gpointer data;
    int n, parts, begin, end;

    g_mutex_lock (&pool->lock);
    while (pool->generation == seen)
      g_cond_wait (&pool->start, &pool->lock);
    seen = pool->generation;
    fn = pool->fn;
    data = pool->data;
    n = pool->n;
    parts = pool->parts;
    g_mutex_unlock (&pool->lock);

    /* A job may use fewer parts than there are helpers. */
    if (self->index < parts) {
      part_range (n, parts, self->index, &begin, &end);
      fn (data, begin, end);
    }

    g_mutex_lock (&pool->lock);
    if (--pool->pending == 0)
      g_cond_signal (&pool->done);
    g_mutex_unlock (&pool->lock);
  }
  return NULL;
}

static gpointer
pool_create (gpointer unused)
{
  static Pool pool;
  int i, n_procs = (int) g_get_num_processors ();

  g_mutex_init (&pool.lock);
  g_cond_init (&pool.start);
  g_cond_init (&pool.done);
  g_mutex_init (&pool.busy);
  pool.pid = getpid ();
  pool.n_helpers = CLAMP (n_procs, 1, AR_NN_MAX_PARTS) - 1;
  for (i = 0; i < pool.n_helpers; i++) {
    Helper *h = g_new (Helper, 1);
    GThread *thread;

    h->pool = &pool;
    h->index = i + 1;
    thread = g_thread_try_new ("argen-nn", helper_main, h, NULL);
    if (thread == NULL) {
      /* Without threads everything runs in the caller: slower, not wrong. */
      g_free (h);
      pool.n_helpers = i;
      break;
    }
    g_thread_unref (thread);
  }
  return &pool;
}

void
ar_nn_parallel_for (int n, ArNnRangeFunc fn, gpointer data)
{
  static GOnce once = G_ONCE_INIT;
  Pool *pool;
  int parts, begin, end;

  g_return_if_fail (fn != NULL && n >= 0);

  if (n == 0)
    return;
  pool = g_once (&once, pool_create, NULL);
  parts = MIN (pool->n_helpers + 1, n);
  /* A forked child has none of its parent's threads: it must not wait for
   * them. */
  if (parts < 2 || getpid () != pool->pid || !g_mutex_trylock (&pool->busy)) {
    fn (data, 0, n);
    return;
  }

  g_mutex_lock (&pool->lock);
  pool->fn = fn;
  pool->data = data;
  pool->n = n;
  pool->parts = parts;
  /* every helper acknowledges every generation, used or not */
  pool->pending = pool->n_helpers;
  pool->generation++;
  g_cond_broadcast (&pool->start);
  g_mutex_unlock (&pool->lock);

  part_range (n, parts, 0, &begin, &end);
  fn (data, begin, end);

  g_mutex_lock (&pool->lock);
  while (pool->pending > 0)
    g_cond_wait (&pool->done, &pool->lock);
  g_mutex_unlock (&pool->lock);
  g_mutex_unlock (&pool->busy);
}
