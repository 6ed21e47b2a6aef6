/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-pixelcnn.c — the Gated PixelCNN model (ar-pixelcnn.h): configuration,
 * loading and writing, the full forward pass and the generator (cached and
 * naive sampling, completion, images across threads).
 *
 * Where the time goes: per pixel, the vertical stack's share of its row
 * (12 C² multiply-adds a layer for K = 3, plus 4 C² for the link into the
 * horizontal stack), the horizontal stack at the pixel (5 C²) and the output
 * (C O + O Q).  All of it goes through one kernel,
 * ar_pixelcnn_rows_product () (ar-pixelcnn-kernels.c), with the weights
 * stored transposed (inputs × outputs) so that the outputs are the vector
 * lanes; each output sums its terms in input order.
 *
 * Exactness of cached against naive sampling: both run the same functions
 * (row_vertical () for a row, pixel_horizontal () for a pixel) on the same
 * values, so every activation they share is bitwise equal (see the header). */
#include "pixelcnn/ar-pixelcnn.h"
#include "pixelcnn/ar-pixelcnn-private.h"
#include "core/ar-error.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One layer's weights, matrices transposed (inputs × outputs). */
typedef struct
{
  float *v_wt;   /* (Tv · Cin, 2C), Tv = (P+1) K (layer 0: (P0+1) K0, Cin 1) */
  float *v_b;    /* (2C) */
  float *h_wt;   /* (Th · Cin, 2C): Th = P + 1 taps (layer 0: P0, Cin 1) */
  float *h_b;    /* (2C) */
  float *vh_wt;  /* (2C, 2C) */
  float *res_wt; /* (C, C), l >= 1 */
  float *res_b;  /* (C), l >= 1 */
  float *cv;     /* (N, 2C), N > 0 */
  float *ch;     /* (N, 2C), N > 0 */
} Layer;

/* A tensor of the file and where its values live in the model. */
typedef struct
{
  char name[48];
  guint n_dims;
  int rows,
      cols; /* the file's matrix rows × cols (ne { cols, rows }); vector: rows 1 */
  gboolean transposed; /* dst holds cols × rows */
  gboolean bias;       /* initialised N (0, 0.1) by new_random */
  float *dst;
} TensorDesc;

struct _ArPixelCnn
{
  gint ref;
  ArPixelCnnConfig c;
  char **names;  /* (N + 1), NULL-terminated */
  Layer *layers; /* (L) */
  float *o1_wt;  /* (C, O) */
  float *o1_b;   /* (O) */
  float *o2_wt;  /* (O, Q) */
  float *o2_b;   /* (Q) */
  TensorDesc *tensors;
  int n_tensors;
  float *store; /* every value above, one allocation */
};

/* ---- configuration ------------------------------------------------------- */

static gboolean
check_range (const char *key, int v, int lo, int hi, GError **error)
{
  if (v < lo || v > hi) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "pixelcnn.%s is %d; expected %d … %d", key, v, lo, hi);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_pixelcnn_config_check (const ArPixelCnnConfig *c, GError **error)
{
  g_return_val_if_fail (c != NULL, FALSE);
  if (c->channels == 3) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "pixelcnn.channels is 3: colour models are not supported by this "
        "version (grey only, channels 1)");
    return FALSE;
  }
  if (!check_range ("width", c->width, 1, AR_PIXELCNN_MAX_SIDE, error) ||
      !check_range ("height", c->height, 1, AR_PIXELCNN_MAX_SIDE, error) ||
      !check_range ("channels", c->channels, 1, 1, error) ||
      !check_range ("layers", c->layers, 1, AR_PIXELCNN_MAX_LAYERS, error) ||
      !check_range ("features", c->features, 1, AR_PIXELCNN_MAX_FEATURES,
          error) ||
      !check_range ("first_kernel", c->first_kernel, 3, AR_PIXELCNN_MAX_KERNEL,
          error) ||
      !check_range ("kernel", c->kernel, 1, AR_PIXELCNN_MAX_KERNEL, error) ||
      !check_range ("output_hidden", c->output_hidden, 1,
          AR_PIXELCNN_MAX_FEATURES, error) ||
      !check_range ("classes", c->classes, 0, AR_PIXELCNN_MAX_CLASSES, error))
    return FALSE;
  if (c->levels != 2 && c->levels != 256) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "pixelcnn.levels is %d; expected 256 (8-bit) or 2 (binary)", c->levels);
    return FALSE;
  }
  if (c->first_kernel % 2 == 0 || c->kernel % 2 == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "pixelcnn.first_kernel (%d) and pixelcnn.kernel (%d) must be odd",
        c->first_kernel, c->kernel);
    return FALSE;
  }
  return TRUE;
}

static const char *const config_keys[] = { "width", "height", "channels",
  "levels", "layers", "features", "first_kernel", "kernel", "output_hidden",
  "classes" };

