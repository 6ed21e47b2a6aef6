/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-workspaces.c — scratch spaces claimed and released by tasks
 * (ar-workspaces.h).  A handful of spaces at most (one per thread), so a
 * linear search under one mutex is all it takes. */
#include "ar-workspaces.h"

struct _ArWorkspaces
{
  GMutex lock;
  GPtrArray *spaces;  /* every space made */
  GArray *busy;       /* (gboolean) held by a task, per space */
  ArWorkspaceMake make;
  GDestroyNotify destroy;
  gpointer user_data;
};

ArWorkspaces *
ar_workspaces_new (ArWorkspaceMake make, GDestroyNotify destroy,
    gpointer user_data)
{
  ArWorkspaces *ws;

  g_return_val_if_fail (make != NULL && destroy != NULL, NULL);
  ws = g_new0 (ArWorkspaces, 1);
  g_mutex_init (&ws->lock);
  ws->spaces = g_ptr_array_new ();
  ws->busy = g_array_new (FALSE, FALSE, sizeof (gboolean));
  ws->make = make;
  ws->destroy = destroy;
  ws->user_data = user_data;
  return ws;
}

void
ar_workspaces_free (ArWorkspaces *ws)
{
  if (ws == NULL)
    return;
  for (guint i = 0; i < ws->spaces->len; i++) {
    g_warn_if_fail (!g_array_index (ws->busy, gboolean, i));
    ws->destroy (g_ptr_array_index (ws->spaces, i));
  }
  g_ptr_array_unref (ws->spaces);
  g_array_unref (ws->busy);
  g_mutex_clear (&ws->lock);
  g_free (ws);
}

gpointer
ar_workspaces_claim (ArWorkspaces *ws)
{
  gpointer w = NULL;
  gboolean held = TRUE;

  g_return_val_if_fail (ws != NULL, NULL);
  g_mutex_lock (&ws->lock);
  for (guint i = 0; i < ws->spaces->len && w == NULL; i++)
    if (!g_array_index (ws->busy, gboolean, i)) {
      g_array_index (ws->busy, gboolean, i) = TRUE;
      w = g_ptr_array_index (ws->spaces, i);
    }
  if (w == NULL) {
    /* made under the lock: rare (once per thread), and it keeps the list
     * and the flags in step */
    w = ws->make (ws->user_data);
    g_ptr_array_add (ws->spaces, w);
    g_array_append_val (ws->busy, held);
  }
  g_mutex_unlock (&ws->lock);
  return w;
}

void
ar_workspaces_release (ArWorkspaces *ws, gpointer w)
{
  guint i;

  g_return_if_fail (ws != NULL && w != NULL);
  g_mutex_lock (&ws->lock);
  for (i = 0; i < ws->spaces->len; i++)
    if (g_ptr_array_index (ws->spaces, i) == w)
      break;
  if (i < ws->spaces->len) {
    g_warn_if_fail (g_array_index (ws->busy, gboolean, i));
    g_array_index (ws->busy, gboolean, i) = FALSE;
  }
  g_mutex_unlock (&ws->lock);
  g_return_if_fail (i < ws->spaces->len);
}

guint
ar_workspaces_get_n_made (ArWorkspaces *ws)
{
  guint n;

  g_return_val_if_fail (ws != NULL, 0);
  g_mutex_lock (&ws->lock);
  n = ws->spaces->len;
  g_mutex_unlock (&ws->lock);
  return n;
}
