/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-pixelcnn.c — the Gated PixelCNN model and generator: the masks are
 * causal and the receptive field has no blind spot (by perturbation), cached
 * sampling draws exactly the naive loop's images, threads and batches do not
 * change the images, completion keeps the known pixels and equals the naive
 * conditional loop, files round-trip, malformed files are errors. */
#include "core/ar-rng.h"
#include "core/ar-kernels.h"
#include "pixelcnn/ar-pixelcnn-private.h"
#include "pixelcnn/ar-pixelcnn.h"

#include <math.h>

#include <string.h>

/* A small conditional shape: 3 layers, kernels 5 then 3, on 7 × 9 images
 * (wider than the receptive field's 4 columns to either side, taller than
 * its 5 rows, so clipping and the field's edges are both seen). */
static const ArPixelCnnConfig small = { 9, 7, 1, 256, 3, 6, 5, 3, 8, 3 };

static ArPixelCnn *
make_model (const ArPixelCnnConfig *c, guint64 seed)
{
  GError *error = NULL;
  ArPixelCnn *pc = ar_pixelcnn_new_random (c, seed, &error);
  g_assert_no_error (error);
  return pc;
}

static void
random_image (guint8 *img, gsize n, guint64 seed)
{
  ArRng rng;
  ar_rng_init (&rng, seed);
  for (gsize i = 0; i < n; i++)
    img[i] = (guint8) ar_rng_below (&rng, 256);
}

/* A copy of @pc with the tensors whose names end in @suffix set to zero
 * (made through a file: the model itself is immutable). */
static ArPixelCnn *
zeroed_copy (const ArPixelCnn *pc, const char *suffix)
{
  g_autoptr (ArGgufWriter) w0 = ar_gguf_writer_new ();
  ar_pixelcnn_write (pc, w0);
  g_autoptr (GBytes) b0 = ar_gguf_writer_to_bytes (w0);
  g_autoptr (ArGguf) src = ar_gguf_new_from_bytes (b0, "src", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  int zeroed = 0;

  ar_gguf_writer_copy_kv (w, src);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    g_autofree float *v = g_new (float, t->n_elements);

    ar_gguf_tensor_to_f32 (t, v);
    if (g_str_has_suffix (t->name, suffix)) {
      memset (v, 0, t->n_elements * sizeof (float));
      zeroed++;
    }
    ar_gguf_writer_add_tensor_f32 (w, t->name, AR_TENSOR_F32, t->n_dims, t->ne,
        v);
  }
  g_assert_cmpint (zeroed, >, 0);
  g_autoptr (GBytes) b = ar_gguf_writer_to_bytes (w);
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (b, "zeroed", NULL);
  ArPixelCnn *out = ar_pixelcnn_new_from_gguf (f, NULL);
  g_assert_nonnull (out);
  return out;
}

/* Changing pixel j changes the logits of exactly the pixels i > j whose
 * receptive field holds j, and never those of i <= j.  The field is the
 * rectangle of R rows above, S columns to either side (@above), and the S
 * pixels to the left in the row (@left). */
static void
check_field (ArPixelCnn *pc, gboolean above, gboolean left)
{
  int H = small.height, W = small.width, Q = small.levels, R, S;
  gsize n = (gsize) H * W;
  g_autofree guint8 *img = g_new (guint8, n);
  g_autofree float *base = g_new (float, n *Q);
  g_autofree float *pert = g_new (float, n *Q);

  ar_pixelcnn_config_receptive_field (&small, &R, &S);
  g_assert_cmpint (R, ==, 5);
  g_assert_cmpint (S, ==, 4);
  random_image (img, n, 2);
  ar_pixelcnn_forward (pc, img, 1, base);
  for (gsize j = 0; j < n; j++) {
    int rj = j / W, cj = j % W;
    guint8 old = img[j];

    img[j] = old ^ 0x80; /* a large change of value */
    ar_pixelcnn_forward (pc, img, 1, pert);
    img[j] = old;
    for (gsize i = 0; i < n; i++) {
      int ri = i / W, ci = i % W;
      gboolean same =
          memcmp (base + i * Q, pert + i * Q, Q * sizeof (float)) == 0;
      gboolean in_field =
          (above && ri - rj >= 1 && ri - rj <= R && ABS (ci - cj) <= S) ||
          (left && ri == rj && ci - cj >= 1 && ci - cj <= S);

      if (i <= j)
        g_assert_true (same); /* causal: bitwise unchanged */
      else if (in_field != !same)
        g_error ("pixel %d,%d → logits of %d,%d: %s (receptive field %s)", rj,
            cj, ri, ci, same ? "unchanged" : "changed",
            in_field ? "holds it" : "does not hold it");
    }
  }
}

