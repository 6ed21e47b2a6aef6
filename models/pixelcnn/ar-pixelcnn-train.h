/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn-train.h — training the PixelCNN family: the network of
 * ar-pixelcnn.h over batches of whole images, forward and backward, its
 * convolutions as matrix products (im2col + OpenBLAS sgemm), and an image
 * training task for the shared trainer (ar-train.h).
 *
 *   ArPixelCnnConfig c = AR_PIXELCNN_CONFIG_DEFAULT;
 *   g_autoptr (ArPixelCnnTask) task = ar_pixelcnn_task_new (&c, train, test,
 *                                        names, 32, 0);
 *   ar_pixelcnn_train_init (ar_pixelcnn_task_get_net (task), &rng);
 *   g_autoptr (ArTrainer) tr = ar_trainer_new (ar_pixelcnn_task_get_trainable (task),
 *                                              task, &options);
 *
 * The parameters carry the tensor names and shapes of the model file, so
 * ar_pixelcnn_train_write () writes what ar_pixelcnn_new_from_gguf () loads.
 * The graph computes what the inference model computes, in another order
 * (matrix products over every position at once), so its logits agree with
 * ar_pixelcnn_forward () to rounding.
 *
 * Loss: the mean over every pixel of the batch of −log p (x | pixels before
 * it, class), in nats; the trainer is told bits per dimension (nats / ln 2),
 * the unit of the PixelCNN literature.
 *
 * Threads and determinism, as the Transformer graph: a batch of B images is
 * split into ⌈B / AR_PIXELCNN_MICROBATCH⌉ tasks of consecutive images, handed
 * to the pool's threads as they come free; each task runs forward and
 * backward in a work space of the thread running it and adds into its own
 * copy of the gradients, and the copies are added up in task order.
 * OpenBLAS is held to one thread during the call.  Results depend on B, not
 * on the number of threads. */
#pragma once

#include <glib.h>
#include "core/ar-gguf.h"
#include "core/ar-rng.h"
#include "data/ar-idx.h"
#include "nn/ar-nn.h"
#include "pixelcnn/ar-pixelcnn.h"
#include "train/ar-train.h"

G_BEGIN_DECLS

/* Images per task. */
#define AR_PIXELCNN_MICROBATCH 4
/* Most threads a graph uses. */
#define AR_PIXELCNN_MAX_THREADS 16

typedef struct _ArPixelCnnTrain ArPixelCnnTrain;

/* @config must pass ar_pixelcnn_config_check (); up to @max_B images a
 * call; @n_threads 1 … AR_PIXELCNN_MAX_THREADS, 0 = the number of
 * processors. */
ArPixelCnnTrain *ar_pixelcnn_train_new (const ArPixelCnnConfig *config,
    int max_B, int n_threads);
void ar_pixelcnn_train_free (ArPixelCnnTrain *t);
/* Weights normal with standard deviation 1/sqrt (fan_in), the residual
 * projections a tenth of that (each layer starts near the identity),
 * biases and class biases 0; drawn from @rng in parameter order. */
void ar_pixelcnn_train_init (ArPixelCnnTrain *t, ArRng *rng);
GPtrArray *ar_pixelcnn_train_get_params (ArPixelCnnTrain
        *t); /* (element-type ArParam) not owned */
const ArPixelCnnConfig *ar_pixelcnn_train_get_config (const ArPixelCnnTrain *t);
int ar_pixelcnn_train_get_n_threads (const ArPixelCnnTrain *t);
/* @images (B, H, W) pixel values, @classes (B) (NULL for an unconditional
 * model).  Returns the mean NLL in nats per pixel; with @backward,
 * accumulates the parameter gradients of that mean. */
float ar_pixelcnn_train_forward (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B, gboolean backward);
/* The summed NLL in nats of the B images (forward only, in double). */
double ar_pixelcnn_train_nll_sum (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B);
/* The logits (B, H, W, Q). */
void ar_pixelcnn_train_logits (ArPixelCnnTrain *t, const guint8 *images,
    const gint32 *classes, int B, float *logits);
/* The model keys (class names @names, or NULL) and the weights, F32. */
void ar_pixelcnn_train_write (ArPixelCnnTrain *t, const char *const *names,
    ArGgufWriter *w);
/* Copies the weights of a model file of the same configuration. */
gboolean ar_pixelcnn_train_load_weights (ArPixelCnnTrain *t, const ArGguf *gguf,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArPixelCnnTrain, ar_pixelcnn_train_free)

/* ---- an image training task ---------------------------------------------- */

/* Each step draws B random training images (with their labels for a
 * conditional model); validation is the test set's NLL in bits per
 * dimension (on its first eval_images images, all by default). */
typedef struct _ArPixelCnnTask ArPixelCnnTask;

/* @train and @test (may be NULL) are borrowed and must outlive the task;
 * their images must be config's size, and carry labels below config's
 * classes when classes > 0.  @names: class names or NULL. */
ArPixelCnnTask *ar_pixelcnn_task_new (const ArPixelCnnConfig *config,
    const ArImageSet *train, const ArImageSet *test, const char *const *names,
    int B, int n_threads);
void ar_pixelcnn_task_free (ArPixelCnnTask *task);
const ArTrainable *ar_pixelcnn_task_get_trainable (ArPixelCnnTask *task);
ArPixelCnnTrain *ar_pixelcnn_task_get_net (ArPixelCnnTask *task);
/* Validate on the first @n test images only (0 = all). */
void ar_pixelcnn_task_set_eval_images (ArPixelCnnTask *task, int n);
/* Bits per dimension of images [from, to) of @set. */
double ar_pixelcnn_task_evaluate (ArPixelCnnTask *task, const ArImageSet *set,
    int from, int to);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArPixelCnnTask, ar_pixelcnn_task_free)

G_END_DECLS
