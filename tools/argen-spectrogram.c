/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-spectrogram.c — `argen spectrogram IN.wav OUT.png`: a labelled
 * magnitude spectrogram (the STFT of ar-mel.h, FFTW) drawn with cairo, so
 * people can look at what they generated: time in seconds across, frequency
 * in Hz up, level in dB relative to the loudest bin as colour (a colour bar
 * on the right), the file's name as title.  The file is read at its own rate
 * unless --rate is given. */
#include <cairo.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <string.h>

#include "argen.h"
#include "core/ar-error.h"
#include "data/ar-audio.h"
#include "data/ar-mel.h"

/* Margins of the plot area, in pixels. */
#define LEFT 80
#define RIGHT 110
#define TOP 40
#define BOTTOM 55
#define BAR_WIDTH 18
/* Cairo image surfaces are at most 32767 pixels a side: longer files have
 * their frames pooled (the maximum of each group) down to this many, and
 * the n_fft / 2 + 1 bins are rows of the image, so n_fft is at most
 * MAX_N_FFT. */
#define MAX_COLUMNS 8192
#define MAX_N_FFT 32768

/* A dark-to-bright colour map (black, purple, red, orange, pale yellow),
 * monotonic in lightness so levels read the same in grey. */
static void
colour (double v, double *r, double *g, double *b)
{
  static const double stops[][3] = {
    { 0.00, 0.00, 0.02 },
    { 0.23, 0.06, 0.44 },
    { 0.55, 0.16, 0.51 },
    { 0.87, 0.29, 0.41 },
    { 0.99, 0.62, 0.42 },
    { 0.99, 0.98, 0.75 },
  };
  const int n = G_N_ELEMENTS (stops) - 1;
  v = CLAMP (v, 0.0, 1.0) * n;
  int i = MIN ((int) v, n - 1);
  double f = v - i;
  *r = stops[i][0] + f * (stops[i + 1][0] - stops[i][0]);
  *g = stops[i][1] + f * (stops[i + 1][1] - stops[i][1]);
  *b = stops[i][2] + f * (stops[i + 1][2] - stops[i][2]);
}