/* The whole network: no blind spot, nothing from the future. */
static void
test_causal_receptive_field (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 1);
  check_field (pc, TRUE, TRUE);
}

/* Each stack alone.  Without the links from the vertical stack (vh.weight
 * 0) the logits see the row to the left only; without the first layer's
 * horizontal window (layer.0.h.weight 0) nothing of the row enters and the
 * logits see exactly the rectangle above, through the vertical stack. */
static void
test_causal_stacks (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 1);
  g_autoptr (ArPixelCnn) horizontal = zeroed_copy (pc, "vh.weight");
  g_autoptr (ArPixelCnn) vertical = zeroed_copy (pc, "layer.0.h.weight");

  check_field (horizontal, FALSE, TRUE);
  check_field (vertical, TRUE, FALSE);
}

/* The images of @n draws by a fresh generator. */
static guint8 *
draw (ArPixelCnn *pc, guint64 seed, int cls, float temperature, gboolean naive,
    ArThreadPool *pool, int n, int *classes)
{
  const ArPixelCnnConfig *c = ar_pixelcnn_get_config (pc);
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  guint8 *out = g_new (guint8, (gsize) n * c->height * c->width);

  ar_pixelcnn_gen_reset (g, seed);
  ar_pixelcnn_gen_set_temperature (g, temperature);
  g_assert_true (ar_pixelcnn_gen_set_class (g, cls, NULL));
  ar_pixelcnn_gen_set_naive (g, naive);
  ar_pixelcnn_gen_set_threadpool (g, pool);
  ar_pixelcnn_gen_sample (g, out, n, classes);
  return out;
}

static void
test_cached_equals_naive (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 3);
  gsize sz = (gsize) small.height * small.width * 3;
  int ca[3], cb[3];

  for (int cls = -1; cls < 2; cls++) {
    g_autofree guint8 *a = draw (pc, 7, cls, 1.0f, FALSE, NULL, 3, ca);
    g_autofree guint8 *b = draw (pc, 7, cls, 1.0f, TRUE, NULL, 3, cb);
    g_assert_cmpmem (a, sz, b, sz);
    g_assert_cmpmem (ca, sizeof ca, cb, sizeof cb);
    if (cls >= 0)
      g_assert_cmpint (ca[2], ==, cls);
  }
  /* a lower temperature, and a different seed gives different images */
  g_autofree guint8 *a = draw (pc, 8, 0, 0.7f, FALSE, NULL, 3, NULL);
  g_autofree guint8 *b = draw (pc, 8, 0, 0.7f, TRUE, NULL, 3, NULL);
  g_autofree guint8 *d = draw (pc, 9, 0, 0.7f, FALSE, NULL, 3, NULL);
  g_assert_cmpmem (a, sz, b, sz);
  g_assert_true (memcmp (a, d, sz) != 0);
}

/* Greedy images are the argmax of the full network's logits at every
 * pixel: the cached path's logits are the full forward's. */
static void
test_greedy_is_argmax (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 4);
  int Q = small.levels;
  gsize n = (gsize) small.height * small.width;
  g_autofree guint8 *img = draw (pc, 1, 2, 0.0f, FALSE, NULL, 1, NULL);
  g_autofree float *logits = g_new (float, n *Q);

  ar_pixelcnn_forward (pc, img, 2, logits);
  for (gsize i = 0; i < n; i++) {
    int best = 0;
    for (int q = 1; q < Q; q++)
      if (logits[i * Q + q] > logits[i * Q + best])
        best = q;
    g_assert_cmpint (img[i], ==, best);
  }
}