static int *
config_field (ArPixelCnnConfig *c, guint i)
{
  int *fields[] = { &c->width, &c->height, &c->channels, &c->levels, &c->layers,
    &c->features, &c->first_kernel, &c->kernel, &c->output_hidden,
    &c->classes };
  return fields[i];
}

gboolean
ar_pixelcnn_config_from_gguf (ArPixelCnnConfig *config, const ArGguf *gguf,
    GError **error)
{
  const char *arch;
  ArPixelCnnConfig c;

  g_return_val_if_fail (config != NULL && gguf != NULL, FALSE);
  if (!ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return FALSE;
  if (strcmp (arch, "pixelcnn") != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: general.architecture is \"%s\"; expected \"pixelcnn\"",
        ar_gguf_get_name (gguf), arch);
    return FALSE;
  }
  for (guint i = 0; i < G_N_ELEMENTS (config_keys); i++) {
    g_autofree char *key = g_strconcat ("pixelcnn.", config_keys[i], NULL);
    guint32 v;

    if (!ar_gguf_get_u32 (gguf, key, &v, error))
      return FALSE;
    *config_field (&c, i) = (int) MIN (v, (guint32) G_MAXINT);
  }
  GError *local = NULL;
  if (!ar_pixelcnn_config_check (&c, &local)) {
    g_propagate_prefixed_error (error, local, "%s: ", ar_gguf_get_name (gguf));
    return FALSE;
  }
  *config = c;
  return TRUE;
}

void
ar_pixelcnn_config_write (const ArPixelCnnConfig *config,
    const char *const *names, ArGgufWriter *w)
{
  ArPixelCnnConfig c = *config;

  ar_gguf_writer_set_string (w, "general.architecture", "pixelcnn");
  for (guint i = 0; i < G_N_ELEMENTS (config_keys); i++) {
    g_autofree char *key = g_strconcat ("pixelcnn.", config_keys[i], NULL);
    ar_gguf_writer_set_u32 (w, key, (guint32) *config_field (&c, i));
  }
  if (c.classes > 0 && names != NULL)
    ar_gguf_writer_set_string_array (w, "pixelcnn.class_names", names, NULL,
        c.classes);
}

void
ar_pixelcnn_config_receptive_field (const ArPixelCnnConfig *c, int *rows_above,
    int *cols_side)
{
  int P0 = c->first_kernel / 2, P = c->kernel / 2;

  if (rows_above != NULL)
    *rows_above = P0 + 1 + (c->layers - 1) * P;
  if (cols_side != NULL)
    *cols_side = P0 + (c->layers - 1) * P;
}

guint64
ar_pixelcnn_config_macs_per_pixel (const ArPixelCnnConfig *c)
{
  guint64 C = c->features, P0 = c->first_kernel / 2, P = c->kernel / 2;
  guint64 K0 = c->first_kernel, K = c->kernel;
  guint64 m = (P0 + 1) * K0 * 2 * C + P0 * 2 * C + 4 * C * C;

  m += (guint64) (c->layers - 1) *
      ((P + 1) * K * C * 2 * C + (P + 1) * C * 2 * C + 4 * C * C + C * C);
  return m + C * c->output_hidden + (guint64) c->output_hidden * c->levels;
}

int
ar_pixelcnn_value_to_level (int levels, guint8 value)
{
  return levels == 2 ? value >= 128 : value;
}

guint8
ar_pixelcnn_level_to_value (int levels, int level)
{
  return levels == 2 ? (level ? 255 : 0) : (guint8) level;
}

/* ---- the model's tensors ------------------------------------------------- */

static int
taps_v (const ArPixelCnnConfig *c, int l)
{
  return l == 0 ? (c->first_kernel / 2 + 1) * c->first_kernel
                : (c->kernel / 2 + 1) * c->kernel * c->features;
}

static int
taps_h (const ArPixelCnnConfig *c, int l)
{
  return l == 0 ? c->first_kernel / 2 : (c->kernel / 2 + 1) * c->features;
}

static void
add_desc (ArPixelCnn *pc, gsize *offset, float **dst, const char *name,
    guint n_dims, int rows, int cols, gboolean transposed, gboolean bias)
{
  TensorDesc *d = &pc->tensors[pc->n_tensors++];

  g_strlcpy (d->name, name, sizeof d->name);
  d->n_dims = n_dims;
  d->rows = rows;
  d->cols = cols;
  d->transposed = transposed;
  d->bias = bias;
  /* offsets first (store is NULL: no pointer, NULL + offset is undefined
   * behaviour), pointers on the second pass */
  d->dst = pc->store != NULL ? pc->store + *offset : NULL;
  if (dst != NULL)
    *dst = d->dst;
  *offset += (gsize) rows * cols;
}

/* Lists the tensors (in file order) and points the layers into one
 * allocation; called twice: to size the store, then to place the tensors. */
