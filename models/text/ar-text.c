/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-text.c — loaded text models of any family, and generation streams.
 *
 * The model file's general.architecture picks the family from a small table;
 * the family loads its weights, the vocabulary comes from the file's
 * tokenizer keys, and the two are checked against each other.  A stream
 * (ArTextGen) is one family state, a sampler, an RNG and an output filter: it
 * is what the elements and `argen` drive, identically for every family. */
#include "ar-text.h"
#include "rnn/ar-rnn.h"
#include "transformer/ar-transformer.h"

#include <string.h>

static const ArTextFamily *const families[] = {
  &ar_rnn_text_family,
  &ar_transformer_llama_family,
  &ar_transformer_gpt_family,
};

struct _ArTextModel
{
  gint ref_count;
  ArGguf *gguf;                 /* the weights may point into its mapping */
  ArVocab *vocab;
  const ArTextFamily *family;
  gpointer impl;
};

ArTextModel *
ar_text_model_new_from_gguf (ArGguf *gguf, GError **error)
{
  const char *arch;
  const char *name = ar_gguf_get_name (gguf);
  if (!ar_gguf_get_string (gguf, "general.architecture", &arch, error))
    return NULL;
  const ArTextFamily *family = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if (strcmp (families[i]->architecture, arch) == 0)
      family = families[i];
  if (family == NULL) {
    GString *known = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (families); i++)
      g_string_append_printf (known, "%s\"%s\"", i ? ", " : "", families[i]->architecture);
    g_set_error (error, AR_ERROR, AR_ERROR_UNSUPPORTED,
        "%s: architecture \"%s\" is not a text model this build can run (text architectures: %s)",
        name, arch, known->str);
    g_string_free (known, TRUE);
    return NULL;
  }

  g_autoptr (ArVocab) vocab = ar_vocab_new_from_gguf (gguf, error);
  if (vocab == NULL)
    return NULL;
  gpointer impl = family->load (gguf, error);
  if (impl == NULL)
    return NULL;
  if (family->n_vocab (impl) != ar_vocab_get_size (vocab)) {
    g_set_error (error, AR_ERROR, AR_ERROR_MODEL,
        "%s: the model predicts %u tokens but the vocabulary has %u",
        name, family->n_vocab (impl), ar_vocab_get_size (vocab));
    family->free (impl);
    return NULL;
  }

  ArTextModel *m = g_new0 (ArTextModel, 1);
  m->ref_count = 1;
  m->gguf = ar_gguf_ref (gguf);
  m->vocab = g_steal_pointer (&vocab);
  m->family = family;
  m->impl = impl;
  return m;
}

ArTextModel *
ar_text_model_new_from_file (const char *path, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_file (path, error);
  return gguf ? ar_text_model_new_from_gguf (gguf, error) : NULL;
}

ArTextModel *
ar_text_model_new_from_bytes (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr (ArGguf) gguf = ar_gguf_new_from_bytes (bytes, name, error);
  return gguf ? ar_text_model_new_from_gguf (gguf, error) : NULL;
}

ArTextModel *
ar_text_model_ref (ArTextModel *m)
{
  g_atomic_int_inc (&m->ref_count);
  return m;
}

void
ar_text_model_unref (ArTextModel *m)
{
  if (m == NULL || !g_atomic_int_dec_and_test (&m->ref_count))
    return;
  m->family->free (m->impl);
  ar_vocab_free (m->vocab);
  ar_gguf_unref (m->gguf);
  g_free (m);
}

const char *
ar_text_model_get_name (const ArTextModel *m)
{
  return ar_gguf_get_name (m->gguf);
}

const char *
ar_text_model_get_architecture (const ArTextModel *m)
{
  return m->family->architecture;
}

const ArVocab *
ar_text_model_get_vocab (const ArTextModel *m)
{
  return m->vocab;
}

const ArTextFamily *
ar_text_model_get_family (const ArTextModel *m)
{
  return m->family;
}

gconstpointer
ar_text_model_get_impl (const ArTextModel *m)
{
  return m->impl;
}

/* ---- streams --------------------------------------------------------- */

