/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-wavenet.c — the WaveNet family (ar-wavenet.h): configuration, weights
 * (random, from GGUF, written to GGUF), the full causal forward that is the
 * oracle of everything else, the incremental generator (Fast WaveNet
 * queues) and the vocoder stream.
 *
 * Weights: every tensor is held as F32 in one allocation (an F16 file's
 * values are exact in F32), which forward_full and the frame-rate parts of
 * generation read.  Generation reads its per-sample matrices from a second,
 * packed copy in the storage type (F16 when every matrix of the file was
 * F16, or after ar_wavenet_to_f16), laid out in the order one sample
 * visits them: per layer the dilated convolution's two taps (G, R) each,
 * then the skip and residual projections stacked into one ((S + R), G/2)
 * matrix, then out1 (as two column halves) and out2.
 *
 * Where the time goes in generation: one sample reads every packed weight
 * once (0.62 M in the reference shape: 2.5 MB F32, 1.25 MB F16, more than
 * the 512 KB L2 of a core of the EPYC this was measured on), so the matrix
 * products are bound by how fast weights arrive from the caches; the
 * gates, the queues and the sampling are a few percent.  With two threads
 * one runs each layer's critical path and the other the rest, two barriers
 * a step; see gen_step (). */
#include "ar-wavenet.h"
#include "ar-wavenet-private.h"
#include "core/ar-kernels.h"
#include "core/ar-rng.h"
#include "core/ar-sample.h"
#include "data/ar-audio.h"

#include <cblas.h>
#include <math.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_CHANNELS 1024
#define MAX_LAYERS_PER_STACK 16
#define MAX_STACKS 8
#define MAX_CLASSES 1024

/* ---- configuration ---------------------------------------------------- */

/* Checks @c's ranges but not its mel parameters (make_mel () does, as it
 * makes the front end); @what prefixes the messages (the file name, or
 * "configuration"), @code is the error's. */
static gboolean
config_check (const ArWaveNetConfig *c, const char *what, int code,
    GError **error)
{
#define RANGE(v, key, lo, hi)                                                  \
  if ((v) < (lo) || (v) > (hi)) {                                              \
    g_set_error (error, AR_ERROR, code,                                        \
        "%s: wavenet." key " is %d; expected %d to %d", what, (v), (lo),       \
        (hi));                                                                 \
    return FALSE;                                                              \
  }
  if (c->quantization != 256) {
    g_set_error (error, AR_ERROR, code,
        "%s: wavenet.quantization is %d; expected 256 (8-bit µ-law)", what,
        c->quantization);
    return FALSE;
  }
  RANGE (c->sample_rate, "sample_rate", 1000, 96000);
  RANGE (c->residual, "residual_channels", 1, MAX_CHANNELS);
  RANGE (c->gate, "gate_channels", 2, MAX_CHANNELS);
  if (c->gate % 2 != 0) {
    g_set_error (error, AR_ERROR, code,
        "%s: wavenet.gate_channels is %d; expected an even number (a tanh "
        "half and a sigmoid half)",
        what, c->gate);
    return FALSE;
  }
  RANGE (c->skip, "skip_channels", 1, MAX_CHANNELS);
  RANGE (c->output, "output_channels", 1, MAX_CHANNELS);
  RANGE (c->stacks, "stacks", 1, MAX_STACKS);
  RANGE (c->layers_per_stack, "layers_per_stack", 1, MAX_LAYERS_PER_STACK);
  RANGE (c->global_classes, "global.classes", 0, MAX_CLASSES);
  RANGE (c->cond_channels, "cond_channels", 0, MAX_CHANNELS);
#undef RANGE
  if (!ar_wavenet_config_check_decode (c, what, code, error))
    return FALSE;
  if (c->cond_channels > 0 && c->mel.sample_rate != c->sample_rate) {
    g_set_error (error, AR_ERROR, code,
        "%s: wavenet.mel.sample_rate is %d; expected the model's sample rate "
        "%d",
        what, c->mel.sample_rate, c->sample_rate);
    return FALSE;
  }
  return TRUE;
}

gboolean
ar_wavenet_config_check (const ArWaveNetConfig *c, const char *what, int code,
    GError **error)
{
  ArMel *mel;
  GError *local = NULL;

  g_return_val_if_fail (c != NULL && what != NULL, FALSE);

  if (!config_check (c, what, code, error))
    return FALSE;
  if (c->cond_channels == 0)
    return TRUE;
  /* the mel parameters are checked where they are used: by the front end */
  mel = ar_mel_new (&c->mel, &local);
  if (mel == NULL) {
    g_set_error (error, AR_ERROR, code, "%s: wavenet.mel: %s", what,
        local->message);
    g_error_free (local);
    return FALSE;
  }
  ar_mel_free (mel);
  return TRUE;
}

gboolean
ar_wavenet_config_check_decode (const ArWaveNetConfig *c, const char *what,
    int code, GError **error)
{
  g_return_val_if_fail (c != NULL && what != NULL, FALSE);

  /* written so that NaN fails too */
  if (!(c->pre_emphasis >= 0.0f &&
          c->pre_emphasis <= AR_WAVENET_MAX_PRE_EMPHASIS)) {
    g_set_error (error, AR_ERROR, code,
        "%s: wavenet.pre_emphasis is %g; expected 0 to %g", what,
        (double) c->pre_emphasis, (double) AR_WAVENET_MAX_PRE_EMPHASIS);
    return FALSE;
  }
  if (!(c->highpass >= 0.0f && c->highpass < c->sample_rate / 2.0f)) {
    g_set_error (error, AR_ERROR, code,
        "%s: wavenet.highpass is %g Hz; expected 0 (none) or a cutoff under "
        "half the sample rate (%g Hz)",
        what, (double) c->highpass, c->sample_rate / 2.0);
    return FALSE;
  }
  return TRUE;
}

/* ---- the model -------------------------------------------------------- */

/* One layer's weights (F32, inside ArWaveNet.params); matrices are
 * (rows, cols) row-major. */
typedef struct
{
  int dilation;
  float *conv_w;   /* (G, 2R): [tap 0 (h_{t−d}) | tap 1 (h_t)] */
  float *conv_b;   /* (G) */
  float *skip_w;   /* (S, G/2) */
  float *skip_b;   /* (S) */
  float *res_w;    /* (R, G/2), NULL in the last layer */
  float *res_b;    /* (R), NULL in the last layer */
  float *cond_w;   /* (G, Cc) when Cc > 0 */
  float *global_w; /* (G, classes) when classes > 0 */
} Layer;

/* A layer's packed generation weights (in ArWaveNet.packed). */
typedef struct
{
  gconstpointer past; /* (G, R): the conv's tap on h_{t−d}, F32 or F16 */
  gconstpointer cur;  /* (G, R): its tap on h_t */
  gconstpointer sr;   /* (sr_rows, G/2): skip rows then residual rows */
  const float *sr_b;  /* (sr_rows): [skip bias | residual bias] */
  int sr_rows;        /* S + R, or S in the last layer */
} GenLayer;

/* A tensor of the model file. */
typedef struct
{
  char name[48];
  guint n_dims;
  guint64 ne[3];   /* ne[0] innermost */
  gsize n;         /* values */
  float **slot;    /* where its F32 copy's address goes */
  gboolean matrix; /* stored F16 by ar_wavenet_write (f16) */
  float init_std;  /* ar_wavenet_new_random's deviation */
} TensorSpec;

struct _ArWaveNet
{
  gint ref_count;
  ArWaveNetConfig config;
  int n_layers;       /* stacks · layers_per_stack */
  int half;           /* G / 2 */
  gboolean f16;       /* generation reads F16 weights */
  char **class_names; /* (global_classes + 1), NULL-terminated */
  ArMel *mel;         /* the front end of a vocoder, else NULL */

  GArray *specs;  /* TensorSpec, in file order */
  float *params;  /* every tensor, F32 */
  float *input_w; /* (2, Q, R): [tap][class][channel] */
  float *input_b; /* (R) */
  Layer *layers;  /* (n_layers) */
  float *cond_w;  /* (Cc, 3·n_mels): [m_{f−1} | m_f | m_{f+1}] */
  float *cond_b;  /* (Cc) */
  float *out1_w;  /* (O, S) */
  float *out1_b;  /* (O) */
  float *out2_w;  /* (Q, O) */
  float *out2_b;  /* (Q) */

  gpointer packed;           /* generation weights, F32 or F16 */
  float *packed_b;           /* the stacked biases of every layer */
  GenLayer *gen;             /* (n_layers) */
  gconstpointer gen_out1[2]; /* (O, S1), (O, S − S1): out1's columns
                              * [0, S1) and [S1, S), see gen_step () */
  int out1_split;            /* S1, the skip rows of the side thread */
  gconstpointer gen_out2;    /* (Q, O) */
};

static void add_spec (GArray *specs, gsize *total, float **slot,
    gboolean matrix, float std, guint n_dims, guint64 ne0, guint64 ne1,
    guint64 ne2, const char *fmt, ...) G_GNUC_PRINTF (10, 11);

static void
add_spec (GArray *specs, gsize *total, float **slot, gboolean matrix, float std,
    guint n_dims, guint64 ne0, guint64 ne1, guint64 ne2, const char *fmt, ...)
{
  TensorSpec s;
  va_list ap;

  memset (&s, 0, sizeof s);
  va_start (ap, fmt);
  g_vsnprintf (s.name, sizeof s.name, fmt, ap);
  va_end (ap);
  s.n_dims = n_dims;
  s.ne[0] = ne0;
  s.ne[1] = ne1;
  s.ne[2] = ne2;
  s.n = (gsize) ne0 * (n_dims > 1 ? ne1 : 1) * (n_dims > 2 ? ne2 : 1);
  s.slot = slot;
  s.matrix = matrix;
  s.init_std = std;
  /* the offset, kept in the slot until the allocation exists */
  *slot = GSIZE_TO_POINTER (*total);
  *total += s.n;
  g_array_append_val (specs, s);
}

/* Biases start at N (0, 0.1²) in random models, so that tests exercise them. */
#define BIAS_STD 0.1f

/* Lists the tensors of @wn's configuration and allocates their F32
 * storage. */