static gsize
layout (ArPixelCnn *pc)
{
  const ArPixelCnnConfig *c = &pc->c;
  int C2 = 2 * c->features, C = c->features, N = c->classes;
  gsize off = 0;
  char name[48];

  pc->n_tensors = 0;
  for (int l = 0; l < c->layers; l++) {
    Layer *ly = &pc->layers[l];

#define DESC(field, suffix, nd, rows, cols, tr, bias)                          \
  do {                                                                         \
    g_snprintf (name, sizeof name, "layer.%d.%s", l, suffix);                  \
    add_desc (pc, &off, &ly->field, name, nd, rows, cols, tr, bias);           \
  } while (0)
    DESC (v_wt, "v.weight", 2, C2, taps_v (c, l), TRUE, FALSE);
    DESC (v_b, "v.bias", 1, 1, C2, FALSE, TRUE);
    DESC (h_wt, "h.weight", 2, C2, taps_h (c, l), TRUE, FALSE);
    DESC (h_b, "h.bias", 1, 1, C2, FALSE, TRUE);
    DESC (vh_wt, "vh.weight", 2, C2, C2, TRUE, FALSE);
    if (l > 0) {
      DESC (res_wt, "res.weight", 2, C, C, TRUE, FALSE);
      DESC (res_b, "res.bias", 1, 1, C, FALSE, TRUE);
    }
    if (N > 0) {
      DESC (cv, "cv.weight", 2, N, C2, FALSE, TRUE);
      DESC (ch, "ch.weight", 2, N, C2, FALSE, TRUE);
    }
#undef DESC
  }
  add_desc (pc, &off, &pc->o1_wt, "out1.weight", 2, c->output_hidden, C, TRUE,
      FALSE);
  add_desc (pc, &off, &pc->o1_b, "out1.bias", 1, 1, c->output_hidden, FALSE,
      TRUE);
  add_desc (pc, &off, &pc->o2_wt, "out2.weight", 2, c->levels, c->output_hidden,
      TRUE, FALSE);
  add_desc (pc, &off, &pc->o2_b, "out2.bias", 1, 1, c->levels, FALSE, TRUE);
  return off;
}

static ArPixelCnn *
model_alloc (const ArPixelCnnConfig *config, const char *const *names)
{
  ArPixelCnn *pc = g_new0 (ArPixelCnn, 1);

  pc->ref = 1;
  pc->c = *config;
  pc->layers = g_new0 (Layer, config->layers);
  pc->tensors = g_new0 (TensorDesc, 9 * config->layers + 4);
  gsize n = layout (pc);
  pc->store = g_new0 (float, n);
  layout (pc);
  pc->names = g_new0 (char *, config->classes + 1);
  for (int i = 0; i < config->classes; i++)
    pc->names[i] =
        names != NULL ? g_strdup (names[i]) : g_strdup_printf ("%d", i);
  return pc;
}

/* @src (rows, cols) row-major into the tensor's place. */
static void
desc_set (const TensorDesc *d, const float *src)
{
  if (!d->transposed) {
    memcpy (d->dst, src, (gsize) d->rows * d->cols * sizeof (float));
    return;
  }
  for (int r = 0; r < d->rows; r++)
    for (int k = 0; k < d->cols; k++)
      d->dst[(gsize) k * d->rows + r] = src[(gsize) r * d->cols + k];
}

static void
desc_get (const TensorDesc *d, float *out)
{
  if (!d->transposed) {
    memcpy (out, d->dst, (gsize) d->rows * d->cols * sizeof (float));
    return;
  }
  for (int r = 0; r < d->rows; r++)
    for (int k = 0; k < d->cols; k++)
      out[(gsize) r * d->cols + k] = d->dst[(gsize) k * d->rows + r];
}

ArPixelCnn *
ar_pixelcnn_new_from_gguf (const ArGguf *gguf, GError **error)
{
  ArPixelCnnConfig c;
  const char *const *names = NULL;

  g_return_val_if_fail (gguf != NULL, NULL);
  if (!ar_pixelcnn_config_from_gguf (&c, gguf, error))
    return NULL;
  /* each name found again by ar_pixelcnn_find_class () and shown by the
   * elements */
  if (c.classes > 0 && ar_gguf_has_key (gguf, "pixelcnn.class_names") &&
      !ar_gguf_get_name_array (gguf, "pixelcnn.class_names",
          (guint64) c.classes, "pixelcnn.classes", &names, error))
    return NULL;
  g_autoptr (ArPixelCnn) pc = model_alloc (&c, names);
  for (int i = 0; i < pc->n_tensors; i++) {
    const TensorDesc *d = &pc->tensors[i];
    guint64 ne[2] = { d->cols, d->rows };
    const ArGgufTensor *t =
        ar_gguf_require_tensor (gguf, d->name, d->n_dims, ne, error);

    if (t == NULL)
      return NULL;
    if (t->type != AR_TENSOR_F32 && t->type != AR_TENSOR_F16) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tensor '%s' is %s; expected F32 or F16", ar_gguf_get_name (gguf),
          d->name, ar_tensor_type_name (t->type));
      return NULL;
    }
    g_autofree float *tmp = g_new (float, t->n_elements);
    ar_gguf_tensor_to_f32 (t, tmp);
    desc_set (d, tmp);
  }
  return g_steal_pointer (&pc);
}