struct _ArTextGen
{
  ArTextModel *model;
  gpointer state;
  ArSampler *sampler;
  ArSamplingParams params;
  ArRng rng;
  ArTextFilter *filter;
  const float *logits;          /* (n_vocab) for the next token; into state or `uniform` */
  float *uniform;               /* (n_vocab) zeros: the start when there is no BOS or prompt */
  guint last_token;
  gint prev_token;              /* the last token fed to the model, -1 none */
  guint64 n_tokens;
  GArray *ids;                  /* gint32 scratch for prompts */
};

ArTextGen *
ar_text_gen_new (ArTextModel *model)
{
  guint n_vocab = ar_vocab_get_size (model->vocab);
  ArTextGen *gen = g_new0 (ArTextGen, 1);
  gen->model = ar_text_model_ref (model);
  gen->state = model->family->state_new (model->impl);
  gen->sampler = ar_sampler_new (n_vocab);
  gen->params = (ArSamplingParams) AR_SAMPLING_PARAMS_INIT;
  gen->filter = ar_text_filter_new ();
  gen->uniform = g_new0 (float, n_vocab);
  gen->ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  ar_text_gen_reset (gen, 0);
  return gen;
}

void
ar_text_gen_free (ArTextGen *gen)
{
  if (gen == NULL)
    return;
  gen->model->family->state_free (gen->state);
  ar_sampler_free (gen->sampler);
  ar_text_filter_free (gen->filter);
  g_free (gen->uniform);
  g_array_unref (gen->ids);
  ar_text_model_unref (gen->model);
  g_free (gen);
}

void
ar_text_gen_reset (ArTextGen *gen, guint64 seed)
{
  const ArTextFamily *fam = gen->model->family;
  fam->state_reset (gen->model->impl, gen->state);
  ar_rng_init (&gen->rng, seed);
  ar_text_filter_reset (gen->filter);
  gen->n_tokens = 0;
  gen->last_token = 0;
  gen->prev_token = -1;
  gen->logits = gen->uniform;
  gint bos = ar_vocab_get_bos (gen->model->vocab);
  if (bos >= 0) {
    gen->logits = fam->forward (gen->model->impl, gen->state, bos);
    gen->prev_token = bos;
  }
}

void
ar_text_gen_set_sampling (ArTextGen *gen, const ArSamplingParams *params)
{
  gen->params = *params;
}

void
ar_text_gen_set_stop (ArTextGen *gen, const char *stop)
{
  ar_text_filter_set_stop (gen->filter, stop);
}

guint
ar_text_gen_feed (ArTextGen *gen, const char *text, gssize len)
{
  const ArTextFamily *fam = gen->model->family;
  g_array_set_size (gen->ids, 0);
  guint unknown = ar_vocab_encode (gen->model->vocab, text, len, gen->ids);
  if (gen->ids->len > 0 && fam->forward_prompt)
    gen->logits = fam->forward_prompt (gen->model->impl, gen->state,
        (const gint32 *) gen->ids->data, gen->ids->len);
  else
    for (guint i = 0; i < gen->ids->len; i++)
      gen->logits = fam->forward (gen->model->impl, gen->state,
          g_array_index (gen->ids, gint32, i));
  if (gen->ids->len > 0)
    gen->prev_token = g_array_index (gen->ids, gint32, gen->ids->len - 1);
  return unknown;
}

gboolean
ar_text_gen_next (ArTextGen *gen, GString *out)
{
  guint token = ar_sampler_sample (gen->sampler, &gen->params, &gen->rng, gen->logits);
  gsize len;
  gen->last_token = token;
  gen->n_tokens++;
  /* EOS ends the stream: it has no text, and feeding it would only start
   * a new sequence the caller did not ask for */
  if ((gint) token == ar_vocab_get_eos (gen->model->vocab))
    return TRUE;
  const char *bytes = ar_vocab_decode (gen->model->vocab, gen->prev_token, token, &len);
  if (ar_text_filter_push (gen->filter, bytes, len, out))
    return TRUE;
  gen->logits = gen->model->family->forward (gen->model->impl, gen->state, token);
  gen->prev_token = token;
  return FALSE;
}

guint
ar_text_gen_last_token (const ArTextGen *gen)
{
  return gen->last_token;
}

void
ar_text_gen_finish (ArTextGen *gen, GString *out)
{
  ar_text_filter_finish (gen->filter, out);
}

guint64
ar_text_gen_get_n_tokens (const ArTextGen *gen)
{
  return gen->n_tokens;
}