static void
alloc_params (ArWaveNet *wn)
{
  const ArWaveNetConfig *c = &wn->config;
  int R = c->residual, G = c->gate, H = G / 2, S = c->skip, O = c->output;
  int Q = c->quantization, Cc = c->cond_channels, K = c->global_classes;
  GArray *specs = g_array_new (FALSE, FALSE, sizeof (TensorSpec));
  gsize total = 0;

#define STD(fan_in) (1.0f / sqrtf ((float) (fan_in)))
  /* the input "convolution" is a lookup of two one-hot taps: fan-in 2 */
  add_spec (specs, &total, &wn->input_w, TRUE, STD (2), 3, R, Q, 2,
      "input.weight");
  add_spec (specs, &total, &wn->input_b, FALSE, BIAS_STD, 1, R, 1, 1,
      "input.bias");
  for (int l = 0; l < wn->n_layers; l++) {
    Layer *L = &wn->layers[l];

    L->dilation = 1 << (l % c->layers_per_stack);
    add_spec (specs, &total, &L->conv_w, TRUE, STD (2 * R), 2, 2 * R, G, 1,
        "layer.%d.conv.weight", l);
    add_spec (specs, &total, &L->conv_b, FALSE, BIAS_STD, 1, G, 1, 1,
        "layer.%d.conv.bias", l);
    add_spec (specs, &total, &L->skip_w, TRUE, STD (H), 2, H, S, 1,
        "layer.%d.skip.weight", l);
    add_spec (specs, &total, &L->skip_b, FALSE, BIAS_STD, 1, S, 1, 1,
        "layer.%d.skip.bias", l);
    if (l < wn->n_layers - 1) {
      add_spec (specs, &total, &L->res_w, TRUE, STD (H), 2, H, R, 1,
          "layer.%d.res.weight", l);
      add_spec (specs, &total, &L->res_b, FALSE, BIAS_STD, 1, R, 1, 1,
          "layer.%d.res.bias", l);
    }
    if (Cc > 0)
      add_spec (specs, &total, &L->cond_w, TRUE, STD (Cc), 2, Cc, G, 1,
          "layer.%d.cond.weight", l);
    if (K > 0)
      add_spec (specs, &total, &L->global_w, TRUE, STD (K), 2, K, G, 1,
          "layer.%d.global.weight", l);
  }
  if (Cc > 0) {
    int M = c->mel.n_mels;

    add_spec (specs, &total, &wn->cond_w, TRUE, STD (3 * M), 2, 3 * M, Cc, 1,
        "cond.weight");
    add_spec (specs, &total, &wn->cond_b, FALSE, BIAS_STD, 1, Cc, 1, 1,
        "cond.bias");
  }
  add_spec (specs, &total, &wn->out1_w, TRUE, STD (S), 2, S, O, 1,
      "out1.weight");
  add_spec (specs, &total, &wn->out1_b, FALSE, BIAS_STD, 1, O, 1, 1,
      "out1.bias");
  add_spec (specs, &total, &wn->out2_w, TRUE, STD (O), 2, O, Q, 1,
      "out2.weight");
  add_spec (specs, &total, &wn->out2_b, FALSE, BIAS_STD, 1, Q, 1, 1,
      "out2.bias");
#undef STD

  wn->params = g_new0 (float, total);
  for (guint i = 0; i < specs->len; i++) {
    TensorSpec *s = &g_array_index (specs, TensorSpec, i);

    *s->slot = wn->params + GPOINTER_TO_SIZE (*s->slot);
  }
  wn->specs = specs;
}

/* A model of @config with zeroed weights (config already checked). */
static ArWaveNet *
model_new (const ArWaveNetConfig *config)
{
  ArWaveNet *wn = g_new0 (ArWaveNet, 1);

  wn->ref_count = 1;
  wn->config = *config;
  wn->n_layers = config->stacks * config->layers_per_stack;
  wn->half = config->gate / 2;
  wn->layers = g_new0 (Layer, wn->n_layers);
  wn->gen = g_new0 (GenLayer, wn->n_layers);
  alloc_params (wn);
  return wn;
}

/* The start of share @k of @n rows in @parts, on a multiple of 8 (the
 * kernels' row blocks) so each share runs mostly in whole blocks. */
static int
split_at (int n, int parts, int k)
{
  if (k >= parts)
    return n;
  return (int) ((gint64) n * k / parts) & ~7;
}

/* S1, the skip rows [0, S1) the side thread of a two-thread step computes
 * (gen_step ()), chosen to even out the two threads' work in a layer: the
 * chain's tap on h_t, gate, residual and skip rows [S1, S) against the
 * side's tap on h_{t+1−d} and skip rows [0, S1).  In multiply-adds that is
 * G·R + R·G/2 + (S − S1)·G/2 = G·R + S1·G/2, S1 = (S + R) / 2; the gate
 * costs about a fifth of a tap besides (cycle counts of both threads in
 * the reference shape), R / 5 more rows for the side.  On a multiple of 16
 * rows (the nearest), so the two threads' rows of the skip vector share no
 * cache line: 112 of 128 in the reference shape, 48 of 64 in the default
 * models'. */
static int
side_skip_rows (int S, int R)
{
  int s1 = (int) lround ((S + R) / 2.0 + R / 5.0);

  return CLAMP ((s1 + 8) & ~15, 0, S);
}

/* Builds the packed generation weights from the F32 ones (in F16 when
 * wn->f16; the F32 values are then exactly the F16 ones). */
static void
pack_weights (ArWaveNet *wn)
{
  const ArWaveNetConfig *c = &wn->config;
  int R = c->residual, G = c->gate, H = wn->half, S = c->skip, O = c->output;
  int Q = c->quantization;
  gsize n = 0, nb = 0, at = 0, bat = 0;
  gsize esize = wn->f16 ? 2 : 4;
  int S1 = side_skip_rows (S, R);

  for (int l = 0; l < wn->n_layers; l++) {
    int sr_rows = S + (l < wn->n_layers - 1 ? R : 0);

    n += (gsize) G * 2 * R + (gsize) sr_rows * H;
    nb += sr_rows;
  }
  n += (gsize) O * S + (gsize) Q * O;
  g_free (wn->packed);
  g_free (wn->packed_b);
  wn->packed = g_malloc (n * esize);
  wn->packed_b = g_new (float, nb);

#define PUT(src, count)                                                        \
  G_STMT_START                                                                 \
  {                                                                            \
    gsize _n = (count);                                                        \
    if (wn->f16) {                                                             \
      guint16 *_d = (guint16 *) wn->packed + at;                               \
      for (gsize _i = 0; _i < _n; _i++)                                        \
        _d[_i] = ar_f32_to_f16 ((src)[_i]);                                    \
    } else {                                                                   \
      memcpy ((float *) wn->packed + at, (src), _n * sizeof (float));          \
    }                                                                          \
    at += _n;                                                                  \
  }                                                                            \
  G_STMT_END
#define HERE() ((gconstpointer) ((const guint8 *) wn->packed + at * esize))

  for (int l = 0; l < wn->n_layers; l++) {
    Layer *L = &wn->layers[l];
    GenLayer *gl = &wn->gen[l];

    gl->sr_rows = S + (L->res_w ? R : 0);
    /* the conv's two taps as two matrices, one for each thread */
    gl->past = HERE ();
    for (int r = 0; r < G; r++)
      PUT (L->conv_w + (gsize) r * 2 * R, (gsize) R);
    gl->cur = HERE ();
    for (int r = 0; r < G; r++)
      PUT (L->conv_w + (gsize) r * 2 * R + R, (gsize) R);
    gl->sr = HERE ();
    PUT (L->skip_w, (gsize) S * H);
    if (L->res_w)
      PUT (L->res_w, (gsize) R * H);
    gl->sr_b = wn->packed_b + bat;
    memcpy (wn->packed_b + bat, L->skip_b, S * sizeof (float));
    if (L->res_b)
      memcpy (wn->packed_b + bat + S, L->res_b, R * sizeof (float));
    bat += gl->sr_rows;
  }
  /* out1 as two matrices of column halves, the skip rows of each thread */
  wn->out1_split = S1;
  for (int k = 0; k < 2; k++) {
    int c0 = k == 0 ? 0 : S1, c1 = k == 0 ? S1 : S;

    wn->gen_out1[k] = HERE ();
    for (int r = 0; r < O; r++)
      PUT (wn->out1_w + (gsize) r * S + c0, (gsize) (c1 - c0));
  }
  wn->gen_out2 = HERE ();
  PUT (wn->out2_w, (gsize) Q * O);
#undef PUT
#undef HERE
}

static void
set_default_class_names (ArWaveNet *wn)
{
  int K = wn->config.global_classes;

  wn->class_names = g_new0 (char *, K + 1);
  for (int i = 0; i < K; i++)
    wn->class_names[i] = g_strdup_printf ("%d", i);
}