ArPixelCnn *
ar_pixelcnn_new_random (const ArPixelCnnConfig *config, guint64 seed,
    GError **error)
{
  ArRng rng;

  g_return_val_if_fail (config != NULL, NULL);
  if (!ar_pixelcnn_config_check (config, error))
    return NULL;
  ArPixelCnn *pc = model_alloc (config, NULL);
  ar_rng_init (&rng, seed);
  for (int i = 0; i < pc->n_tensors; i++) {
    const TensorDesc *d = &pc->tensors[i];
    gsize n = (gsize) d->rows * d->cols;
    float std = d->bias ? 0.1f : 1.0f / sqrtf ((float) d->cols);
    g_autofree float *tmp = g_new (float, n);

    for (gsize j = 0; j < n; j++)
      tmp[j] = std * ar_rng_normal (&rng);
    desc_set (d, tmp);
  }
  return pc;
}

ArPixelCnn *
ar_pixelcnn_ref (ArPixelCnn *pc)
{
  g_return_val_if_fail (pc != NULL, NULL);
  g_atomic_int_inc (&pc->ref);
  return pc;
}

void
ar_pixelcnn_unref (ArPixelCnn *pc)
{
  if (pc == NULL || !g_atomic_int_dec_and_test (&pc->ref))
    return;
  g_strfreev (pc->names);
  g_free (pc->layers);
  g_free (pc->tensors);
  g_free (pc->store);
  g_free (pc);
}

const ArPixelCnnConfig *
ar_pixelcnn_get_config (const ArPixelCnn *pc)
{
  g_return_val_if_fail (pc != NULL, NULL);
  return &pc->c;
}

const char *
ar_pixelcnn_get_class_name (const ArPixelCnn *pc, int i)
{
  g_return_val_if_fail (pc != NULL, NULL);
  g_return_val_if_fail (i >= 0 && i < pc->c.classes, NULL);
  return pc->names[i];
}

int
ar_pixelcnn_find_class (const ArPixelCnn *pc, const char *name)
{
  char *end;

  g_return_val_if_fail (pc != NULL && name != NULL, -1);
  for (int i = 0; i < pc->c.classes; i++)
    if (strcmp (pc->names[i], name) == 0)
      return i;
  gint64 v = g_ascii_strtoll (name, &end, 10);
  if (end != name && *end == '\0' && v >= 0 && v < pc->c.classes)
    return (int) v;
  return -1;
}

void
ar_pixelcnn_write (const ArPixelCnn *pc, ArGgufWriter *w)
{
  g_return_if_fail (pc != NULL && w != NULL);
  ar_pixelcnn_config_write (&pc->c, (const char *const *) pc->names, w);
  for (int i = 0; i < pc->n_tensors; i++) {
    const TensorDesc *d = &pc->tensors[i];
    guint64 ne[2] = { d->cols, d->rows };
    g_autofree float *tmp = g_new (float, (gsize) d->rows * d->cols);

    desc_get (d, tmp);
    ar_gguf_writer_add_tensor_f32 (w, d->name, AR_TENSOR_F32, d->n_dims, ne,
        tmp);
  }
}

/* ---- the work space ---------------------------------------------------------- */

/* The state of up to two images drawn side by side in one thread: their
 * horizontal stacks go through each product together (rows 0 and 1 of the
 * kernel's input share every weight load), their vertical rows one after
 * the other.  Per-image arrays hold image 1's part a fixed stride after
 * image 0's (the kernel's row strides).  A kernel row's result does not
 * depend on the other rows of its call, so an image's values are the same
 * drawn alone or beside another. */
typedef struct
{
  gboolean busy;
  gsize su, svr, svh, shr,
      sb;   /* image 1's stride in u, vring, vh, hrow, bv/bh */
  float *u; /* (2, H, W) inputs u(r, c) */
  float *
      vring; /* (2, L−1, P+1, W, C) rows of v¹ … vᴸ⁻¹, row r at slot r mod (P+1) */
  float *col;  /* (W, max taps) gathered windows of a vertical row */
  float *hcol; /* (2, (P+1) C) a horizontal window at the left border */
  float *zv;   /* (W, 2C) */
  float *vh;   /* (2, L, W, 2C) Wvhₗ · zvˡ + bhₗ + chₗ[y], this row */
  float *hrow; /* (2, L, W, C) h¹ … hᴸ, this row */
  float *bv, *bh; /* (2, L, 2C) biases with the class's added */
  float *z;       /* (2, 2C) */
  float *ts;      /* (2C) the gate's scratch */
  float *gt;      /* (2, C) */
  float *o;       /* (2, C) relu (hᴸ) */
  float *o1;      /* (2, O) */
  float *logits;  /* (2, Q) */
  float *full;    /* (H, W, Q) naive sampling's logits, or NULL */
  ArSampler *sampler;
} Work;