/* A "nice" step (1, 2 or 5 × 10^k) covering @range in about @n steps. */
static double
nice_step (double range, int n)
{
  double raw = range / n, mag = pow (10, floor (log10 (raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void
text_at (cairo_t *cr, double x, double y, const char *s, double align_x,
    double align_y)
{
  cairo_text_extents_t e;
  cairo_text_extents (cr, s, &e);
  cairo_move_to (cr, x - e.x_bearing - align_x * e.width,
      y - e.y_bearing - align_y * e.height);
  cairo_show_text (cr, s);
}

/* The file's own sample rate. */
static int
native_rate (const char *path, GError **error)
{
  SF_INFO info = { 0 };
  SNDFILE *sf = sf_open (path, SFM_READ, &info);
  if (sf == NULL) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT,
        "%s: libsndfile cannot read it: %s", path, sf_strerror (NULL));
    return 0;
  }
  sf_close (sf);
  return info.samplerate;
}

typedef struct
{
  int n_fft, hop, width, height, rate;
  double range;
} Options;

static gboolean
draw (const char *in, const char *out, const Options *o, GError **error)
{
  int rate = o->rate ? o->rate : native_rate (in, error);
  if (rate == 0)
    return FALSE;
  g_autofree float *x = NULL;
  gsize n = 0;
  if (!ar_audio_read (in, rate, &x, &n, error))
    return FALSE;
  if (n == 0) {
    g_set_error (error, AR_ERROR, AR_ERROR_FORMAT, "%s: no samples to draw",
        in);
    return FALSE;
  }
  /* The mel part of the parameters is unused here (ar_mel_stft_magnitude
   * only frames and windows), but must be valid. */
  ArMelParams p = { rate, o->n_fft, o->n_fft, o->hop, 1, 0.0f, rate / 2.0f,
    1.0f, 1e-5f };
  g_autoptr (ArMel) mel = ar_mel_new (&p, error);
  if (mel == NULL)
    return FALSE;
  gsize nf = ar_mel_n_frames (mel, n), nb = o->n_fft / 2 + 1;
  g_autofree float *mag = g_new (float, nf *nb);
  ar_mel_stft_magnitude (mel, x, n, mag);

  /* Pool frames into at most MAX_COLUMNS columns; dB relative to the
   * loudest bin, clipped to the range. */
  gsize pool = (nf + MAX_COLUMNS - 1) / MAX_COLUMNS,
        cols = (nf + pool - 1) / pool;
  g_autofree float *db = g_new (float, cols *nb);
  float top = -INFINITY;
  for (gsize c = 0; c < cols; c++)
    for (gsize k = 0; k < nb; k++) {
      float m = 0;
      for (gsize t = c * pool; t < MIN (nf, (c + 1) * pool); t++)
        m = MAX (m, mag[t * nb + k]);
      db[c * nb + k] = 20.0f * log10f (MAX (m, 1e-10f));
      top = MAX (top, db[c * nb + k]);
    }

  /* The spectrogram as an image, one pixel per column and bin, low
   * frequencies at the bottom. */
  cairo_surface_t *img =
      cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) cols, (int) nb);
  unsigned char *pix = cairo_image_surface_get_data (img);
  int stride = cairo_image_surface_get_stride (img);
  cairo_surface_flush (img);
  for (gsize c = 0; c < cols; c++)
    for (gsize k = 0; k < nb; k++) {
      double r, g, b, v = 1.0 + (db[c * nb + k] - top) / o->range;
      colour (v, &r, &g, &b);
      guint32 *px = (guint32 *) (pix + (nb - 1 - k) * stride) + c;
      *px = (guint32) (r * 255) << 16 | (guint32) (g * 255) << 8 |
          (guint32) (b * 255);
    }
  cairo_surface_mark_dirty (img);

  cairo_surface_t *surf =
      cairo_image_surface_create (CAIRO_FORMAT_RGB24, o->width, o->height);
  cairo_t *cr = cairo_create (surf);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  double pw = o->width - LEFT - RIGHT, ph = o->height - TOP - BOTTOM;
  double duration = (double) n / rate, nyquist = rate / 2.0;

  /* Frame t is centred on sample t · hop, so column c (frames c · pool …)
   * covers [(c · pool - 1/2) hop, ((c + 1) pool - 1/2) hop) in samples; bin
   * k is centred on k · rate / n_fft Hz, so row k covers half a bin either
   * side of it.  The clip trims the half frames and bins outside. */
  cairo_save (cr);
  cairo_rectangle (cr, LEFT, TOP, pw, ph);
  cairo_clip (cr);
  double col_px = (double) pool * o->hop / rate / duration * pw,
         row_px = ph / (nb - 1.0);
  cairo_translate (cr, LEFT - 0.5 * o->hop / rate / duration * pw,
      TOP - 0.5 * row_px);
  cairo_scale (cr, col_px, row_px);
  cairo_set_source_surface (cr, img, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
  cairo_paint (cr);
  cairo_restore (cr);

  /* Frame and axes. */
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_line_width (cr, 1);
  cairo_rectangle (cr, LEFT + 0.5, TOP + 0.5, pw, ph);
  cairo_stroke (cr);
  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
      CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 12);
  char buf[64];
  double step = nice_step (duration, 8);
  for (double t = 0; t <= duration + 1e-9; t += step) {
    double px = LEFT + t / duration * pw;
    cairo_move_to (cr, px + 0.5, TOP + ph);
    cairo_line_to (cr, px + 0.5, TOP + ph + 5);
    cairo_stroke (cr);
    g_snprintf (buf, sizeof buf, "%g", t);
    text_at (cr, px, TOP + ph + 8, buf, 0.5, 0);
  }
  step = nice_step (nyquist, 8);
  for (double f = 0; f <= nyquist + 1e-9; f += step) {
    double py = TOP + ph - f / nyquist * ph;
    cairo_move_to (cr, LEFT - 5, py + 0.5);
    cairo_line_to (cr, LEFT, py + 0.5);
    cairo_stroke (cr);
    g_snprintf (buf, sizeof buf, "%g", f);
    text_at (cr, LEFT - 8, py, buf, 1, 0.5);
  }
  text_at (cr, LEFT + pw / 2, o->height - 18, "Time (s)", 0.5, 0);
  cairo_save (cr);
  cairo_translate (cr, 18, TOP + ph / 2);
  cairo_rotate (cr, -G_PI / 2);
  text_at (cr, 0, 0, "Frequency (Hz)", 0.5, 0);
  cairo_restore (cr);

  /* Colour bar: 0 dB (the loudest bin) at the top, -range at the bottom. */
  double bx = LEFT + pw + 20;
  for (int i = 0; i < (int) ph; i++) {
    double r, g, b;
    colour (1.0 - (double) i / ph, &r, &g, &b);
    cairo_set_source_rgb (cr, r, g, b);
    cairo_rectangle (cr, bx, TOP + i, BAR_WIDTH, 1);
    cairo_fill (cr);
  }
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_rectangle (cr, bx + 0.5, TOP + 0.5, BAR_WIDTH, ph);
  cairo_stroke (cr);
  step = nice_step (o->range, 8);
  for (double d = 0; d <= o->range + 1e-9; d += step) {
    double py = TOP + d / o->range * ph;
    cairo_move_to (cr, bx + BAR_WIDTH, py + 0.5);
    cairo_line_to (cr, bx + BAR_WIDTH + 4, py + 0.5);
    cairo_stroke (cr);
    g_snprintf (buf, sizeof buf, "%g", d > 0 ? -d : 0.0);
    text_at (cr, bx + BAR_WIDTH + 7, py, buf, 0, 0.5);
  }
  text_at (cr, bx + BAR_WIDTH / 2.0, TOP - 8, "dB", 0.5, 1);

  /* Title: the file's name and what the picture is. */
  g_autofree char *base = g_path_get_basename (in);
  g_autofree char *title = g_strdup_printf ("%s — %d Hz, n_fft %d, hop %d",
      base, rate, o->n_fft, o->hop);
  cairo_set_font_size (cr, 15);
  text_at (cr, LEFT + pw / 2, 12, title, 0.5, 0);

  cairo_destroy (cr);
  cairo_surface_destroy (img);
  cairo_status_t st = cairo_surface_write_to_png (surf, out);
  cairo_surface_destroy (surf);
  /* Cairo keeps the font faces it made (and their fontconfig patterns) for
   * the life of the process; give them back so leak checkers see none. */
  cairo_debug_reset_static_data ();
  if (st != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, AR_ERROR, AR_ERROR_IO, "%s: cannot write the PNG: %s",
        out, cairo_status_to_string (st));
    return FALSE;
  }
  return TRUE;
}