static void
test_threads_and_batches (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 5);
  g_autoptr (ArThreadPool) pool = ar_threadpool_new (2);
  gsize one = (gsize) small.height * small.width;
  int ca[5], cb[5];
  g_autofree guint8 *a = draw (pc, 11, -1, 1.0f, FALSE, NULL, 5, ca);
  g_autofree guint8 *b = draw (pc, 11, -1, 1.0f, FALSE, pool, 5, cb);

  g_assert_cmpmem (a, 5 * one, b, 5 * one);
  g_assert_cmpmem (ca, sizeof ca, cb, sizeof cb);
  /* 1 + 4 images in two calls are the 5 of one call, though the images
   * are paired differently (one thread draws two side by side: 0-1, 2-3, 4
   * in one call, 0, 1-2, 3-4 in two) */
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  g_autofree guint8 *c = g_new (guint8, 5 * one);
  ar_pixelcnn_gen_reset (g, 11);
  ar_pixelcnn_gen_set_threadpool (g, pool);
  ar_pixelcnn_gen_sample (g, c, 1, NULL);
  ar_pixelcnn_gen_sample (g, c + one, 4, NULL);
  g_assert_cmpmem (a, 5 * one, c, 5 * one);
  /* a reset starts the same images again */
  ar_pixelcnn_gen_reset (g, 11);
  ar_pixelcnn_gen_sample (g, c, 1, NULL);
  g_assert_cmpmem (a, one, c, one);
}

static void
test_completion (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 6);
  int H = small.height, W = small.width;
  gsize one = (gsize) H * W;
  g_autofree guint8 *orig = g_new (guint8, 2 * one);
  g_autofree guint8 *known = g_new0 (guint8, one);
  g_autofree guint8 *a = NULL, *b = NULL;
  int n_known = 0;

  random_image (orig, 2 * one, 12);
  /* the top three rows and a few scattered pixels below them */
  for (gsize i = 0; i < one; i++)
    known[i] = i < 3 * (gsize) W || i % 7 == 3;
  for (gsize i = 0; i < one; i++)
    n_known += known[i] != 0;
  for (int naive = 0; naive < 2; naive++) {
    g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
    guint8 *out = g_memdup2 (orig, 2 * one);

    ar_pixelcnn_gen_reset (g, 5);
    ar_pixelcnn_gen_set_naive (g, naive);
    g_assert_true (ar_pixelcnn_gen_set_class (g, 1, NULL));
    ar_pixelcnn_gen_complete (g, out, known, 2, NULL);
    if (naive)
      b = out;
    else
      a = out;
  }
  g_assert_cmpmem (a, 2 * one, b, 2 * one);
  int changed = 0;
  for (gsize k = 0; k < 2; k++)
    for (gsize i = 0; i < one; i++) {
      if (known[i])
        g_assert_cmpint (a[k * one + i], ==, orig[k * one + i]);
      else
        changed += a[k * one + i] != orig[k * one + i];
    }
  /* drawn pixels are not the original ones (a few may coincide) */
  g_assert_cmpint (changed, >, (int) (2 * (one - n_known)) / 2);
  /* nothing known: completion is sampling */
  memset (known, 0, one);
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  ar_pixelcnn_gen_reset (g, 5);
  g_assert_true (ar_pixelcnn_gen_set_class (g, 1, NULL));
  ar_pixelcnn_gen_complete (g, a, known, 1, NULL);
  g_autofree guint8 *s = draw (pc, 5, 1, 1.0f, FALSE, NULL, 1, NULL);
  g_assert_cmpmem (a, one, s, one);
}

static void
test_binary (void)
{
  ArPixelCnnConfig c = { 6, 5, 1, 2, 2, 4, 3, 3, 4, 0 };
  g_autoptr (ArPixelCnn) pc = make_model (&c, 7);
  gsize n = (gsize) 3 * c.height * c.width;
  g_autofree guint8 *a = draw (pc, 3, -1, 1.0f, FALSE, NULL, 3, NULL);
  g_autofree guint8 *b = draw (pc, 3, -1, 1.0f, TRUE, NULL, 3, NULL);
  int ones = 0;

  g_assert_cmpmem (a, n, b, n);
  for (gsize i = 0; i < n; i++) {
    g_assert_true (a[i] == 0 || a[i] == 255);
    ones += a[i] == 255;
  }
  g_assert_cmpint (ones, >, 0);
  g_assert_cmpint (ones, <, (int) n);
  g_assert_cmpint (ar_pixelcnn_value_to_level (2, 127), ==, 0);
  g_assert_cmpint (ar_pixelcnn_value_to_level (2, 128), ==, 1);
}

static GBytes *
model_bytes (const ArPixelCnn *pc)
{
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
  ar_pixelcnn_write (pc, w);
  return ar_gguf_writer_to_bytes (w);
}