static Work *
work_new (const ArPixelCnn *pc)
{
  const ArPixelCnnConfig *c = &pc->c;
  int H = c->height, W = c->width, C = c->features, L = c->layers;
  int P = c->kernel / 2;
  int max_taps = MAX (taps_v (c, 0), taps_v (c, 1));
  Work *w = g_new0 (Work, 1);

  max_taps = MAX (max_taps, taps_h (c, 1));
  w->su = (gsize) H * W;
  w->svr = (gsize) MAX (L - 1, 1) * (P + 1) * W * C;
  w->svh = (gsize) L * W * 2 * C;
  w->shr = (gsize) L * W * C;
  w->sb = (gsize) L * 2 * C;
  w->u = g_new0 (float, 2 * w->su);
  w->vring = g_new0 (float, 2 * w->svr);
  w->col = g_new0 (float, (gsize) W *max_taps);
  w->hcol = g_new0 (float, (gsize) 2 * (P + 1) * C + 2 * c->first_kernel);
  w->zv = g_new0 (float, (gsize) W * 2 * C);
  w->vh = g_new0 (float, 2 * w->svh);
  w->hrow = g_new0 (float, 2 * w->shr);
  w->bv = g_new0 (float, 2 * w->sb);
  w->bh = g_new0 (float, 2 * w->sb);
  w->z = g_new0 (float, 4 * C);
  w->ts = g_new0 (float, 2 * C);
  w->gt = g_new0 (float, 2 * C);
  w->o = g_new0 (float, 2 * C);
  w->o1 = g_new0 (float, 2 * c->output_hidden);
  w->logits = g_new0 (float, 2 * c->levels);
  w->sampler = ar_sampler_new (c->levels);
  return w;
}

static void
work_free (Work *w)
{
  if (w == NULL)
    return;
  g_free (w->u);
  g_free (w->vring);
  g_free (w->col);
  g_free (w->hcol);
  g_free (w->zv);
  g_free (w->vh);
  g_free (w->hrow);
  g_free (w->bv);
  g_free (w->bh);
  g_free (w->z);
  g_free (w->ts);
  g_free (w->gt);
  g_free (w->o);
  g_free (w->o1);
  g_free (w->logits);
  g_free (w->full);
  ar_sampler_free (w->sampler);
  g_free (w);
}

/* The biases of class @cls (−1: none) into image @k's bv, bh. */
static void
work_set_class (const ArPixelCnn *pc, Work *w, int k, int cls)
{
  int C2 = 2 * pc->c.features;

  for (int l = 0; l < pc->c.layers; l++) {
    const Layer *ly = &pc->layers[l];
    float *bv = w->bv + k * w->sb + (gsize) l * C2;
    float *bh = w->bh + k * w->sb + (gsize) l * C2;

    for (int i = 0; i < C2; i++) {
      bv[i] = ly->v_b[i];
      bh[i] = ly->h_b[i];
      if (cls >= 0) {
        bv[i] += ly->cv[(gsize) cls * C2 + i];
        bh[i] += ly->ch[(gsize) cls * C2 + i];
      }
    }
  }
}

static inline float
level_input (int levels, int x)
{
  return 2.0f * (float) x / (float) (levels - 1) - 1.0f;
}

/* Row r of every layer's vertical stack of image @k (it reads rows above r
 * only): vˡ⁺¹ into the ring, the link Wvhₗ · zvˡ + bhₗ + chₗ[y] into vh. */
static void
row_vertical (const ArPixelCnn *pc, Work *w, int r, int k)
{
  const ArPixelCnnConfig *c = &pc->c;
  int W = c->width, C = c->features, C2 = 2 * C, L = c->layers;
  int P0 = c->first_kernel / 2, K0 = c->first_kernel;
  int P = c->kernel / 2, K = c->kernel, R = P + 1;
  const float *u = w->u + k * w->su;
  float *vring = w->vring + k * w->svr, *vh = w->vh + k * w->svh;
  const float *bv = w->bv + k * w->sb, *bh = w->bh + k * w->sb;

  for (int l = 0; l < L; l++) {
    const Layer *ly = &pc->layers[l];
    int T = taps_v (c, l);

    /* gather each column's window */
    for (int x = 0; x < W; x++) {
      float *col = w->col + (gsize) x * T;

      if (l == 0) {
        for (int i = 0; i <= P0; i++) {
          int rr = r - P0 - 1 + i;
          for (int j = 0; j < K0; j++) {
            int cc = x - P0 + j;
            *col++ =
                rr >= 0 && cc >= 0 && cc < W ? u[(gsize) rr * W + cc] : 0.0f;
          }
        }
      } else {
        const float *plane = vring + (gsize) (l - 1) * R * W * C;
        for (int i = 0; i <= P; i++) {
          int rr = r - P + i;
          const float *row = plane + (gsize) (rr >= 0 ? rr % R : 0) * W * C;
          for (int j = 0; j < K; j++, col += C) {
            int cc = x - P + j;
            if (rr >= 0 && cc >= 0 && cc < W)
              memcpy (col, row + (gsize) cc * C, C * sizeof (float));
            else
              memset (col, 0, C * sizeof (float));
          }
        }
      }
    }
    ar_pixelcnn_rows_product (w->zv, C2, bv + (gsize) l * C2, 0, w->col, T,
        ly->v_wt, W, T, C2);
    if (l + 1 < L) {
      float *out = vring + ((gsize) l * R + r % R) * W * C;
      for (int x = 0; x < W; x++)
        ar_pixelcnn_gate (out + (gsize) x * C, w->ts, w->zv + (gsize) x * C2,
            C);
    }
    ar_pixelcnn_rows_product (vh + (gsize) l * W * C2, C2, bh + (gsize) l * C2,
        0, w->zv, C2, ly->vh_wt, W, C2, C2);
  }
}