/* The front end of a vocoder (also the check of its parameters). */
static gboolean
make_mel (ArWaveNet *wn, const char *what, int code, GError **error)
{
  GError *local = NULL;

  if (wn->config.cond_channels == 0)
    return TRUE;
  wn->mel = ar_mel_new (&wn->config.mel, &local);
  if (wn->mel == NULL) {
    g_set_error (error, AR_ERROR, code, "%s: wavenet.mel: %s", what,
        local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

ArWaveNet *
ar_wavenet_new_random (const ArWaveNetConfig *config, guint64 seed,
    GError **error)
{
  ArWaveNet *wn;
  ArRng rng;

  g_return_val_if_fail (config != NULL, NULL);
  /* the caller's settings, not a file's */
  if (!config_check (config, "configuration", AR_ERROR_INVALID, error))
    return NULL;
  wn = model_new (config);
  if (!make_mel (wn, "configuration", AR_ERROR_INVALID, error)) {
    ar_wavenet_unref (wn);
    return NULL;
  }
  ar_rng_init (&rng, seed);
  for (guint i = 0; i < wn->specs->len; i++) {
    TensorSpec *s = &g_array_index (wn->specs, TensorSpec, i);

    for (gsize j = 0; j < s->n; j++)
      (*s->slot)[j] = s->init_std * ar_rng_normal (&rng);
  }
  set_default_class_names (wn);
  pack_weights (wn);
  return wn;
}

/* wavenet.global.names into @wn->class_names: one name per class, each
 * found again by ar_wavenet_find_class () — so not empty (an element's
 * empty global-condition means none), without a NUL byte (the name would
 * end there), valid UTF-8 (GGUF's strings are) and unlike the others. */
static gboolean
read_class_names (ArWaveNet *wn, const ArGguf *f, GError **error)
{
  const char *const *names;
  guint64 n = (guint64) wn->config.global_classes;

  if (!ar_gguf_get_name_array (f, "wavenet.global.names", n,
          "wavenet.global.classes", &names, error))
    return FALSE;
  wn->class_names = g_new0 (char *, n + 1);
  for (guint64 i = 0; i < n; i++)
    wn->class_names[i] = g_strdup (names[i]);
  return TRUE;
}

/* A tensor of @f the network of @wn's configuration has no place for,
 * with one of its tensors' names (layer.L.* past the last layer, the last
 * layer's res.*, cond.* or layer.L.cond.weight without mel conditioning,
 * layer.L.global.weight without global classes): the keys disagree with
 * the tensors, and loading would drop part of the trained network.
 * Tensors of other names (a checkpoint's opt.*) are not the model's. */
static const char *
stray_tensor (const ArWaveNet *wn, const ArGguf *f)
{
  static const char *const prefixes[] = { "input.", "layer.", "cond.", "out1.",
    "out2." };
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < wn->specs->len; i++)
    g_hash_table_add (known, g_array_index (wn->specs, TensorSpec, i).name);
  for (guint i = 0; i < ar_gguf_get_n_tensors (f); i++) {
    const char *t = ar_gguf_get_tensor (f, i)->name;

    if (g_hash_table_contains (known, t))
      continue;
    for (guint k = 0; k < G_N_ELEMENTS (prefixes); k++)
      if (g_str_has_prefix (t, prefixes[k]))
        return t;
  }
  return NULL;
}

/* A u32 key read into an int (the ranges are checked afterwards);
 * @def >= 0 makes the key optional. */
static gboolean
get_int (const ArGguf *f, const char *key, int def, int *out, GError **error)
{
  guint32 v;

  if (def >= 0 && !ar_gguf_has_key (f, key)) {
    *out = def;
    return TRUE;
  }
  if (!ar_gguf_get_u32 (f, key, &v, error))
    return FALSE;
  *out = (int) MIN (v, (guint32) G_MAXINT);
  return TRUE;
}

ArWaveNet *
ar_wavenet_new_from_gguf (ArGguf *f, GError **error)
{
  const char *name, *arch, *stray;
  ArWaveNetConfig c;
  ArWaveNet *wn;
  gboolean all_f16 = TRUE;

  g_return_val_if_fail (f != NULL, NULL);
  name = ar_gguf_get_name (f);
  memset (&c, 0, sizeof c);
  if (!ar_gguf_get_string (f, "general.architecture", &arch, error))
    return NULL;
  if (strcmp (arch, "wavenet") != 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: general.architecture is \"%s\"; expected \"wavenet\"", name, arch);
    return NULL;
  }
  if (!get_int (f, "wavenet.sample_rate", -1, &c.sample_rate, error) ||
      !get_int (f, "wavenet.quantization", -1, &c.quantization, error) ||
      !get_int (f, "wavenet.residual_channels", -1, &c.residual, error) ||
      !get_int (f, "wavenet.gate_channels", -1, &c.gate, error) ||
      !get_int (f, "wavenet.skip_channels", -1, &c.skip, error) ||
      !get_int (f, "wavenet.output_channels", -1, &c.output, error) ||
      !get_int (f, "wavenet.stacks", -1, &c.stacks, error) ||
      !get_int (f, "wavenet.layers_per_stack", -1, &c.layers_per_stack,
          error) ||
      !get_int (f, "wavenet.global.classes", 0, &c.global_classes, error) ||
      !get_int (f, "wavenet.cond_channels", 0, &c.cond_channels, error))
    return NULL;
  if (c.cond_channels > 0 &&
      !ar_mel_params_read (&c.mel, f, "wavenet.mel", error))
    return NULL;
  if (c.cond_channels == 0) {
    ArMelParams def = AR_MEL_PARAMS_INIT;

    c.mel = def;
  }
  /* optional: the files written before it had no pre-emphasis */
  if (ar_gguf_has_key (f, "wavenet.pre_emphasis") &&
      !ar_gguf_get_f32 (f, "wavenet.pre_emphasis", &c.pre_emphasis, error))
    return NULL;
  /* optional too: older files have no output high-pass */
  if (ar_gguf_has_key (f, "wavenet.highpass") &&
      !ar_gguf_get_f32 (f, "wavenet.highpass", &c.highpass, error))
    return NULL;
  if (!config_check (&c, name, AR_ERROR_MODEL, error))
    return NULL;

  wn = model_new (&c);
  if (!make_mel (wn, name, AR_ERROR_MODEL, error))
    goto fail;

  if (ar_gguf_has_key (f, "wavenet.global.names")) {
    if (!read_class_names (wn, f, error))
      goto fail;
  } else {
    set_default_class_names (wn);
  }

  for (guint i = 0; i < wn->specs->len; i++) {
    TensorSpec *s = &g_array_index (wn->specs, TensorSpec, i);
    const ArGgufTensor *t =
        ar_gguf_require_tensor (f, s->name, s->n_dims, s->ne, error);

    if (t == NULL)
      goto fail;
    if (t->type != AR_TENSOR_F32 && t->type != AR_TENSOR_F16) {
      g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
          "%s: tensor '%s' has type %s; expected F32 or F16", name, s->name,
          ar_tensor_type_name (t->type));
      goto fail;
    }
    if (s->matrix && t->type != AR_TENSOR_F16)
      all_f16 = FALSE;
    ar_gguf_tensor_to_f32 (t, *s->slot);
  }
  stray = stray_tensor (wn, f);
  if (stray != NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: tensor '%s' has no place in the network the keys describe "
        "(wavenet.stacks %d × layers_per_stack %d, cond_channels %d, "
        "global.classes %d); expected the keys of the network it belongs to",
        name, stray, c.stacks, c.layers_per_stack, c.cond_channels,
        c.global_classes);
    goto fail;
  }
  wn->f16 = all_f16;
  pack_weights (wn);
  return wn;

fail:
  ar_wavenet_unref (wn);
  return NULL;
}

ArWaveNet *
ar_wavenet_ref (ArWaveNet *wn)
{
  g_return_val_if_fail (wn != NULL, NULL);
  g_atomic_int_inc (&wn->ref_count);
  return wn;
}

void
ar_wavenet_unref (ArWaveNet *wn)
{
  if (wn == NULL || !g_atomic_int_dec_and_test (&wn->ref_count))
    return;
  if (wn->mel)
    ar_mel_free (wn->mel);
  g_strfreev (wn->class_names);
  g_array_unref (wn->specs);
  g_free (wn->params);
  g_free (wn->layers);
  g_free (wn->packed);
  g_free (wn->packed_b);
  g_free (wn->gen);
  g_free (wn);
}

const ArWaveNetConfig *
ar_wavenet_get_config (const ArWaveNet *wn)
{
  g_return_val_if_fail (wn != NULL, NULL);
  return &wn->config;
}

const char *
ar_wavenet_get_class_name (const ArWaveNet *wn, int i)
{
  g_return_val_if_fail (wn != NULL, NULL);
  g_return_val_if_fail (i >= 0 && i < wn->config.global_classes, NULL);
  return wn->class_names[i];
}

int
ar_wavenet_find_class (const ArWaveNet *wn, const char *name)
{
  g_return_val_if_fail (wn != NULL, -1);
  g_return_val_if_fail (name != NULL, -1);
  for (int i = 0; i < wn->config.global_classes; i++)
    if (strcmp (wn->class_names[i], name) == 0)
      return i;
  return -1;
}

gsize
ar_wavenet_receptive_field (const ArWaveNet *wn)
{
  g_return_val_if_fail (wn != NULL, 0);
  return 1 +
      (gsize) wn->config.stacks *
      (((gsize) 1 << wn->config.layers_per_stack) - 1) +
      1;
}

guint64
ar_wavenet_macs_per_sample (const ArWaveNet *wn)
{
  const ArWaveNetConfig *c;
  guint64 macs = 0;

  g_return_val_if_fail (wn != NULL, 0);
  c = &wn->config;
  for (int l = 0; l < wn->n_layers; l++)
    macs += (guint64) c->gate * 2 * c->residual +
        (guint64) wn->gen[l].sr_rows * wn->half;
  macs += (guint64) c->output * c->skip + (guint64) c->quantization * c->output;
  if (c->cond_channels > 0) {
    /* the frame-rate products (cond conv, per-layer projections), shared
     * by the hop samples of a frame */
    guint64 frame = (guint64) c->cond_channels * 3 * c->mel.n_mels +
        (guint64) wn->n_layers * c->gate * c->cond_channels;

    macs += (frame + c->mel.hop - 1) / c->mel.hop;
  }
  return macs;
}

void
ar_wavenet_config_write (const ArWaveNetConfig *c,
    const char *const *class_names, ArGgufWriter *w)
{
  g_return_if_fail (c != NULL && w != NULL);

  ar_gguf_writer_set_string (w, "general.architecture", "wavenet");
  ar_gguf_writer_set_u32 (w, "wavenet.sample_rate", c->sample_rate);
  ar_gguf_writer_set_u32 (w, "wavenet.quantization", c->quantization);
  ar_gguf_writer_set_u32 (w, "wavenet.residual_channels", c->residual);
  ar_gguf_writer_set_u32 (w, "wavenet.gate_channels", c->gate);
  ar_gguf_writer_set_u32 (w, "wavenet.skip_channels", c->skip);
  ar_gguf_writer_set_u32 (w, "wavenet.output_channels", c->output);
  ar_gguf_writer_set_u32 (w, "wavenet.stacks", c->stacks);
  ar_gguf_writer_set_u32 (w, "wavenet.layers_per_stack", c->layers_per_stack);
  ar_gguf_writer_set_u32 (w, "wavenet.global.classes", c->global_classes);
  if (c->global_classes > 0 && class_names != NULL)
    ar_gguf_writer_set_string_array (w, "wavenet.global.names", class_names,
        NULL, c->global_classes);
  ar_gguf_writer_set_u32 (w, "wavenet.cond_channels", c->cond_channels);
  if (c->cond_channels > 0)
    ar_mel_params_write (&c->mel, w, "wavenet.mel");
  if (c->pre_emphasis != 0.0f)
    ar_gguf_writer_set_f32 (w, "wavenet.pre_emphasis", c->pre_emphasis);
  if (c->highpass != 0.0f)
    ar_gguf_writer_set_f32 (w, "wavenet.highpass", c->highpass);
}

void
ar_wavenet_write (const ArWaveNet *wn, ArGgufWriter *w, gboolean f16)
{
  g_return_if_fail (wn != NULL);
  g_return_if_fail (w != NULL);
  ar_wavenet_config_write (&wn->config,
      (const char *const *) wn->class_names, w);
  for (guint i = 0; i < wn->specs->len; i++) {
    const TensorSpec *s = &g_array_index (wn->specs, TensorSpec, i);

    ar_gguf_writer_add_tensor_f32 (w, s->name,
        f16 && s->matrix ? AR_TENSOR_F16 : AR_TENSOR_F32, s->n_dims, s->ne,
        *s->slot);
  }
}

ArWaveNet *
ar_wavenet_to_f16 (const ArWaveNet *wn)
{
  ArWaveNet *h;

  g_return_val_if_fail (wn != NULL, NULL);
  h = model_new (&wn->config);
  h->class_names = g_strdupv (wn->class_names);
  if (wn->mel)
    h->mel = ar_mel_new (&wn->config.mel, NULL);
  for (guint i = 0; i < wn->specs->len; i++) {
    const TensorSpec *s = &g_array_index (wn->specs, TensorSpec, i);
    const TensorSpec *d = &g_array_index (h->specs, TensorSpec, i);

    for (gsize j = 0; j < s->n; j++)
      (*d->slot)[j] = s->matrix ? ar_f16_to_f32 (ar_f32_to_f16 ((*s->slot)[j]))
                                : (*s->slot)[j];
  }
  h->f16 = TRUE;
  pack_weights (h);
  return h;
}

/* ---- the full forward (the oracle) ------------------------------------ */

/* Y (n, rows) = X (n, cols) · Wᵀ, W (rows, cols) */
static void
gemm_nt (float *Y, const float *X, const float *W, gsize n, int rows, int cols)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, rows, cols,
      1.0f, X, cols, W, cols, 0.0f, Y, rows);
}

static inline float
sigmoidf (float v)
{
  return 1.0f / (1.0f + expf (-v));
}

/* e (n_frames, Cc) = tanh (Wc · [m_{f−1}; m_f; m_{f+1}] + bc), frames
 * outside @mel at the log floor. */
static void
cond_frames (const ArWaveNet *wn, const float *mel, gsize n_frames, float *e)
{
  const ArWaveNetConfig *c = &wn->config;
  int M = c->mel.n_mels, Cc = c->cond_channels;
  float floor_v = logf (c->mel.log_floor);
  float *in = g_new (float, 3 * M);

  for (gsize f = 0; f < n_frames; f++) {
    for (int k = 0; k < 3; k++) {
      gint64 src = (gint64) f + k - 1;

      for (int i = 0; i < M; i++)
        in[k * M + i] = src >= 0 && src < (gint64) n_frames
            ? mel[(gsize) src * M + i]
            : floor_v;
    }
    for (int o = 0; o < Cc; o++) {
      const float *w = wn->cond_w + (gsize) o * 3 * M;
      float s = wn->cond_b[o];

      for (int i = 0; i < 3 * M; i++)
        s += w[i] * in[i];
      e[f * Cc + o] = tanhf (s);
    }
  }
  g_free (in);
}

