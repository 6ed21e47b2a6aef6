/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text-filter.c — turns a stream of raw token bytes into final, valid
 * UTF-8 output, honouring a stop string.
 *
 * Two stages.  The first decodes UTF-8: bytes of a sequence that may still
 * complete are held back; a byte that cannot start or continue a valid
 * sequence becomes U+FFFD.  The second looks for the stop string in the valid
 * text: it holds back the longest tail that is a prefix of the stop string
 * (that text may yet turn out to be the stop string), and when the whole stop
 * string appears, everything before it is output and the stream stops.  A
 * byte-level model can thus never emit half a character, and a stop string
 * never leaks out partially. */
#include "ar-text.h"

#include <string.h>

struct _ArTextFilter
{
  GString *raw;                 /* undecoded bytes: at most an incomplete sequence */
  GString *text;                /* valid UTF-8 not yet output (a stop-string prefix) */
  char *stop;                   /* NULL: none */
  gsize stop_len;
  gboolean stopped;
};

ArTextFilter *
ar_text_filter_new (void)
{
  ArTextFilter *f = g_new0 (ArTextFilter, 1);
  f->raw = g_string_sized_new (8);
  f->text = g_string_sized_new (64);
  return f;
}

void
ar_text_filter_free (ArTextFilter *f)
{
  if (f == NULL)
    return;
  g_string_free (f->raw, TRUE);
  g_string_free (f->text, TRUE);
  g_free (f->stop);
  g_free (f);
}

void
ar_text_filter_reset (ArTextFilter *f)
{
  g_string_truncate (f->raw, 0);
  g_string_truncate (f->text, 0);
  f->stopped = FALSE;
}

void
ar_text_filter_set_stop (ArTextFilter *f, const char *stop)
{
  g_return_if_fail (stop == NULL || g_utf8_validate (stop, -1, NULL));
  g_free (f->stop);
  f->stop = (stop && *stop) ? g_strdup (stop) : NULL;
  f->stop_len = f->stop ? strlen (f->stop) : 0;
}

#define REPLACEMENT "\xef\xbf\xbd"  /* U+FFFD */

/* Length of the UTF-8 sequence a lead byte starts; 0 if it cannot start one. */
static guint
utf8_sequence_length (guchar lead)
{
  if (lead < 0x80)
    return 1;
  if ((lead & 0xe0) == 0xc0)
    return 2;
  if ((lead & 0xf0) == 0xe0)
    return 3;
  if ((lead & 0xf8) == 0xf0)
    return 4;
  return 0;
}

/* Stage 1: move every decodable character from raw to text; keep a trailing
 * sequence that may still complete when @final is FALSE.  NUL bytes, stray
 * continuation bytes, overlong forms and surrogates become U+FFFD, one per
 * offending byte. */
static void
decode_raw (ArTextFilter *f, gboolean final)
{
  const char *p = f->raw->str, *end = p + f->raw->len;
  while (p < end) {
    guint need = utf8_sequence_length ((guchar) * p);
    gsize have = end - p;
    if (need > 1 && have < need && !final) {
      gsize i;
      for (i = 1; i < have; i++)
        if (((guchar) p[i] & 0xc0) != 0x80)
          break;
      if (i == have)
        break;                  /* a valid prefix so far: wait for more bytes */
    }
    gunichar c = (need == 0 || have < need) ? (gunichar) - 1
        : g_utf8_get_char_validated (p, need);
    if (c == (gunichar) - 1 || c == (gunichar) - 2 || c == 0) {
      g_string_append (f->text, REPLACEMENT);
      p++;
      continue;
    }
    g_string_append_len (f->text, p, need);
    p += need;
  }
  g_string_erase (f->raw, 0, p - f->raw->str);
}

/* Stage 2: output what cannot be part of the stop string. */
static gboolean
release_text (ArTextFilter *f, GString *out)
{
  if (f->stop == NULL) {
    g_string_append_len (out, f->text->str, f->text->len);
    g_string_truncate (f->text, 0);
    return FALSE;
  }
  const char *hit = g_strstr_len (f->text->str, f->text->len, f->stop);
  if (hit) {
    g_string_append_len (out, f->text->str, hit - f->text->str);
    g_string_truncate (f->text, 0);
    g_string_truncate (f->raw, 0);
    f->stopped = TRUE;
    return TRUE;
  }
  /* longest k < stop_len with text ending in stop[0..k) */
  gsize keep = MIN (f->text->len, f->stop_len - 1);
  for (; keep > 0; keep--)
    if (memcmp (f->text->str + f->text->len - keep, f->stop, keep) == 0)
      break;
  gsize emit = f->text->len - keep;
  g_string_append_len (out, f->text->str, emit);
  g_string_erase (f->text, 0, emit);
  return FALSE;
}

gboolean
ar_text_filter_push (ArTextFilter *f, const char *bytes, gsize len, GString *out)
{
  if (f->stopped)
    return TRUE;
  g_string_append_len (f->raw, bytes, len);
  decode_raw (f, FALSE);
  return release_text (f, out);
}

void
ar_text_filter_finish (ArTextFilter *f, GString *out)
{
  if (f->stopped)
    return;
  decode_raw (f, TRUE);
  g_string_append_len (out, f->text->str, f->text->len);
  g_string_truncate (f->text, 0);
}
