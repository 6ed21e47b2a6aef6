/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* argen-info.c — `argen info FILE.gguf`: what a model file holds.
 *
 * Prints the file's name, size and architecture, every metadata key with its
 * value (long arrays summarised by ar_gguf_format_value()), a table of the
 * tensors (name, storage type, shape with ne[0] first, as in the file) and
 * the totals: parameters and bytes of tensor data.  The file is validated
 * completely on the way in, so `argen info` is also the way to check a file:
 * a malformed one gets the reader's message and exit status 1. */
#include <stdio.h>
#include <string.h>

#include "argen.h"
#include "core/ar-gguf.h"

/* Widest name column before names are allowed to push the next column. */
#define MAX_NAME_COLUMN 40

static char *
format_shape (const ArGgufTensor *t)
{
  GString *s = g_string_new ("[");

  for (guint d = 0; d < t->n_dims; d++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, d ? ", " : "", t->ne[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* "1234567 (1.23 M)": the exact count and a readable one. */
static char *
format_count (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " (%.2f G)", n, n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " (%.2f M)", n, n / 1e6);
  if (n >= 1000)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " (%.1f k)", n, n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
print_info (const ArGguf *g)
{
  const char *arch = NULL;
  g_autofree char *size =
      g_format_size_full (ar_gguf_get_size (g), G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *params = NULL;
  g_autofree char *data_size = NULL;
  guint n_kv = ar_gguf_get_n_kv (g), n_tensors = ar_gguf_get_n_tensors (g);
  int key_width = 0, name_width = (int) strlen ("name");
  guint64 n_params = 0, n_bytes = 0;

  if (!ar_gguf_get_string (g, "general.architecture", &arch, NULL))
    arch = NULL;
  printf ("%s: %" G_GSIZE_FORMAT " bytes%s%s%s, GGUF v%d, architecture %s\n",
      ar_gguf_get_name (g), ar_gguf_get_size (g),
      ar_gguf_get_size (g) >= 1024 ? " (" : "",
      ar_gguf_get_size (g) >= 1024 ? size : "",
      ar_gguf_get_size (g) >= 1024 ? ")" : "", AR_GGUF_VERSION,
      arch ? arch : "(none)");

  for (guint i = 0; i < n_kv; i++)
    key_width = MAX (key_width, (int) strlen (ar_gguf_get_key (g, i)));
  key_width = MIN (key_width, MAX_NAME_COLUMN);
  printf ("\nmetadata (%u key%s):\n", n_kv, n_kv == 1 ? "" : "s");
  for (guint i = 0; i < n_kv; i++) {
    g_autofree char *value = ar_gguf_format_value (g, i);

    printf ("  %-*s = %s\n", key_width, ar_gguf_get_key (g, i), value);
  }

  for (guint i = 0; i < n_tensors; i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);

    name_width = MAX (name_width, (int) strlen (t->name));
    n_params += t->n_elements;
    n_bytes += t->nbytes;
  }
  name_width = MIN (name_width, MAX_NAME_COLUMN);
  printf ("\ntensors (%u):\n", n_tensors);
  if (n_tensors > 0)
    printf ("  %-*s  %-5s shape (ne[0] first)\n", name_width, "name", "type");
  for (guint i = 0; i < n_tensors; i++) {
    const ArGgufTensor *t = ar_gguf_get_tensor (g, i);
    g_autofree char *shape = format_shape (t);

    printf ("  %-*s  %-5s %s\n", name_width, t->name,
        ar_tensor_type_name (t->type), shape);
  }

  params = format_count (n_params);
  data_size = g_format_size_full (n_bytes, G_FORMAT_SIZE_IEC_UNITS);
  printf ("\nparameters: %s\n", params);
  printf ("tensor data: %" G_GUINT64_FORMAT " bytes%s%s%s\n", n_bytes,
      n_bytes >= 1024 ? " (" : "", n_bytes >= 1024 ? data_size : "",
      n_bytes >= 1024 ? ")" : "");
}

int
argen_cmd_info (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("FILE.gguf — show a model file's metadata and "
                            "tensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (ArGguf) gguf = NULL;

  g_option_context_set_summary (ctx,
      "Validates the file completely, then "
      "prints its metadata keys and values, its tensors (name, type, shape) "
      "and the parameter count.");
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "argen info: %s\n", error->message);
    return 2;
  }
  if (argc != 2) {
    fprintf (stderr, "usage: argen info FILE.gguf\n");
    return 2;
  }

  if (!(gguf = ar_gguf_new_from_file (argv[1], &error))) {
    fprintf (stderr, "argen info: %s\n", error->message);
    return 1;
  }
  print_info (gguf);
  return 0;
}