void
ar_wavenet_forward_full (const ArWaveNet *wn, const guint8 *x, gsize n,
    const float *mel, gsize n_mel_frames, int global_class, float *logits)
{
  const ArWaveNetConfig *c;
  int R, G, H, S, O, Q, Cc, hop = 1;
  float *h, *skip, *X, *Z, *U, *A, *B, *E = NULL, *P = NULL;

  g_return_if_fail (wn != NULL);
  g_return_if_fail (x != NULL || n == 0);
  g_return_if_fail (logits != NULL || n == 0);
  c = &wn->config;
  g_return_if_fail (global_class >= -1 && global_class < c->global_classes);
  g_return_if_fail ((c->cond_channels > 0) == (mel != NULL));
  if (n == 0)
    return;
  R = c->residual;
  G = c->gate;
  H = wn->half;
  S = c->skip;
  O = c->output;
  Q = c->quantization;
  Cc = c->cond_channels;
  if (Cc > 0) {
    hop = c->mel.hop;
    g_return_if_fail (n_mel_frames >= (n + 1) / hop + 1);
  }

  h = g_new (float, n *R);
  skip = g_new0 (float, n *S);
  X = g_new (float, n * 2 * R);
  Z = g_new (float, n *G);
  U = g_new (float, n *H);
  A = g_new (float, n *MAX (S, O));
  B = g_new (float, n *O);
  if (Cc > 0) {
    E = g_new (float, n_mel_frames *Cc);
    P = g_new (float, n_mel_frames *G);
    cond_frames (wn, mel, n_mel_frames, E);
  }

  /* h⁰_t = input.weight[x_{t−1}][0] + input.weight[x_t][1] + input.bias */
  for (gsize t = 0; t < n; t++) {
    int prev = t > 0 ? x[t - 1] : Q / 2;
    const float *w0 = wn->input_w + (gsize) prev * R;
    const float *w1 = wn->input_w + ((gsize) Q + x[t]) * R;

    for (int i = 0; i < R; i++)
      h[t * R + i] = w0[i] + w1[i] + wn->input_b[i];
  }

  for (int l = 0; l < wn->n_layers; l++) {
    const Layer *L = &wn->layers[l];
    gsize d = L->dilation;

    /* X_t = [h_{t−d} (0 before the start); h_t] */
    for (gsize t = 0; t < n; t++) {
      float *xt = X + t * 2 * R;

      if (t >= d)
        memcpy (xt, h + (t - d) * R, R * sizeof (float));
      else
        memset (xt, 0, R * sizeof (float));
      memcpy (xt + R, h + t * R, R * sizeof (float));
    }
    gemm_nt (Z, X, L->conv_w, n, G, 2 * R);
    if (Cc > 0)
      gemm_nt (P, E, L->cond_w, n_mel_frames, G, Cc);
    for (gsize t = 0; t < n; t++) {
      float *z = Z + t * G;

      for (int j = 0; j < G; j++)
        z[j] += L->conv_b[j];
      if (global_class >= 0)
        for (int j = 0; j < G; j++)
          z[j] += L->global_w[(gsize) j * c->global_classes + global_class];
      if (Cc > 0) {
        /* frames around sample t + 1, the one being predicted; a frame
         * past the last given repeats the last */
        gsize p = t + 1, f = p / hop, f1 = MIN (f + 1, n_mel_frames - 1);
        float a = (float) (p % hop) / (float) hop;

        for (int j = 0; j < G; j++)
          z[j] += (1.0f - a) * P[f * G + j] + a * P[f1 * G + j];
      }
      for (int j = 0; j < H; j++)
        U[t * H + j] = tanhf (z[j]) * sigmoidf (z[H + j]);
    }
    /* skip += U Wsᵀ + bs;  h += U Wrᵀ + br */
    gemm_nt (A, U, L->skip_w, n, S, H);
    for (gsize t = 0; t < n; t++)
      for (int i = 0; i < S; i++)
        skip[t * S + i] += A[t * S + i] + L->skip_b[i];
    if (L->res_w) {
      gemm_nt (A, U, L->res_w, n, R, H);
      for (gsize t = 0; t < n; t++)
        for (int i = 0; i < R; i++)
          h[t * R + i] += A[t * R + i] + L->res_b[i];
    }
  }

  /* logits = Wo2 · relu (Wo1 · relu (skip) + bo1) + bo2 */
  for (gsize i = 0; i < n * S; i++)
    skip[i] = MAX (skip[i], 0.0f);
  gemm_nt (B, skip, wn->out1_w, n, O, S);
  for (gsize t = 0; t < n; t++)
    for (int i = 0; i < O; i++)
      B[t * O + i] = MAX (B[t * O + i] + wn->out1_b[i], 0.0f);
  gemm_nt (logits, B, wn->out2_w, n, Q, O);
  for (gsize t = 0; t < n; t++)
    for (int i = 0; i < Q; i++)
      logits[t * Q + i] += wn->out2_b[i];

  g_free (h);
  g_free (skip);
  g_free (X);
  g_free (Z);
  g_free (U);
  g_free (A);
  g_free (B);
  g_free (E);
  g_free (P);
}

/* ---- generation ------------------------------------------------------- */

/* Threads taking part in one generator's steps.  Two: the side thread of a
 * step (gen_step ()) does work the chain would otherwise do, and there is
 * no third kind of work; the machines this was written for have two
 * cores. */
#define MAX_PARTS 2
G_STATIC_ASSERT (MAX_PARTS == AR_WAVENET_GEN_MAX_THREADS);
/* Jobs shorter than this run in the caller alone: waking a pool worker
 * costs about as much as a few steps. */
#define MIN_SPLIT_STEPS 64

/* One thread's share of a step (see gen_step ()): its work, its rows of
 * the products it shares, its private buffers and its copy of the
 * sampler's state. */
typedef struct
{
  gboolean chain;   /* runs the chain: taps on h_t, gates, residuals */
  gboolean side;    /* runs the input queue and the taps on h_{t+1−d} */
  int s0, s1;       /* skip rows [s0, s1), in every layer */
  int q0, q1;       /* out2 rows */
  int half0, half1; /* out1 column halves [half0, half1) */
  float *zb;        /* (G) the gate's bias for this step */
  float *relu_s;    /* (S) relu (skip), rows [s0, s1) */
  float *relu_o;    /* (O) relu (out1) */
  ArSampler *sampler;
} Part;

struct _ArWaveNetGen
{
  ArWaveNet *wn;
  const ArWaveNetKernels *k;
  ArThreadPool *pool; /* not owned */
  float temperature;
  int global_class; /* -1 = none */
  ArRng rng;
  guint64 t;      /* inputs fed since the reset */
  float deemph;   /* the last sample ar_wavenet_gen_decode () made, s_{t−1}
                   * of the de-emphasis (unclipped) */
  ArHighpass highpass; /* the decode's output filter, when the model has one */
  int prev;       /* the last input fed, x_{t−1} */
  int pending;    /* the class to feed next (drawn, not fed yet), or -1:
                   * the logits hold the distribution of x_t */
  gboolean prime; /* pending is the silence prime of an empty history */

  float *block;  /* the one allocation of the state below */
  float **ring;  /* (n_layers) queues (2d, R) of layer inputs h_{t−2d+1} …
                  * h_t */
  float *past[2]; /* (n_layers, G) of even and odd steps: W_past h_{t−d},
                   * made in the step before; the step turns it into the
                   * gate's input z in place */
  float *bias;   /* (n_layers, G) conv bias + global column */
  float *h;      /* (R) the residual stream, the chain's */
  float *u;      /* (n_layers, ustride) the gates' outputs */
  int ustride;
  float *skip;   /* (S) */
  float *o[2];   /* (O) out1's two column halves' products */
  float *zeros;  /* (max (O, Q, G)) */
  float *logits; /* (Q) */
  Part single;   /* all rows, one thread */
  Part split[MAX_PARTS]; /* the chain (0) and the side (1) of two threads */
  guint64 split_steps;   /* steps run by two threads, for the tests */
  gboolean always_split; /* two threads whenever there are, for the tests */
  /* when two threads pay (job_loop): µs per step measured in each mode (0 =
   * not yet), the step before which no second thread is invited again,
   * split steps since the last single measurement */
  double us_single, us_split;
  guint64 retry_at;
  guint64 since_single;
  guint failures; /* split runs in a row that did not pay */
  guint losing;   /* split windows in a row slower than one thread */
  GMutex lock;    /* for a thread sleeping in a barrier */
  GCond cond;
};

static void
part_ranges (const ArWaveNet *wn, Part *p, int parts, int k)
{
  const ArWaveNetConfig *c = &wn->config;
  int S1 = wn->out1_split;

  p->chain = parts == 1 || k == 0;
  p->side = parts == 1 || k == 1;
  /* one thread computes every skip row and both of out1's column halves;
   * of two, the side the rows [0, S1) and the half of those columns, the
   * chain the others */
  p->s0 = parts == 1 || k == 1 ? 0 : S1;
  p->s1 = parts == 1 || k == 0 ? c->skip : S1;
  p->half0 = parts == 1 || k == 1 ? 0 : 1;
  p->half1 = parts == 1 || k == 0 ? 2 : 1;
  p->q0 = split_at (c->quantization, parts, k);
  p->q1 = split_at (c->quantization, parts, k + 1);
}

/* The conv bias plus, with a global class, its column of global.L.weight. */
static void
gen_update_bias (ArWaveNetGen *g)
{
  const ArWaveNet *wn = g->wn;
  int G = wn->config.gate, K = wn->config.global_classes;

  for (int l = 0; l < wn->n_layers; l++) {
    const Layer *L = &wn->layers[l];
    float *b = g->bias + (gsize) l * G;

    for (int j = 0; j < G; j++)
      b[j] = L->conv_b[j] +
          (g->global_class >= 0 ? L->global_w[(gsize) j * K + g->global_class]
                                : 0.0f);
  }
}