/* Pixel (r, x) of every layer's horizontal stack of images 0 … @ni − 1
 * (it reads the pixels to its left in each layer's row and the vertical
 * link), then their logits (ni, Q) unless @logits is NULL. */
static void
pixel_horizontal (const ArPixelCnn *pc, Work *w, int r, int x, int ni,
    float *logits)
{
  const ArPixelCnnConfig *c = &pc->c;
  int W = c->width, C = c->features, C2 = 2 * C, L = c->layers;
  int O = c->output_hidden, Q = c->levels;
  int P0 = c->first_kernel / 2, P = c->kernel / 2;
  int svh = (int) w->svh, shr = (int) w->shr;

  /* layer 0: the P0 pixels to the left */
  for (int k = 0; k < ni; k++)
    for (int j = 0; j < P0; j++) {
      int cc = x - P0 + j;
      w->hcol[k * P0 + j] =
          cc >= 0 ? w->u[k * w->su + (gsize) r * W + cc] : 0.0f;
    }
  ar_pixelcnn_rows_product (w->z, C2, w->vh + (gsize) x * C2, svh, w->hcol, P0,
      pc->layers[0].h_wt, ni, P0, C2);
  for (int k = 0; k < ni; k++)
    ar_pixelcnn_gate (w->hrow + k * w->shr + (gsize) x * C, w->ts,
        w->z + k * C2, C);

  for (int l = 1; l < L; l++) {
    const Layer *ly = &pc->layers[l];
    const float *hin = w->hrow + (gsize) (l - 1) * W * C;
    float *hout = w->hrow + (gsize) l * W * C + (gsize) x * C;
    const float *win;
    int T = (P + 1) * C, ldx;

    if (x >= P) {
      win = hin + (gsize) (x - P) * C; /* contiguous in the row */
      ldx = shr;
    } else {
      for (int k = 0; k < ni; k++) {
        float *col = w->hcol + k * T;
        memset (col, 0, (gsize) (P - x) * C * sizeof (float));
        memcpy (col + (gsize) (P - x) * C, hin + k * w->shr,
            (gsize) (x + 1) * C * sizeof (float));
      }
      win = w->hcol;
      ldx = T;
    }
    ar_pixelcnn_rows_product (w->z, C2, w->vh + ((gsize) l * W + x) * C2, svh,
        win, ldx, ly->h_wt, ni, T, C2);
    for (int k = 0; k < ni; k++) {
      ar_pixelcnn_gate (w->gt + k * C, w->ts, w->z + k * C2, C);
      for (int i = 0; i < C; i++)
        hout[k * w->shr + i] =
            hin[k * w->shr + (gsize) x * C + i] + ly->res_b[i];
    }
    ar_pixelcnn_rows_product (hout, shr, hout, shr, w->gt, C, ly->res_wt, ni, C,
        C);
  }
  if (logits == NULL)
    return;
  for (int k = 0; k < ni; k++) {
    const float *h = w->hrow + k * w->shr + ((gsize) (L - 1) * W + x) * C;
    for (int i = 0; i < C; i++)
      w->o[k * C + i] = h[i] > 0.0f ? h[i] : 0.0f;
  }
  ar_pixelcnn_rows_product (w->o1, O, pc->o1_b, 0, w->o, C, pc->o1_wt, ni, C,
      O);
  for (int i = 0; i < ni * O; i++)
    w->o1[i] = w->o1[i] > 0.0f ? w->o1[i] : 0.0f;
  ar_pixelcnn_rows_product (logits, Q, pc->o2_b, 0, w->o1, O, pc->o2_wt, ni, O,
      Q);
}

static void
work_load_image (const ArPixelCnn *pc, Work *w, const guint8 *image)
{
  int Q = pc->c.levels;

  for (gsize i = 0; i < (gsize) pc->c.height * pc->c.width; i++)
    w->u[i] = level_input (Q, ar_pixelcnn_value_to_level (Q, image[i]));
}