int
argen_cmd_spectrogram (int argc, char **argv)
{
  Options o = { 512, 0, 1000, 500, 0, 80.0 };
  GOptionEntry entries[] = {
    { "n-fft", 0, 0, G_OPTION_ARG_INT, &o.n_fft,
        "FFT size and Hann window length (even, 16 … 32768; default 512)",
        "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &o.hop,
        "Samples between frames (default n_fft / 4)", "N" },
    { "max-db-range", 0, 0, G_OPTION_ARG_DOUBLE, &o.range,
        "Levels shown below the loudest bin, in dB (default 80)", "DB" },
    { "width", 0, 0, G_OPTION_ARG_INT, &o.width,
        "Image width in pixels (default 1000)", "PX" },
    { "height", 0, 0, G_OPTION_ARG_INT, &o.height,
        "Image height in pixels (default 500)", "PX" },
    { "rate", 'r', 0, G_OPTION_ARG_INT, &o.rate,
        "Resample to this rate first (default: the file's own)", "HZ" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("IN.wav OUT.png — draw a labelled spectrogram");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen spectrogram: %s\n", error->message);
    g_error_free (error);
    return 2;
  }
  if (o.hop == 0)
    o.hop = o.n_fft / 4;
  if (argc != 3 || o.n_fft < 16 || o.n_fft > MAX_N_FFT || o.n_fft % 2 != 0 ||
      o.hop < 1 || o.hop > o.n_fft || !(o.range > 0 && o.range <= 300) ||
      o.width < LEFT + RIGHT + 50 || o.width > 16384 ||
      o.height < TOP + BOTTOM + 50 || o.height > 16384 || o.rate < 0) {
    fprintf (stderr,
        "argen spectrogram: usage: argen spectrogram IN.wav OUT.png "
        "[--n-fft N (even, 16…32768)] [--hop N (1…n_fft)] [--max-db-range DB] "
        "[--width PX] [--height PX] [--rate HZ]\n");
    return 2;
  }
  if (!draw (argv[1], argv[2], &o, &error)) {
    fprintf (stderr, "argen spectrogram: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  return 0;
}