ArWaveNetGen *
ar_wavenet_gen_new (ArWaveNet *wn)
{
  const ArWaveNetConfig *c;
  ArWaveNetGen *g;
  int R, G, S, O, Q, L;
  gsize n = 0, at = 0;
  Part *parts[1 + MAX_PARTS];

  g_return_val_if_fail (wn != NULL, NULL);
  c = &wn->config;
  R = c->residual;
  G = c->gate;
  S = c->skip;
  O = c->output;
  Q = c->quantization;
  L = wn->n_layers;

  g = g_new0 (ArWaveNetGen, 1);
  g->wn = ar_wavenet_ref (wn);
  g->k = ar_wavenet_kernels ();
  g->temperature = 1.0f;
  g->global_class = -1;
  if (c->highpass > 0.0f)
    ar_highpass_init (&g->highpass, c->highpass, c->sample_rate);
  g->ring = g_new (float *, L);
  g_mutex_init (&g->lock);
  g_cond_init (&g->cond);

  /* every array starts on a cache line of its own, so two threads writing
   * their own arrays (or their own rows of a shared one, split on multiples
   * of 8 rows) share few lines */
#define LINE(count) (((gsize) (count) + 15) & ~(gsize) 15)
  g->ustride = (int) LINE (wn->half);
  for (int l = 0; l < L; l++)
    n += LINE (2 * wn->layers[l].dilation * R);
  n += 3 * LINE ((gsize) L * G) + LINE (R) + (gsize) L * g->ustride +
      LINE (S) + 2 * LINE (O) + LINE (MAX (MAX (O, Q), G)) + LINE (Q);
  n += (1 + MAX_PARTS) * (LINE (G) + LINE (S) + LINE (O));
  g->block = g_aligned_alloc0 (n, sizeof (float), 64);
#define CARVE(count) (at += LINE (count), g->block + at - LINE (count))
  for (int l = 0; l < L; l++)
    g->ring[l] = CARVE ((gsize) 2 * wn->layers[l].dilation * R);
  for (int k = 0; k < 2; k++)
    g->past[k] = CARVE ((gsize) L * G);
  g->bias = CARVE ((gsize) L * G);
  g->h = CARVE (R);
  g->u = CARVE ((gsize) L * g->ustride);
  g->skip = CARVE (S);
  for (int k = 0; k < 2; k++)
    g->o[k] = CARVE (O);
  g->zeros = CARVE (MAX (MAX (O, Q), G));
  g->logits = CARVE (Q);
  parts[0] = &g->single;
  for (int k = 0; k < MAX_PARTS; k++)
    parts[1 + k] = &g->split[k];
  for (int i = 0; i < 1 + MAX_PARTS; i++) {
    Part *p = parts[i];

    p->zb = CARVE (G);
    p->relu_s = CARVE (S);
    p->relu_o = CARVE (O);
    p->sampler = ar_sampler_new (Q);
  }
#undef CARVE
#undef LINE
  g_assert (at == n);
  part_ranges (wn, &g->single, 1, 0);
  for (int k = 0; k < MAX_PARTS; k++)
    part_ranges (wn, &g->split[k], MAX_PARTS, k);
  gen_update_bias (g);
  ar_wavenet_gen_reset (g, 0);
  return g;
}

void
ar_wavenet_gen_free (ArWaveNetGen *g)
{
  if (g == NULL)
    return;
  ar_sampler_free (g->single.sampler);
  for (int k = 0; k < MAX_PARTS; k++)
    ar_sampler_free (g->split[k].sampler);
  ar_wavenet_unref (g->wn);
  g_mutex_clear (&g->lock);
  g_cond_clear (&g->cond);
  g_free (g->ring);
  g_aligned_free (g->block);
  g_free (g);
}

void
ar_wavenet_gen_reset (ArWaveNetGen *g, guint64 seed)
{
  const ArWaveNet *wn;

  g_return_if_fail (g != NULL);
  wn = g->wn;
  for (int l = 0; l < wn->n_layers; l++)
    memset (g->ring[l], 0,
        sizeof (float) * 2 * wn->layers[l].dilation * wn->config.residual);
  /* the taps on the zero history before the start */
  for (int k = 0; k < 2; k++)
    memset (g->past[k], 0,
        sizeof (float) * wn->n_layers * (gsize) wn->config.gate);
  memset (g->skip, 0, sizeof (float) * wn->config.skip);
  ar_rng_init (&g->rng, seed);
  g->t = 0;
  g->deemph = 0.0f;
  ar_highpass_reset (&g->highpass);
  g->prev = wn->config.quantization / 2;
  /* generation starts from one silence sample (x_0 = Q/2); teacher forcing
   * starts with its own x_0 instead */
  g->pending = wn->config.quantization / 2;
  g->prime = TRUE;
  g->retry_at = 0;
  g->failures = 0;
}

void
ar_wavenet_gen_set_temperature (ArWaveNetGen *g, float temperature)
{
  g_return_if_fail (g != NULL);
  g_return_if_fail (temperature >= 0.0f && isfinite (temperature));
  g->temperature = temperature;
}

gboolean
ar_wavenet_gen_set_global_class (ArWaveNetGen *g, int cls, GError **error)
{
  int K;

  g_return_val_if_fail (g != NULL, FALSE);
  K = g->wn->config.global_classes;
  if (cls < -1 || cls >= K) {
    if (K == 0)
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "global class %d: the model has no global condition (expected -1)",
          cls);
    else
      g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
          "global class %d; expected -1 (none) or 0 to %d", cls, K - 1);
    return FALSE;
  }
  g->global_class = cls;
  gen_update_bias (g);
  return TRUE;
}

void
ar_wavenet_gen_set_threadpool (ArWaveNetGen *g, ArThreadPool *pool)
{
  g_return_if_fail (g != NULL);
  g->pool = pool;
}

/* ---- one step, possibly shared by two threads ------------------------- */

enum
{
  JOB_SINGLE,   /* the first thread runs alone */
  JOB_WAITING,  /* a second thread has arrived */
  JOB_SPLIT,    /* both run from step `start` */
  JOB_FINISHED, /* the job is over */
};

/* A run of iterations: teacher forcing (@feed: iteration k feeds x_k and
 * writes its logits) or generation (iteration k feeds the pending class,
 * then draws the next one from the logits), optionally with mel
 * conditioning.  Lives on the caller's stack for one call. */
typedef struct
{
  ArWaveNetGen *g;
  const guint8 *feed; /* (n) inputs, or NULL to generate */
  float *feed_logits; /* (n, Q) with @feed */
  guint8 *out;        /* (n) generated classes */
  gsize n;            /* iterations */
  /* feed: a drawn class to feed before feed[0] (logits not kept), or -1;
   * generate: the class iteration 0 feeds, or -1 to draw from the logits
   * at hand */
  int first;
  /* mel conditioning: p_{l,f} (n_layers, G) of frame f at
   * frames + (f % frame_slots) · n_layers · G */
  const float *frames;
  gsize frame_slots;
  int hop;

  gboolean pooled; /* run by ar_threadpool_run (): a second thread may come */

  alignas (64) atomic_int arrived;
  atomic_int state;
  /* the hand-over to split mode, written before state = JOB_SPLIT */
  gsize start;
  int prev, pending;
  ArRng rng;
  gboolean leave; /* written by thread 0 before each split step's last
                   * barrier: both return to one thread after it */
  /* the two threads' barrier counters, on cache lines of their own, with
   * the chain's count of the layers it has published (split steps only)
   * and the side's of the layers it has waited for */
  alignas (64) _Atomic guint64 epoch0;
  _Atomic guint64 published;
  atomic_int sleep0; /* thread 0 sleeps in a barrier */
  alignas (64) _Atomic guint64 epoch1;
  guint64 awaited;
  atomic_int sleep1; /* thread 1 sleeps in a barrier or for a layer */
  alignas (64) char end;
} Job;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* How long a thread polls at a barrier before it sleeps: a step's share of
 * work between two barriers takes microseconds, so the partner normally
 * arrives within that; polling longer only burns a core that another
 * process on a busy machine could use (and under valgrind, which runs one
 * thread at a time, it would never end). */
#define BARRIER_SPIN_US 50

/* Waits until *@counter >= @e: polls for BARRIER_SPIN_US, then sleeps on
 * the job's condition variable with *@my_sleep set.  The flag and the
 * counter are written then read in sequentially consistent order by the
 * two threads (the waker stores the counter, then reads the flag), so at
 * least one of them sees the other's store: the waker signals or the
 * sleeper does not sleep. */
static void
wait_for (Job *job, _Atomic guint64 *counter, guint64 e, atomic_int *my_sleep)
{
  gint64 until = 0;
  guint spins = 0;

  while (atomic_load_explicit (counter, memory_order_acquire) < e) {
    cpu_relax ();
    if (++spins % 256 != 0)
      continue;
    if (until == 0) {
      until = g_get_monotonic_time () + BARRIER_SPIN_US;
    } else if (g_get_monotonic_time () > until) {
      g_mutex_lock (&job->g->lock);
      atomic_store (my_sleep, 1);
      while (atomic_load (counter) < e)
        g_cond_wait (&job->g->cond, &job->g->lock);
      atomic_store (my_sleep, 0);
      g_mutex_unlock (&job->g->lock);
      return;
    }
  }
}

/* *@counter = @e, waking the other thread if it sleeps (see wait_for ()). */
static void
signal_to (Job *job, _Atomic guint64 *counter, guint64 e,
    atomic_int *other_sleep)
{
  atomic_store (counter, e);
  if (atomic_load (other_sleep)) {
    g_mutex_lock (&job->g->lock);
    g_cond_broadcast (&job->g->cond);
    g_mutex_unlock (&job->g->lock);
  }
}

/* Waits until the other thread has passed as many barriers as this one:
 * each thread counts its barriers on a cache line of its own, so a
 * barrier costs one line transfer each way. */
static void
barrier (Job *job, int role, int parts)
{
  _Atomic guint64 *mine, *other;
  guint64 e;

  if (parts == 1)
    return;
  mine = role == 0 ? &job->epoch0 : &job->epoch1;
  other = role == 0 ? &job->epoch1 : &job->epoch0;
  e = atomic_load_explicit (mine, memory_order_relaxed) + 1;
  signal_to (job, mine, e, role == 0 ? &job->sleep1 : &job->sleep0);
  wait_for (job, other, e, role == 0 ? &job->sleep0 : &job->sleep1);
}

/* The chain of a two-thread step has finished a layer: its gate output and
 * the next layer's input are written (the side waits for it in
 * await_layer ()).  One store, no waiting. */
static inline void
publish_layer (Job *job)
{
  signal_to (job, &job->published,
      atomic_load_explicit (&job->published, memory_order_relaxed) + 1,
      &job->sleep1);
}

/* The side of a two-thread step: waits for the chain's next layer. */
static inline void
await_layer (Job *job)
{
  wait_for (job, &job->published, ++job->awaited, &job->sleep1);
}

/* y (rows) = rows [r0, r0 + rows) of the packed matrix @W (rows of @cols)
 * · x + b (rows) [+ y] */
static inline void
product_into (const ArWaveNetGen *g, float *y, gconstpointer W, int r0,
    int rows, const float *x, const float *b, int cols, gboolean acc)
{
  if (rows <= 0)
    return;
  if (g->wn->f16)
    g->k->matvec_f16 (y, (const guint16 *) W + (gsize) r0 * cols, x, b, rows,
        cols, acc);
  else
    g->k->matvec (y, (const float *) W + (gsize) r0 * cols, x, b, rows, cols,
        acc);
}

/* Rows [r0, r0 + rows) of y = W x + b [+ y], y and b indexed as W's rows. */
static inline void
product (const ArWaveNetGen *g, float *y, gconstpointer W, int r0, int rows,
    const float *x, const float *b, int cols, gboolean acc)
{
  if (rows > 0)
    product_into (g, y + r0, W, r0, rows, x, b + r0, cols, acc);
}

/* The tap of layer @l at step t + 1, W_past h_{t+1−d}, into @next
 * (n_layers, G). */
static inline void
next_tap (ArWaveNetGen *g, float *next, guint64 t, int l)
{
  const ArWaveNet *wn = g->wn;
  int R = wn->config.residual, G = wn->config.gate;
  guint64 d = wn->layers[l].dilation, mask = 2 * d - 1;

  product_into (g, next + (gsize) l * G, wn->gen[l].past, 0, G,
      g->ring[l] + ((t + 1 - d) & mask) * R, g->zeros, R, FALSE);
}