static void
test_file_round_trip (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 8);
  g_autoptr (GBytes) bytes = model_bytes (pc);
  GError *error = NULL;
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "small", &error);
  g_assert_no_error (error);
  g_autoptr (ArPixelCnn) back = ar_pixelcnn_new_from_gguf (f, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (ar_pixelcnn_get_config (pc), sizeof small,
      ar_pixelcnn_get_config (back), sizeof small);
  g_assert_cmpstr (ar_pixelcnn_get_class_name (back, 2), ==, "2");
  g_assert_cmpint (ar_pixelcnn_find_class (back, "1"), ==, 1);
  g_assert_cmpint (ar_pixelcnn_find_class (back, "7"), ==, -1);
  gsize sz = (gsize) 2 * small.height * small.width;
  g_autofree guint8 *a = draw (pc, 4, -1, 1.0f, FALSE, NULL, 2, NULL);
  g_autofree guint8 *b = draw (back, 4, -1, 1.0f, FALSE, NULL, 2, NULL);
  g_assert_cmpmem (a, sz, b, sz);
}

/* The file of @pc with the key or tensor @name changed by @edit. */
typedef void (*EditFunc) (ArGgufWriter *w);

static void
expect_error (GBytes *bytes, int code, const char *fragment)
{
  GError *error = NULL;
  g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (bytes, "bad", &error);
  g_assert_no_error (error);
  g_autoptr (ArPixelCnn) pc = ar_pixelcnn_new_from_gguf (f, &error);
  g_assert_null (pc);
  g_assert_error (error, AR_ERROR, code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("'%s' does not name '%s'", error->message, fragment);
  g_error_free (error);
}

/* A file with the keys of @c (names @names) and the tensors of @pc, except
 * @skip (not written) and @reshape (written one row short). */
static GBytes *
edited_bytes (const ArPixelCnn *pc, const ArPixelCnnConfig *c,
    const char *const *names, const char *skip, const char *reshape,
    gboolean f16)
{
  g_autoptr (ArGgufWriter) full = ar_gguf_writer_new ();
  ar_pixelcnn_write (pc, full);
  g_autoptr (GBytes) fb = ar_gguf_writer_to_bytes (full);
  g_autoptr (ArGguf) src = ar_gguf_new_from_bytes (fb, "src", NULL);
  g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();

  ar_pixelcnn_config_write (c, names, w);
  for (guint i = 0; i < ar_gguf_get_n_tensors (src); i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (src, i);
    guint64 ne[4];

    if (skip != NULL && strcmp (t->name, skip) == 0)
      continue;
    memcpy (ne, t->ne, sizeof ne);
    if (reshape != NULL && strcmp (t->name, reshape) == 0)
      ne[t->n_dims - 1] -= 1;
    g_autofree float *v = g_new (float, t->n_elements);
    ar_gguf_tensor_to_f32 (t, v);
    ar_gguf_writer_add_tensor_f32 (w, t->name,
        f16 ? AR_TENSOR_F16 : AR_TENSOR_F32, t->n_dims, ne, v);
  }
  return ar_gguf_writer_to_bytes (w);
}

static void
test_bad_files (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 9);
  const char *names[] = { "shirt", "bag", "ankle-boot" };
  ArPixelCnnConfig c = small;

  /* good, with names and F16 tensors */
  {
    g_autoptr (GBytes) b = edited_bytes (pc, &c, names, NULL, NULL, TRUE);
    g_autoptr (ArGguf) f = ar_gguf_new_from_bytes (b, "f16", NULL);
    g_autoptr (ArPixelCnn) back = ar_pixelcnn_new_from_gguf (f, NULL);
    g_assert_nonnull (back);
    g_assert_cmpint (ar_pixelcnn_find_class (back, "ankle-boot"), ==, 2);
    g_assert_cmpstr (ar_pixelcnn_get_class_name (back, 1), ==, "bag");
  }
  {
    g_autoptr (GBytes) b =
        edited_bytes (pc, &c, names, "layer.1.vh.weight", NULL, FALSE);
    expect_error (b, AR_ERROR_MODEL, "layer.1.vh.weight");
  }
  {
    g_autoptr (GBytes) b =
        edited_bytes (pc, &c, names, NULL, "layer.2.res.weight", FALSE);
    expect_error (b, AR_ERROR_MODEL, "layer.2.res.weight");
  }
  {
    g_autoptr (GBytes) b =
        edited_bytes (pc, &c, names, NULL, "out2.bias", FALSE);
    expect_error (b, AR_ERROR_MODEL, "out2.bias");
  }
  {
    g_autoptr (GBytes) b =
        edited_bytes (pc, &c, names, NULL, "layer.0.cv.weight", FALSE);
    expect_error (b, AR_ERROR_MODEL, "layer.0.cv.weight");
  }
  c.levels = 16;
  {
    g_autoptr (GBytes) b = edited_bytes (pc, &c, names, NULL, NULL, FALSE);
    expect_error (b, AR_ERROR_MODEL, "pixelcnn.levels");
  }
  c = small;
  c.kernel = 4;
  {
    g_autoptr (GBytes) b = edited_bytes (pc, &c, names, NULL, NULL, FALSE);
    expect_error (b, AR_ERROR_MODEL, "pixelcnn.kernel");
  }
  c = small;
  c.channels = 3;
  {
    g_autoptr (GBytes) b = edited_bytes (pc, &c, names, NULL, NULL, FALSE);
    expect_error (b, AR_ERROR_UNSUPPORTED, "colour");
  }
  c = small;
  c.classes = 2; /* names has 3 entries: only 2 are written */
  {
    g_autoptr (GBytes) b = edited_bytes (pc, &c, names, NULL, NULL, FALSE);
    expect_error (b, AR_ERROR_MODEL, "layer.0.cv.weight");
  }
  /* a name list of the wrong length */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ar_pixelcnn_write (pc, w);
    ar_gguf_writer_set_string_array (w, "pixelcnn.class_names", names, NULL, 2);
    g_autoptr (GBytes) b = ar_gguf_writer_to_bytes (w);
    expect_error (b, AR_ERROR_MODEL, "pixelcnn.class_names");
  }
  /* a missing key, another architecture */
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ar_gguf_writer_set_string (w, "general.architecture", "pixelcnn");
    g_autoptr (GBytes) b = ar_gguf_writer_to_bytes (w);
    expect_error (b, AR_ERROR_MODEL, "pixelcnn.width");
  }
  {
    g_autoptr (ArGgufWriter) w = ar_gguf_writer_new ();
    ar_gguf_writer_set_string (w, "general.architecture", "wavenet");
    g_autoptr (GBytes) b = ar_gguf_writer_to_bytes (w);
    expect_error (b, AR_ERROR_UNSUPPORTED, "pixelcnn");
  }
  /* an out-of-range class */
  g_autoptr (ArPixelCnnGen) g = ar_pixelcnn_gen_new (pc);
  GError *error = NULL;
  g_assert_false (ar_pixelcnn_gen_set_class (g, 3, &error));
  g_assert_error (error, AR_ERROR, AR_ERROR_INVALID);
  g_error_free (error);
}