/* The full network over image 0 of @w → @logits (H, W, Q). */
static void
full_forward (const ArPixelCnn *pc, Work *w, float *logits)
{
  int W = pc->c.width, Q = pc->c.levels;

  for (int r = 0; r < pc->c.height; r++) {
    row_vertical (pc, w, r, 0);
    for (int x = 0; x < W; x++)
      pixel_horizontal (pc, w, r, x, 1, logits + ((gsize) r * W + x) * Q);
  }
}

void
ar_pixelcnn_forward (const ArPixelCnn *pc, const guint8 *image, int cls,
    float *logits)
{
  g_return_if_fail (pc != NULL && image != NULL && logits != NULL);
  g_return_if_fail (cls >= -1 && cls < pc->c.classes);
  g_return_if_fail (cls >= 0 || pc->c.classes == 0);
  Work *w = work_new (pc);

  work_set_class (pc, w, 0, cls);
  work_load_image (pc, w, image);
  full_forward (pc, w, logits);
  work_free (w);
}

/* ---- the generator ---------------------------------------------------------- */

struct _ArPixelCnnGen
{
  ArPixelCnn *pc;
  guint64 seed;
  guint64 count; /* images drawn since the reset */
  float temperature;
  int cls;
  gboolean naive;
  ArThreadPool *pool;
  GMutex lock;      /* guards works */
  GPtrArray *works; /* (element-type Work) one per thread at work */
};

typedef struct
{
  ArPixelCnnGen *g;
  guint8 *images;      /* (n, H, W) */
  const guint8 *known; /* (H, W) or NULL */
  int *classes;        /* (n) or NULL */
  guint64 first;       /* index of image 0 since the reset */
  int n;               /* images */
} Job;

static void gen_prepare (ArPixelCnnGen *g);

ArPixelCnnGen *
ar_pixelcnn_gen_new (ArPixelCnn *pc)
{
  g_return_val_if_fail (pc != NULL, NULL);
  ArPixelCnnGen *g = g_new0 (ArPixelCnnGen, 1);

  g->pc = ar_pixelcnn_ref (pc);
  g->temperature = 1.0f;
  g->cls = -1;
  g_mutex_init (&g->lock);
  g->works = g_ptr_array_new_with_free_func ((GDestroyNotify) work_free);
  g_ptr_array_add (g->works, work_new (pc));
  return g;
}

void
ar_pixelcnn_gen_free (ArPixelCnnGen *g)
{
  if (g == NULL)
    return;
  g_ptr_array_unref (g->works);
  g_mutex_clear (&g->lock);
  ar_pixelcnn_unref (g->pc);
  g_free (g);
}

ArPixelCnn *
ar_pixelcnn_gen_get_model (ArPixelCnnGen *g)
{
  g_return_val_if_fail (g != NULL, NULL);
  return g->pc;
}

void
ar_pixelcnn_gen_reset (ArPixelCnnGen *g, guint64 seed)
{
  g_return_if_fail (g != NULL);
  g->seed = seed;
  g->count = 0;
}

void
ar_pixelcnn_gen_set_temperature (ArPixelCnnGen *g, float temperature)
{
  g_return_if_fail (g != NULL && temperature >= 0.0f);
  g->temperature = temperature;
}

gboolean
ar_pixelcnn_gen_set_class (ArPixelCnnGen *g, int cls, GError **error)
{
  g_return_val_if_fail (g != NULL, FALSE);
  if (cls < -1 || cls >= g->pc->c.classes) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "class %d is out of range: the model has %d classes (−1 = random)", cls,
        g->pc->c.classes);
    return FALSE;
  }
  g->cls = cls;
  return TRUE;
}

void
ar_pixelcnn_gen_set_threadpool (ArPixelCnnGen *g, ArThreadPool *pool)
{
  g_return_if_fail (g != NULL);
  g->pool = pool;
  gen_prepare (g);
}

void
ar_pixelcnn_gen_set_naive (ArPixelCnnGen *g, gboolean naive)
{
  g_return_if_fail (g != NULL);
  g->naive = naive;
  gen_prepare (g);
}

/* A work space for every thread of the pool (and the naive loop's logits
 * when it is on), so that drawing never allocates. */
static void
gen_prepare (ArPixelCnnGen *g)
{
  const ArPixelCnnConfig *c = &g->pc->c;

  while (g->works->len < ar_threadpool_get_n_threads (g->pool))
    g_ptr_array_add (g->works, work_new (g->pc));
  for (guint i = 0; g->naive && i < g->works->len; i++) {
    Work *w = g_ptr_array_index (g->works, i);
    if (w->full == NULL)
      w->full = g_new (float, (gsize) c->height * c->width * c->levels);
  }
}

/* A free work space: there is one per thread (gen_prepare); should a pool
 * run more tasks at once than it said it has threads, one more is made. */