/* One step at time @t: input @x (after @prev) through every layer to the
 * logits of x_{t+1} in @logits, computed by thread @role of @parts, each
 * doing the work of its Part.  @p0, @p1 (n_layers, G): the mel projections
 * of the frames around sample t + 1, mixed with weight @a, or NULL.  With
 * two threads the caller passes a barrier before anyone reads @logits.
 *
 * How two threads share a step.  A barrier costs about 300 ns on the
 * 2-core VM this was measured on (a cache line each way between the
 * cores), and with the threads meeting after every layer's gate (the
 * previous design: each thread half the gate units and half the skip rows)
 * the barriers and the waits for the slower of the two took a third of a
 * two-thread step.  So the threads do not share the layers' critical path;
 * they share out the work that is not on it:
 *   - the chain (thread 0) runs the dependent part of each layer: the conv's
 *     tap on h_t, the gate, the residual, then publishes the layer (one
 *     store, no waiting) and computes skip rows [S1, S);
 *   - the side (thread 1) waits for each published layer, computes skip
 *     rows [0, S1), and prepares the *next* step's tap on h_{t+1−d} of the
 *     following layer — an input known now, since d ≥ 1 —, and keeps the
 *     input queue (it computes h⁰_t itself, as the chain does);
 *   - so the chain never waits inside a step, the side trails it by about
 *     a layer, and S1 evens out their multiply-adds (side_skip_rows ());
 *   - out1 is the sum of two column halves' products (the two threads' skip
 *     rows), each thread computing its own half's product without
 *     waiting, then, after a barrier, o = p₀ + p₁ + b — on one thread too,
 *     so the sums are the same —; out2's rows are split, and a last barrier
 *     (the caller's) precedes the sampling.
 * Two barriers a step.  Each value is computed by the same kernel call on
 * the same inputs with one thread or two (the taps are separate products
 * on one thread too, a step ahead), so the samples do not depend on the
 * split.  What is shared: the chain writes u_l, the queues of layers 1 …
 * and reads the taps; the side writes the taps of the next step (the
 * other parity of past[]) and the input queue; each writes its own skip
 * rows; the end-of-step barriers order one step's reads before the next
 * step's writes. */
static void
gen_step (ArWaveNetGen *g, Job *job, Part *p, int role, int parts, int x,
    int prev, guint64 t, const float *p0, const float *p1, float a,
    float *logits)
{
  const ArWaveNet *wn = g->wn;
  const ArWaveNetConfig *c = &wn->config;
  int R = c->residual, G = c->gate, H = wn->half, S = c->skip, O = c->output;
  int Q = c->quantization, L = wn->n_layers, S1 = wn->out1_split;
  float *past = g->past[t & 1], *next = g->past[(t + 1) & 1];
  float *h = g->h;
  const float *w0 = wn->input_w + (gsize) prev * R;
  const float *w1 = wn->input_w + ((gsize) Q + x) * R;

  if (p->side) {
    /* first the next step's taps on queue rows of earlier steps (d > 1),
     * which need nothing of this step: meanwhile the chain gets ahead, so
     * the side rarely waits for a layer below */
    for (int l = 1; l < L; l++)
      if (wn->layers[l].dilation > 1)
        next_tap (g, next, t, l);
    /* h⁰_t (the same sums as forward_full) into the input queue, and the
     * next step's tap of layer 0 */
    guint64 d = wn->layers[0].dilation, mask = 2 * d - 1;
    float *h0 = g->ring[0] + (t & mask) * R;

    for (int i = 0; i < R; i++)
      h0[i] = w0[i] + w1[i] + wn->input_b[i];
    next_tap (g, next, t, 0);
  }
  if (p->chain) {
    for (int i = 0; i < R; i++)
      h[i] = w0[i] + w1[i] + wn->input_b[i];
    /* the taps the side made in the last step, lines in the other core's
     * cache: fetched now, for writing, not one miss at a time in the
     * products */
    if (parts > 1)
      for (gsize i = 0; i < (gsize) L * G; i += 16)
        __builtin_prefetch (past + i, 1, 3);
  }

  for (int l = 0; l < L; l++) {
    const GenLayer *gl = &wn->gen[l];
    float *u = g->u + (gsize) l * g->ustride;

    if (p->chain) {
      const float *bias = g->bias + (gsize) l * G;
      float *z = past + (gsize) l * G;

      /* the gate bias: conv bias, global column, mel */
      if (p0 != NULL) {
        const float *c0 = p0 + (gsize) l * G, *c1 = p1 + (gsize) l * G;

        for (int j = 0; j < G; j++)
          p->zb[j] = bias[j] + ((1.0f - a) * c0[j] + a * c1[j]);
        bias = p->zb;
      }
      /* z = W_past h_{t−d} (made in the last step) + W_cur h_t + bias */
      product_into (g, z, gl->cur, 0, G, h, bias, R, TRUE);
      g->k->gate (u, z, z + H, H);
      if (l + 1 < L) {
        /* h += Wr u + br (rows S … S + R − 1 of the stacked matrix), the
         * next layer's input, into its queue */
        guint64 d = wn->layers[l + 1].dilation, mask = 2 * d - 1;

        product_into (g, h, gl->sr, S, R, u, gl->sr_b + S, H, TRUE);
        memcpy (g->ring[l + 1] + (t & mask) * R, h, R * sizeof (float));
      }
      if (parts > 1)
        publish_layer (job);
    } else {
      await_layer (job);
    }
    /* skip (own rows) += Ws u + bs, set in layer 0 */
    product (g, g->skip, gl->sr, p->s0, p->s1 - p->s0, u, gl->sr_b, H, l > 0);
    if (p->side && l + 1 < L && wn->layers[l + 1].dilation == 1)
      /* the next step's tap of layer l + 1 on h_t, which the chain has
       * just queued */
      next_tap (g, next, t, l + 1);
  }

  /* logits = Wo2 · relu (Wo1 · relu (skip) + bo1) + bo2, Wo1 · relu (skip)
   * as the sum of its two column halves' products */
  for (int i = p->s0; i < p->s1; i++)
    p->relu_s[i] = MAX (g->skip[i], 0.0f);
  for (int k = p->half0; k < p->half1; k++) {
    int cols = k ? S - S1 : S1;

    if (cols > 0)
      product (g, g->o[k], wn->gen_out1[k], 0, O, p->relu_s + (k ? S1 : 0),
          g->zeros, cols, FALSE);
    else
      memset (g->o[k], 0, O * sizeof (float));
  }
  barrier (job, role, parts);
  for (int i = 0; i < O; i++)
    p->relu_o[i] = MAX (g->o[0][i] + g->o[1][i] + wn->out1_b[i], 0.0f);
  product (g, logits, wn->gen_out2, p->q0, p->q1 - p->q0, p->relu_o, wn->out2_b,
      O, FALSE);
  /* the last barrier, after which both threads read the logits, is
   * job_loop's */
}

/* When two threads pay.  They share out every layer's work, the side
 * waiting for each of the chain's layers: on a quiet machine a step takes
 * well under the time of one thread's, on a busy one the second thread is
 * often descheduled and the first waits for it at the end of every step,
 * which can make a step many times slower than on one thread.  Since the samples do not depend on the split (rows
 * are computed the same way by either thread), thread 0 measures both
 * modes, in windows of POLICY_WINDOW steps (the first after a switch is
 * discarded: the caches are still filling), and leaves split mode when it
 * is slower in two windows in a row — at once, without waiting for the
 * window's end, when it is more than twice as slow —, inviting the second thread
 * again POLICY_RETRY steps later, twice as late after each failure in a row
 * (up to 64 times); a split run re-measures one thread every POLICY_REFRESH
 * steps, as the load changes.  The cost: a clock read every 8 steps in the
 * first window of a split run, one per window after that; 2 windows in
 * POLICY_REFRESH steps spent on one thread while two would have paid.
 * POLICY_RETRY is short because on a shared host a split run is mostly
 * left for a hiccup (the partner descheduled for a millisecond), not for
 * lasting load: with 4096 the reference shape spent 1-95 % of a
 * second's steps on one thread, with 512 1-40 % (39 runs each; the speed
 * gain, a mean of 1.92× real time against 1.86×, is smaller than the
 * host's swings).  A retry that fails costs about
 * three windows, and the backoff reaches 32768 steps, so under lasting
 * load two threads still run at one thread's speed (measured with a
 * busy-loop beside the benchmark: 1.31× real time, one thread 1.23-1.31×). */
#define POLICY_WINDOW 64
#define POLICY_RETRY 512
#define POLICY_REFRESH 8192

typedef struct
{
  gsize k0;      /* the window's first iteration */
  gint64 t0;     /* its start (µs) */
  gboolean warm; /* the first window after a switch */
} Window;

static void
window_start (Window *w, gsize k)
{
  w->k0 = k;
  w->t0 = g_get_monotonic_time ();
  w->warm = TRUE;
}

/* Closes the window at iteration @k if it is full: TRUE with *@us the µs
 * per step of a measured (not warm-up) window. */
static gboolean
window_done (Window *w, gsize k, double *us)
{
  gint64 now;
  gboolean warm;

  if (k - w->k0 < POLICY_WINDOW)
    return FALSE;
  now = g_get_monotonic_time ();
  *us = (double) (now - w->t0) / (double) (k - w->k0);
  warm = w->warm;
  w->k0 = k;
  w->t0 = now;
  w->warm = FALSE;
  return !warm;
}

/* Iterations [k0, n) of @job as thread @role, starting with @parts threads,
 * from input history @prev, the class to feed @pending (or -1) and sampler
 * state @rng.  Thread 0 switches between one and two threads at step
 * boundaries (see POLICY_WINDOW); thread 1 returns FALSE when it is sent
 * away, TRUE at the end of the job. */