/* The generator's kernel at every SIMD level the CPU has: against a
 * double-precision reference, each row independent of the others in the
 * call (so of n and of the pairing of rows), B == Y allowed. */
static void
test_kernel (void)
{
  const int shapes[][3] = { { 1, 3, 64 }, { 2, 192, 64 }, { 5, 17, 37 },
    { 3, 64, 256 }, { 4, 8, 5 } };
  ArSimdLevel saved = ar_simd_get_level ();
  ArRng rng;

  ar_rng_init (&rng, 3);
  for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
    g_assert_true (ar_simd_set_level ((ArSimdLevel) level));
    for (guint s = 0; s < G_N_ELEMENTS (shapes); s++) {
      int n = shapes[s][0], K = shapes[s][1], R = shapes[s][2];
      g_autofree float *X = g_new (float, n *K);
      g_autofree float *WT = g_new (float, K *R);
      g_autofree float *B = g_new (float, n *R);
      g_autofree float *Y = g_new (float, n *R);
      g_autofree float *Y1 = g_new (float, R);

      for (int i = 0; i < n * K; i++)
        X[i] = ar_rng_normal (&rng);
      for (int i = 0; i < K * R; i++)
        WT[i] = ar_rng_normal (&rng);
      for (int i = 0; i < n * R; i++)
        B[i] = ar_rng_normal (&rng);
      ar_pixelcnn_rows_product (Y, R, B, R, X, K, WT, n, K, R);
      for (int i = 0; i < n; i++) {
        ar_pixelcnn_rows_product (Y1, R, B + i * R, 0, X + i * K, K, WT, 1, K,
            R);
        g_assert_cmpmem (Y1, R * sizeof (float), Y + i * R, R * sizeof (float));
        for (int r = 0; r < R; r++) {
          double ref = B[i * R + r], mag = fabs (ref);
          for (int k = 0; k < K; k++) {
            ref += (double) X[i * K + k] * WT[k * R + r];
            mag += fabs ((double) X[i * K + k] * WT[k * R + r]);
          }
          /* a sum of K + 1 float terms: at most (K + 1) ulp of the
           * magnitudes, far less in practice */
          g_assert_cmpfloat (fabs (Y[i * R + r] - ref), <=,
              (K + 1) * 6e-8 * mag + 1e-30);
        }
      }
      /* in place: B == Y */
      memcpy (Y, B, n * R * sizeof (float));
      ar_pixelcnn_rows_product (Y, R, Y, R, X, K, WT, n, K, R);
      ar_pixelcnn_rows_product (B, R, B, R, X, K, WT, n, K, R);
      g_assert_cmpmem (Y, n * R * sizeof (float), B, n * R * sizeof (float));
    }
  }
  ar_simd_set_level (saved);
}

