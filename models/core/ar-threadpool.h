/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-threadpool.h — a small fork-join thread pool for inference.
 *
 *   g_autoptr (ArThreadPool) pool = ar_threadpool_new (0);   // all processors
 *   ar_threadpool_run (pool, n_tasks, do_task, &job);        // do_task (&job, i)
 *
 * One pool belongs to one stream (an ArTextGen and its model states): the
 * thread that calls ar_threadpool_run() takes part in the work, and the
 * pool's workers (n_threads - 1 of them, started on the first job that has
 * more than one task, then kept until the pool is freed) take the rest.
 * Tasks are handed out one at a time from a shared counter, so a worker
 * slowed down by another process on a shared machine simply takes fewer.
 *
 * Why not GThreadPool: a token costs a few hundred microseconds and its
 * large matrix-vector products a few tens each; what matters is the wake-up
 * latency and that nothing is allocated per job.  So: a generation counter
 * under one mutex, one condition variable to post a job and one to report
 * its last task done.  The caller never waits for a worker that has not
 * woken up yet — on a machine shared with other processes that can take a
 * whole scheduler time slice — only for tasks a worker has actually taken;
 * a task counter tagged with the job's generation keeps a late worker from
 * taking tasks of a later job.
 *
 * Results never depend on the number of threads as long as each task writes
 * its own outputs (e.g. rows of a matrix-vector product): which thread runs
 * a task changes nothing in what it computes. */
#pragma once

#include <glib.h>
#include "ar-kernels.h"

G_BEGIN_DECLS

/* Most threads a pool runs, the caller included. */
#define AR_THREADPOOL_MAX_THREADS 64

typedef struct _ArThreadPool ArThreadPool;

/* Work item @task (0 .. n_tasks - 1) of the job described by @data. */
typedef void (*ArThreadPoolFunc) (gpointer data, guint task);

/* @n_threads: threads working on each job, the caller included; 0 = the
 * number of processors.  Capped at AR_THREADPOOL_MAX_THREADS.  No thread is
 * started here. */
ArThreadPool *ar_threadpool_new (guint n_threads);
/* Stops and joins the workers. */
void ar_threadpool_free (ArThreadPool *pool);
/* Threads working on each job, the caller included (>= 1).  @pool may be
 * NULL: 1. */
guint ar_threadpool_get_n_threads (const ArThreadPool *pool);

/* Calls @fn (@data, i) once for every i in [0, n_tasks) and returns when
 * all calls have returned.  With @pool NULL, one thread, a single task, or
 * when the workers could not be started, everything runs in the calling
 * thread, in order.  Not reentrant: @fn must not run a job on the same
 * pool, and one pool serves one thread at a time (a second caller while a
 * job runs does its job alone, in its own thread). */
void ar_threadpool_run (ArThreadPool *pool, guint n_tasks, ArThreadPoolFunc fn,
    gpointer data);

/* ---- matrix-vector products split by rows ------------------------------
 * ar_matvec_typed (ar-kernels.h) — y (rows) = W (rows, cols) · x [+ b], W
 * stored as @type — with the rows split over @pool's threads when the
 * matrix holds at least AR_THREADPOOL_MIN_WEIGHTS weights; smaller
 * products, and any with @pool NULL or of one thread, run in the caller.
 * Each row is computed by one thread with the same kernel over the same
 * values, and the split points are multiples of 16 rows (the kernels treat
 * rows in groups of 8, 4 and 2), so the result is bit for bit the unsplit
 * one whatever the thread count. */

/* Below this a product is memory traffic of a few tens of microseconds at
 * most, about what waking a worker costs on a loaded machine (measured:
 * bench-transformer). */
#define AR_THREADPOOL_MIN_WEIGHTS (1 << 17)

/* @x: floats, read by F32 and F16 matrices; @xq: x quantised by
 * ar_quantize_q8_0, read by Q8_0 and Q4_0 ones; @b: optional, for every
 * type (as ar_matvec_typed). */
void ar_threadpool_matvec_typed (ArThreadPool *pool, ArTensorType type,
    float *y, const void *W, const float *x, const ArBlockQ8_0 *xq,
    const float *b, int rows, int cols);

/* The F32 case, ar_matvec split (the RNN's products). */
void ar_threadpool_matvec (ArThreadPool *pool, float *y, const float *W,
    const float *x, const float *b, int rows, int cols);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArThreadPool, ar_threadpool_free)

G_END_DECLS