static gboolean
job_loop (Job *job, int role, int parts, gsize k0, int prev, int pending,
    ArRng rng)
{
  ArWaveNetGen *g = job->g;
  const ArWaveNetConfig *c = &g->wn->config;
  int Q = c->quantization, n_layers = g->wn->n_layers;
  Part *p = parts == 1 ? &g->single : &g->split[role];
  ArSamplingParams params = AR_SAMPLING_PARAMS_INIT;
  int pre = job->feed && job->first >= 0 ? 1 : 0;
  /* the time of iteration k's step: with nothing to feed first, generate's
   * iteration 0 has no step */
  guint64 t0 = g->t - (!job->feed && job->first < 0 ? 1 : 0);
  Window win;

  params.temperature = g->temperature;
  if (role == 0 && job->pooled && g->always_split) {
    /* the tests' mode: the second thread's first step too.  Bounded — a
     * pool whose worker could not start runs the tasks one after the
     * other */
    gint64 until = g_get_monotonic_time () + 200000;

    while (atomic_load (&job->state) != JOB_WAITING &&
        g_get_monotonic_time () < until)
      g_usleep (20);
  }
  window_start (&win, k0);
  for (gsize k = k0; k < job->n + pre; k++) {
    guint64 t = t0 + k;
    int x = -1;
    float *logits = g->logits;
    double us;

    if (role == 0 && parts == 1) {
      if (window_done (&win, k, &us))
        g->us_single = g->us_single > 0 ? 0.5 * (g->us_single + us) : us;
      if ((g->always_split || (g->us_single > 0 && t >= g->retry_at)) &&
          atomic_load_explicit (&job->state, memory_order_acquire) ==
              JOB_WAITING) {
        /* a second thread waits: both take iterations k … from here on */
        job->start = k;
        job->prev = prev;
        job->pending = pending;
        job->rng = rng;
        g_mutex_lock (&g->lock);
        atomic_store (&job->state, JOB_SPLIT);
        g_cond_broadcast (&g->cond);
        g_mutex_unlock (&g->lock);
        parts = MAX_PARTS;
        p = &g->split[0];
        window_start (&win, k);
      }
    }

    if (job->feed) {
      if (k >= (gsize) pre) {
        x = job->feed[k - pre];
        logits = job->feed_logits + (k - pre) * Q;
      } else {
        x = job->first;
      }
    } else {
      x = pending;
    }
    if (x >= 0) {
      const float *p0 = NULL, *p1 = NULL;
      float a = 0.0f;

      if (job->frames) {
        /* the frames around sample t + 1, the one being predicted */
        guint64 pos = t + 1, f = pos / job->hop;
        gsize fsize = (gsize) n_layers * c->gate;

        p0 = job->frames + (f % job->frame_slots) * fsize;
        p1 = job->frames + ((f + 1) % job->frame_slots) * fsize;
        a = (float) (pos % job->hop) / (float) job->hop;
      }
      gen_step (g, job, p, role, parts, x, prev, t, p0, p1, a, logits);
      prev = x;
      if (parts > 1) {
        if (role == 0) {
          gboolean leave = FALSE;

          gsize done = k + 1 - win.k0;

          g->split_steps++;
          g->since_single++;
          if (window_done (&win, k + 1, &us)) {
            g->us_split = us;
            /* two losing windows in a row: one can be an interrupt */
            g->losing = us > g->us_single ? g->losing + 1 : 0;
            if (g->losing >= 2) {
              leave = TRUE;
            } else if (g->losing == 0) {
              g->failures = 0;
              if (g->since_single >= POLICY_REFRESH) {
                leave = TRUE;
                g->retry_at = t + 1 + 2 * POLICY_WINDOW;
              }
            }
          } else if (done % 8 == 0 &&
              g_get_monotonic_time () - win.t0 > 2.0 * g->us_single * done) {
            /* far slower than one thread (the other thread keeps being
             * descheduled): no need to wait for the window's end */
            leave = TRUE;
          }
          if (g->always_split)
            leave = FALSE;
          if (leave && g->retry_at <= t + 1) {
            /* a failure: wait longer after each one in a row */
            g->retry_at =
                t + 1 + ((guint64) POLICY_RETRY << MIN (g->failures, 6));
            g->failures++;
          }
          if (leave) {
            g->since_single = 0;
            g->losing = 0;
            atomic_store (&job->state, JOB_SINGLE);
          }
          job->leave = leave;
        }
        barrier (job, role, parts);
        if (job->leave) {
          if (role == 1)
            return FALSE;
          parts = 1;
          p = &g->single;
          window_start (&win, k + 1);
        }
      }
    }
    if (!job->feed) {
      /* every thread draws the same class from the same logits; thread 0
       * keeps it */
      pending = (int) ar_sampler_sample (p->sampler, &params, &rng, logits);
      if (role == 0)
        job->out[k] = (guint8) pending;
    }
  }

  if (role == 0) {
    int expected = JOB_SINGLE;

    /* release a second thread that waits, or arrives too late to help */
    if (!atomic_compare_exchange_strong (&job->state, &expected,
            JOB_FINISHED)) {
      g_mutex_lock (&g->lock);
      atomic_store (&job->state, JOB_FINISHED);
      g_cond_broadcast (&g->cond);
      g_mutex_unlock (&g->lock);
    }
    if (job->feed) {
      /* the next generate () draws from the last distribution */
      memcpy (g->logits, job->feed_logits + (job->n - 1) * Q,
          Q * sizeof (float));
      g->t += job->n + pre;
      g->pending = -1;
    } else {
      g->t += job->n - (job->first < 0 ? 1 : 0);
      g->pending = pending;
    }
    g->prime = FALSE;
    g->prev = prev;
    g->rng = rng;
  }
  return TRUE;
}

/* Thread 1 between split runs: polls the job's state for BARRIER_SPIN_US,
 * then sleeps until thread 0 invites it or finishes. */
static int
wait_for_invitation (Job *job)
{
  ArWaveNetGen *g = job->g;
  gint64 until = g_get_monotonic_time () + BARRIER_SPIN_US;
  guint spins = 0;
  int state;

  while ((state = atomic_load_explicit (&job->state, memory_order_acquire)) ==
      JOB_WAITING) {
    cpu_relax ();
    if (++spins % 256 == 0 && g_get_monotonic_time () > until) {
      g_mutex_lock (&g->lock);
      while ((state = atomic_load (&job->state)) == JOB_WAITING)
        g_cond_wait (&g->cond, &g->lock);
      g_mutex_unlock (&g->lock);
      break;
    }
  }
  return state;
}

/* A pool task: the first to arrive leads, a second waits to be invited at a
 * step boundary (or finds the job finished), any other returns.  So the job
 * completes whether or not the pool's worker ever runs, and the results
 * never depend on whether it did (ar-wavenet-private.h). */
static void
job_task (gpointer data, guint task)
{
  Job *job = data;
  int role = atomic_fetch_add (&job->arrived, 1);

  (void) task;
  if (role == 0) {
    job_loop (job, 0, 1, 0, job->g->prev, job->g->pending, job->g->rng);
    return;
  }
  if (role != 1)
    return;
  for (;;) {
    int expected = JOB_SINGLE;

    /* thread 0 sets JOB_SINGLE when it sends this thread away, and
     * JOB_FINISHED at the end */
    if (!atomic_compare_exchange_strong (&job->state, &expected, JOB_WAITING))
      return;
    if (wait_for_invitation (job) != JOB_SPLIT)
      return;
    if (job_loop (job, 1, MAX_PARTS, job->start, job->prev, job->pending,
            job->rng))
      return;
  }
}

static void
job_init (Job *job, ArWaveNetGen *g)
{
  memset (job, 0, sizeof *job);
  job->g = g;
  atomic_init (&job->arrived, 0);
  atomic_init (&job->state, JOB_SINGLE);
  atomic_init (&job->epoch0, 0);
  atomic_init (&job->epoch1, 0);
  atomic_init (&job->published, 0);
  atomic_init (&job->sleep0, 0);
  atomic_init (&job->sleep1, 0);
}

static void
job_run (Job *job)
{
  ArWaveNetGen *g = job->g;

  if (g->pool != NULL && ar_threadpool_get_n_threads (g->pool) >= 2 &&
      job->n >= MIN_SPLIT_STEPS) {
    job->pooled = TRUE;
    ar_threadpool_run (g->pool, MAX_PARTS, job_task, job);
  } else {
    job_loop (job, 0, 1, 0, g->prev, g->pending, g->rng);
  }
}

void
ar_wavenet_gen_generate (ArWaveNetGen *g, guint8 *out, gsize n)
{
  Job job;

  g_return_if_fail (g != NULL);
  g_return_if_fail (out != NULL || n == 0);
  g_return_if_fail (g->wn->config.cond_channels == 0);
  if (n == 0)
    return;
  job_init (&job, g);
  job.out = out;
  job.n = n;
  /* each sample is fed when the next is asked for: the last one drawn
   * stays pending */
  job.first = g->pending;
  job_run (&job);
}

void
ar_wavenet_gen_feed (ArWaveNetGen *g, const guint8 *x, gsize n, float *logits)
{
  Job job;

  g_return_if_fail (g != NULL);
  g_return_if_fail (x != NULL || n == 0);
  g_return_if_fail (logits != NULL || n == 0);
  g_return_if_fail (g->wn->config.cond_channels == 0);
  if (n == 0)
    return;
  job_init (&job, g);
  job.feed = x;
  job.feed_logits = logits;
  job.n = n;
  /* a drawn sample is history; the silence prime of an empty one is not */
  job.first = g->prime ? -1 : g->pending;
  job_run (&job);
}

void
ar_wavenet_gen_decode (ArWaveNetGen *g, const guint8 *classes, float *out,
    gsize n)
{
  float alpha;

  g_return_if_fail (g != NULL);
  g_return_if_fail ((classes != NULL && out != NULL) || n == 0);
  alpha = g->wn->config.pre_emphasis;
  for (gsize i = 0; i < n; i++)
    out[i] = ar_mulaw_decode (classes[i]);
  if (ar_wavenet_decode_is_stateless (g->wn))
    return;
  /* the states keep the exact inverse of the training's filter and the
   * high-pass's unclipped input; only what leaves is clipped (a
   * de-emphasised peak can exceed full scale: the filter's gain at 0 Hz is
   * 1 / (1 − α)) */
  if (alpha != 0.0f)
    ar_audio_de_emphasize (out, n, alpha, &g->deemph);
  if (g->wn->config.highpass > 0.0f)
    ar_highpass_run (&g->highpass, out, n);
  for (gsize i = 0; i < n; i++)
    out[i] = CLAMP (out[i], -1.0f, 1.0f);
}

gboolean
ar_wavenet_decode_is_stateless (const ArWaveNet *wn)
{
  g_return_val_if_fail (wn != NULL, TRUE);
  return wn->config.pre_emphasis == 0.0f && wn->config.highpass == 0.0f;
}

/* ---- the vocoder stream ----------------------------------------------- */

/* Outputs generated per job: bounds the frames a job needs at once (its
 * ring of projected frames) and lets pull () return in pieces. */
#define VOCODER_CHUNK 1024

/* Timeline.  Input samples s_0, s_1, … are analysed into mel frames m_k
 * (ar-mel.h framing: m_k centred on s_{k·hop}, needing s up to
 * k·hop + n_fft/2 − 1), the cond conv makes e_k from m_{k−1}, m_k, m_{k+1}
 * (m_{−1} at the log floor), each layer projects e_k to p_{l,k}.  The
 * network's sequence is the output itself: y_0 is the silence class (the
 * history before the first sample), and y_i for i ≥ 1 is drawn from the
 * logits of step i − 1, conditioned on the frames around sample i —
 * exactly the training alignment (ar_wavenet_forward_full over y with the
 * mel frames of s).  Output i (ar_wavenet_gen_decode of y_0 … y_i) is the
 * resynthesis of s_i.  It needs p_{f+1}, f = i / hop, hence m_{f+2},
 * hence s up to i + 2·hop + n_fft/2 − 1 at worst: the latency is
 * D = 2·hop + n_fft/2 − 1 samples (output i is released once s_{i+D} has
 * been pushed).  Drain appends D zeros (silence), and the signal counts as
 * zeros from then on, so every pushed sample gets its output. */
struct _ArWaveNetVocoder
{
  ArWaveNet *wn;
  ArWaveNetGen *gen;
  const ArMel *mel;
  int hop, n_fft, n_mels, cc, latency;
  gsize fsize; /* n_layers · G, one projected frame */

  /* input s[in_base …], in (in_len) of capacity in_cap */
  float *in;
  gsize in_len, in_cap;
  guint64 in_base;
  guint64 pushed;   /* input samples pushed */
  gboolean drained; /* zeros from s_pushed on */

  guint64 next_m; /* the next mel frame to analyse */
  guint64 next_p; /* the next frame to project (e, p) */
  float *m3;      /* (3, n_mels) m_k at row k % 3 */
  float *pframes; /* (p_slots, n_layers, G) p_{·,k} at slot k % p_slots */
  gsize p_slots;
  float *frame;    /* (n_fft) */
  float *scratch;  /* ar_mel_scratch_size () */
  float *cin;      /* (3 · n_mels) [m_{k−1}; m_k; m_{k+1}] */
  float *e;        /* (Cc) */
  guint8 *classes; /* (VOCODER_CHUNK) */