/* The gate against libm's tanh and exp at every SIMD level, over the
 * whole float range (no overflow for large arguments either way). */
static void
test_gate (void)
{
  enum
  {
    C = 40
  };
  ArSimdLevel saved = ar_simd_get_level ();
  float z[2 * C], out[C], ts[2 * C];

  for (int i = 0; i < C; i++) {
    /* -100 … 100, dense near 0 */
    float v = (i - C / 2) / (float) (C / 2);
    z[i] = 100.0f * v * v * v;
    z[C + i] = -z[i] + 0.01f * i;
  }
  for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
    g_assert_true (ar_simd_set_level ((ArSimdLevel) level));
    ar_pixelcnn_gate (out, ts, z, C);
    for (int i = 0; i < C; i++) {
      double t = tanh (z[i]), s = 1.0 / (1.0 + exp (-(double) z[C + i]));
      g_assert_cmpfloat (fabs (ts[i] - t), <=, 2e-7);
      g_assert_cmpfloat (fabs (ts[C + i] - s), <=,
          2e-7 * MAX (s, 1e-30) + 1e-38);
      g_assert_cmpfloat (fabs (out[i] - t * s), <=, 4e-7);
    }
  }
  ar_simd_set_level (saved);
}

/* Cached and naive sampling agree at every SIMD level; the levels' logits
 * agree within rounding (FMA or not). */
static void
test_simd_levels (void)
{
  g_autoptr (ArPixelCnn) pc = make_model (&small, 10);
  ArSimdLevel saved = ar_simd_get_level ();
  int Q = small.levels;
  gsize HW = (gsize) small.height * small.width;
  g_autofree guint8 *img = g_new (guint8, HW);
  g_autofree float *ref = g_new (float, HW *Q);
  g_autofree float *l = g_new (float, HW *Q);

  random_image (img, HW, 4);
  for (int level = AR_SIMD_C; level <= (int) ar_simd_detect (); level++) {
    g_assert_true (ar_simd_set_level ((ArSimdLevel) level));
    g_autofree guint8 *a = draw (pc, 2, -1, 1.0f, FALSE, NULL, 2, NULL);
    g_autofree guint8 *b = draw (pc, 2, -1, 1.0f, TRUE, NULL, 2, NULL);
    g_assert_cmpmem (a, 2 * HW, b, 2 * HW);
    ar_pixelcnn_forward (pc, img, 0, level == AR_SIMD_C ? ref : l);
    if (level == AR_SIMD_C)
      continue;
    for (gsize i = 0; i < HW * Q; i++)
      g_assert_cmpfloat (fabsf (l[i] - ref[i]), <=,
          1e-4f * (1 + fabsf (ref[i])));
  }
  ar_simd_set_level (saved);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pixelcnn/causal-receptive-field",
      test_causal_receptive_field);
  g_test_add_func ("/pixelcnn/causal-stacks", test_causal_stacks);
  g_test_add_func ("/pixelcnn/cached-equals-naive", test_cached_equals_naive);
  g_test_add_func ("/pixelcnn/greedy-is-argmax", test_greedy_is_argmax);
  g_test_add_func ("/pixelcnn/threads-and-batches", test_threads_and_batches);
  g_test_add_func ("/pixelcnn/completion", test_completion);
  g_test_add_func ("/pixelcnn/binary", test_binary);
  g_test_add_func ("/pixelcnn/kernel", test_kernel);
  g_test_add_func ("/pixelcnn/gate", test_gate);
  g_test_add_func ("/pixelcnn/simd-levels", test_simd_levels);
  g_test_add_func ("/pixelcnn/file-round-trip", test_file_round_trip);
  g_test_add_func ("/pixelcnn/bad-files", test_bad_files);
  return g_test_run ();
}