static Work *
gen_acquire (ArPixelCnnGen *g)
{
  Work *w = NULL;

  g_mutex_lock (&g->lock);
  for (guint i = 0; i < g->works->len && w == NULL; i++) {
    Work *c = g_ptr_array_index (g->works, i);
    if (!c->busy)
      w = c;
  }
  if (w == NULL) {
    w = work_new (g->pc);
    g_ptr_array_add (g->works, w);
  }
  w->busy = TRUE;
  g_mutex_unlock (&g->lock);
  if (g->naive && w->full == NULL) {
    const ArPixelCnnConfig *c = &g->pc->c;
    w->full = g_new (float, (gsize) c->height * c->width * c->levels);
  }
  return w;
}

static void
gen_release (ArPixelCnnGen *g, Work *w)
{
  g_mutex_lock (&g->lock);
  w->busy = FALSE;
  g_mutex_unlock (&g->lock);
}

/* Draws (or completes) images 2p and 2p + 1 (when there is one) of @job,
 * each in its own random stream; the naive loop takes them one by one. */
static void
draw_pair (gpointer data, guint p)
{
  Job *job = data;
  ArPixelCnnGen *g = job->g;
  const ArPixelCnn *pc = g->pc;
  int H = pc->c.height, W = pc->c.width, Q = pc->c.levels;
  int ni = MIN (2, job->n - 2 * (int) p);
  gsize HW = (gsize) H * W;
  guint8 *img[2];
  const guint8 *known = job->known;
  ArSamplingParams params = { g->temperature, 0, 1.0f };
  ArRng rng[2];
  Work *w = gen_acquire (g);

  for (int k = 0; k < ni; k++) {
    guint64 index = 2 * p + k;
    int cls = g->cls;

    img[k] = job->images + index * HW;
    ar_rng_init (&rng[k],
        g->seed + 0x9E3779B97F4A7C15ull * (job->first + index + 1));
    if (cls < 0 && pc->c.classes > 0)
      cls = (int) ar_rng_below (&rng[k], pc->c.classes);
    if (job->classes != NULL)
      job->classes[index] = cls;
    work_set_class (pc, w, k, cls);
    /* known pixels are fed as they are; the others start at level 0, a
     * value no pixel before them can see */
    for (gsize i = 0; i < HW; i++) {
      if (known == NULL || !known[i])
        img[k][i] = 0;
      w->u[k * w->su + i] =
          level_input (Q, ar_pixelcnn_value_to_level (Q, img[k][i]));
    }
  }

  if (g->naive) {
    for (int k = 0; k < ni; k++) {
      if (k == 1) { /* image 1 through image 0's slots */
        memcpy (w->u, w->u + w->su, HW * sizeof (float));
        memcpy (w->bv, w->bv + w->sb, w->sb * sizeof (float));
        memcpy (w->bh, w->bh + w->sb, w->sb * sizeof (float));
      }
      for (gsize i = 0; i < HW; i++) {
        if (known != NULL && known[i])
          continue;
        full_forward (pc, w, w->full);
        int level =
            ar_sampler_sample (w->sampler, &params, &rng[k], w->full + i * Q);
        img[k][i] = ar_pixelcnn_level_to_value (Q, level);
        w->u[i] = level_input (Q, level);
      }
    }
  } else {
    for (int r = 0; r < H; r++) {
      for (int k = 0; k < ni; k++)
        row_vertical (pc, w, r, k);
      for (int x = 0; x < W; x++) {
        gsize i = (gsize) r * W + x;

        if (known != NULL && known[i]) {
          pixel_horizontal (pc, w, r, x, ni, NULL);
          continue;
        }
        pixel_horizontal (pc, w, r, x, ni, w->logits);
        for (int k = 0; k < ni; k++) {
          int level = ar_sampler_sample (w->sampler, &params, &rng[k],
              w->logits + k * Q);
          img[k][i] = ar_pixelcnn_level_to_value (Q, level);
          w->u[k * w->su + i] = level_input (Q, level);
        }
      }
    }
  }
  gen_release (g, w);
}

static void
gen_run (ArPixelCnnGen *g, guint8 *images, const guint8 *known, int n,
    int *classes)
{
  Job job = { g, images, known, classes, g->count, n };
  int pairs = (n + 1) / 2;

  if (g->pool != NULL && pairs > 1)
    ar_threadpool_run (g->pool, pairs, draw_pair, &job);
  else
    for (int p = 0; p < pairs; p++)
      draw_pair (&job, p);
  g->count += n;
}

void
ar_pixelcnn_gen_sample (ArPixelCnnGen *g, guint8 *out, int n, int *classes)
{
  g_return_if_fail (g != NULL && (out != NULL || n == 0) && n >= 0);
  gen_run (g, out, NULL, n, classes);
}

void
ar_pixelcnn_gen_complete (ArPixelCnnGen *g, guint8 *images, const guint8 *known,
    int n, int *classes)
{
  g_return_if_fail (g != NULL && (images != NULL || n == 0) && n >= 0);
  g_return_if_fail (known != NULL);
  gen_run (g, images, known, n, classes);
}