  guint64 emitted; /* outputs pulled */
};

ArWaveNetVocoder *
ar_wavenet_vocoder_new (ArWaveNet *wn, GError **error)
{
  ArWaveNetVocoder *v;
  const ArMelParams *mp;

  g_return_val_if_fail (wn != NULL, NULL);
  if (wn->config.cond_channels == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_INVALID,
        "the model has no mel conditioning (wavenet.cond_channels = 0): "
        "not a vocoder");
    return NULL;
  }
  mp = &wn->config.mel;
  v = g_new0 (ArWaveNetVocoder, 1);
  v->wn = ar_wavenet_ref (wn);
  v->gen = ar_wavenet_gen_new (wn);
  v->mel = wn->mel;
  v->hop = mp->hop;
  v->n_fft = mp->n_fft;
  v->n_mels = mp->n_mels;
  v->cc = wn->config.cond_channels;
  v->latency = 2 * mp->hop + mp->n_fft / 2 - 1;
  v->fsize = (gsize) wn->n_layers * wn->config.gate;
  /* a job's outputs i0 … i0 + CHUNK − 1 use frames i0 / hop … (i0 + CHUNK
   * − 1) / hop + 1 */
  v->p_slots = VOCODER_CHUNK / mp->hop + 3;
  v->in_cap = (gsize) 2 * mp->n_fft + VOCODER_CHUNK;
  v->in = g_new (float, v->in_cap);
  v->m3 = g_new (float, 3 * (gsize) mp->n_mels);
  v->pframes = g_new (float, v->p_slots * v->fsize);
  v->frame = g_new (float, mp->n_fft);
  v->scratch = g_new (float, ar_mel_scratch_size (v->mel));
  v->cin = g_new (float, 3 * (gsize) mp->n_mels);
  v->e = g_new (float, v->cc);
  v->classes = g_new (guint8, VOCODER_CHUNK);
  ar_wavenet_vocoder_reset (v, 0);
  return v;
}

void
ar_wavenet_vocoder_free (ArWaveNetVocoder *v)
{
  if (v == NULL)
    return;
  ar_wavenet_gen_free (v->gen);
  ar_wavenet_unref (v->wn);
  g_free (v->in);
  g_free (v->m3);
  g_free (v->pframes);
  g_free (v->frame);
  g_free (v->scratch);
  g_free (v->cin);
  g_free (v->e);
  g_free (v->classes);
  g_free (v);
}

void
ar_wavenet_vocoder_reset (ArWaveNetVocoder *v, guint64 seed)
{
  g_return_if_fail (v != NULL);
  ar_wavenet_gen_reset (v->gen, seed);
  v->in_len = 0;
  v->in_base = 0;
  v->pushed = 0;
  v->drained = FALSE;
  v->next_m = 0;
  v->next_p = 0;
  v->emitted = 0;
}

void
ar_wavenet_vocoder_set_temperature (ArWaveNetVocoder *v, float temperature)
{
  g_return_if_fail (v != NULL);
  ar_wavenet_gen_set_temperature (v->gen, temperature);
}

gboolean
ar_wavenet_vocoder_set_global_class (ArWaveNetVocoder *v, int cls,
    GError **error)
{
  g_return_val_if_fail (v != NULL, FALSE);
  return ar_wavenet_gen_set_global_class (v->gen, cls, error);
}

void
ar_wavenet_vocoder_set_threadpool (ArWaveNetVocoder *v, ArThreadPool *pool)
{
  g_return_if_fail (v != NULL);
  ar_wavenet_gen_set_threadpool (v->gen, pool);
}

gsize
ar_wavenet_vocoder_latency (const ArWaveNetVocoder *v)
{
  g_return_val_if_fail (v != NULL, 0);
  return v->latency;
}

void
ar_wavenet_vocoder_push (ArWaveNetVocoder *v, const float *in, gsize n)
{
  g_return_if_fail (v != NULL);
  g_return_if_fail (in != NULL || n == 0);
  g_return_if_fail (!v->drained);
  /* in may be NULL then, and memcpy must not see it */
  if (n == 0)
    return;
  if (v->in_len + n > v->in_cap) {
    /* grows only while the caller pushes more than it pulls */
    v->in_cap = MAX (2 * v->in_cap, v->in_len + n);
    v->in = g_renew (float, v->in, v->in_cap);
  }
  memcpy (v->in + v->in_len, in, n * sizeof (float));
  v->in_len += n;
  v->pushed += n;
}

void
ar_wavenet_vocoder_drain (ArWaveNetVocoder *v)
{
  g_return_if_fail (v != NULL);
  v->drained = TRUE;
}

gsize
ar_wavenet_vocoder_available (const ArWaveNetVocoder *v)
{
  guint64 ready;

  g_return_val_if_fail (v != NULL, 0);
  ready = v->drained                     ? v->pushed
      : v->pushed > (guint64) v->latency ? v->pushed - v->latency
                                         : 0;
  return (gsize) (ready - v->emitted);
}

/* Sample j of the input (zero before the start and after a drain). */
static inline float
input_at (const ArWaveNetVocoder *v, gint64 j)
{
  if (j < 0 || (guint64) j >= v->pushed)
    return 0.0f;
  return v->in[(guint64) j - v->in_base];
}

/* Analyses m_{next_m}: its samples are all pushed (or drained) by the
 * caller's check. */
static void
vocoder_mel_frame (ArWaveNetVocoder *v)
{
  gint64 start = (gint64) (v->next_m * v->hop) - v->n_fft / 2;
  guint64 keep;

  for (int i = 0; i < v->n_fft; i++)
    v->frame[i] = input_at (v, start + i);
  ar_mel_frame (v->mel, v->frame, v->m3 + (v->next_m % 3) * v->n_mels,
      v->scratch);
  v->next_m++;
  /* drop the input no later frame reads */
  keep = v->next_m * v->hop > (guint64) v->n_fft / 2
      ? MIN (v->next_m * v->hop - v->n_fft / 2, v->pushed)
      : 0;
  if (keep > v->in_base + v->in_cap / 2) {
    gsize drop = (gsize) (keep - v->in_base);

    memmove (v->in, v->in + drop, (v->in_len - drop) * sizeof (float));
    v->in_len -= drop;
    v->in_base = keep;
  }
}

/* e_k = tanh (Wc · [m_{k−1}; m_k; m_{k+1}] + bc) and p_{l,k} = Wcl_l · e_k
 * for k = next_p (m_{k+1} analysed), the same sums as forward_full. */
static void
vocoder_project (ArWaveNetVocoder *v)
{
  const ArWaveNet *wn = v->wn;
  int M = v->n_mels, G = wn->config.gate, Cc = v->cc;
  guint64 k = v->next_p;
  float floor_v = logf (wn->config.mel.log_floor);
  float *pk = v->pframes + (k % v->p_slots) * v->fsize;

  for (int j = 0; j < 3; j++) {
    if (k + j == 0) {
      for (int i = 0; i < M; i++)
        v->cin[i] = floor_v;
    } else {
      memcpy (v->cin + j * M, v->m3 + ((k + j - 1) % 3) * M,
          M * sizeof (float));
    }
  }
  for (int o = 0; o < Cc; o++) {
    const float *w = wn->cond_w + (gsize) o * 3 * M;
    float s = wn->cond_b[o];

    for (int i = 0; i < 3 * M; i++)
      s += w[i] * v->cin[i];
    v->e[o] = tanhf (s);
  }
  for (int l = 0; l < wn->n_layers; l++)
    gemm_nt (pk + (gsize) l * G, v->e, wn->layers[l].cond_w, 1, G, Cc);
  v->next_p++;
}

/* Projects frames up to @last (inclusive). */
static void
vocoder_frames_until (ArWaveNetVocoder *v, guint64 last)
{
  while (v->next_p <= last) {
    while (v->next_m <= v->next_p + 1)
      vocoder_mel_frame (v);
    vocoder_project (v);
  }
}

gsize
ar_wavenet_vocoder_pull (ArWaveNetVocoder *v, float *out, gsize max)
{
  gsize n, done = 0;

  g_return_val_if_fail (v != NULL, 0);
  g_return_val_if_fail (out != NULL || max == 0, 0);
  n = MIN (max, ar_wavenet_vocoder_available (v));
  if (n > 0 && v->emitted == 0) {
    /* y_0: the silence the history starts from */
    guint8 y0 = (guint8) (v->wn->config.quantization / 2);

    ar_wavenet_gen_decode (v->gen, &y0, out, 1);
    done++;
    v->emitted++;
  }
  while (done < n) {
    gsize chunk = MIN (n - done, VOCODER_CHUNK);
    guint64 i0 = v->emitted, i1 = i0 + chunk - 1;
    Job job;

    vocoder_frames_until (v, i1 / v->hop + 1);
    job_init (&job, v->gen);
    job.out = v->classes;
    job.n = chunk;
    job.first = v->gen->pending;
    job.frames = v->pframes;
    job.frame_slots = v->p_slots;
    job.hop = v->hop;
    job_run (&job);
    ar_wavenet_gen_decode (v->gen, v->classes, out + done, chunk);
    done += chunk;
    v->emitted += chunk;
  }
  return done;
}

void
ar_wavenet_gen_feed_mel (ArWaveNetGen *g, const guint8 *x, gsize n,
    const float *mel, gsize n_frames, float *logits)
{
  const ArWaveNet *wn;
  int G, Cc;
  gsize fsize;
  float *E, *P;
  Job job;

  g_return_if_fail (g != NULL);
  wn = g->wn;
  G = wn->config.gate;
  Cc = wn->config.cond_channels;
  fsize = (gsize) wn->n_layers * G;
  g_return_if_fail (Cc > 0 && mel != NULL);
  g_return_if_fail (g->t == 0 && g->prime);
  g_return_if_fail (n_frames >= n / wn->config.mel.hop + 2);
  if (n == 0)
    return;
  /* the vocoder's frame-rate products, for every frame at once */
  E = g_new (float, n_frames *Cc);
  P = g_new (float, n_frames *fsize);
  cond_frames (wn, mel, n_frames, E);
  for (gsize f = 0; f < n_frames; f++)
    for (int l = 0; l < wn->n_layers; l++)
      gemm_nt (P + f * fsize + (gsize) l * G, E + f * Cc, wn->layers[l].cond_w,
          1, G, Cc);
  job_init (&job, g);
  job.feed = x;
  job.feed_logits = logits;
  job.n = n;
  job.first = -1;
  job.frames = P;
  job.frame_slots = n_frames;
  job.hop = wn->config.mel.hop;
  job_run (&job);
  g_free (E);
  g_free (P);
}

ArWaveNetGen *
ar_wavenet_vocoder_get_gen (ArWaveNetVocoder *v)
{
  g_return_val_if_fail (v != NULL, NULL);
  return v->gen;
}

void
ar_wavenet_gen_set_always_split (ArWaveNetGen *g, gboolean always)
{
  g_return_if_fail (g != NULL);
  g->always_split = always;
}

guint64
ar_wavenet_gen_get_split_steps (const ArWaveNetGen *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->split_steps;
}
