/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ar-workspaces.h — scratch spaces that the tasks of a thread pool claim
 * and give back.
 *
 * A trainer or sampler whose tasks (ar_threadpool_run) each need a large
 * scratch space — activations, gradients of a micro-batch, an image's
 * queues — keeps one per task running at once, not one per task: a task
 * claims a free space when it starts and releases it when it ends.  A space
 * is made (by the owner's @make) the first time every existing one is in
 * use, so there are as many as tasks ever ran at the same time — the pool's
 * threads — and they are freed together.  What a task computes must not
 * depend on which space it gets: a space carries no result from one task to
 * the next.
 *
 *   ArWorkspaces *ws = ar_workspaces_new (work_new, work_free, owner);
 *   Work *w = ar_workspaces_claim (ws);   // in a task
 *   …
 *   ar_workspaces_release (ws, w);
 *
 * Claim and release may be called from any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ArWorkspaces ArWorkspaces;

/* Makes one space for @user_data (the owner given to ar_workspaces_new). */
typedef gpointer (*ArWorkspaceMake) (gpointer user_data);

ArWorkspaces *ar_workspaces_new (ArWorkspaceMake make, GDestroyNotify destroy,
    gpointer user_data);
/* Frees every space made (none may be claimed). */
void ar_workspaces_free (ArWorkspaces *ws);
/* A space no other task holds, made when every existing one is held. */
gpointer ar_workspaces_claim (ArWorkspaces *ws);
/* Gives back @w, a space claimed from @ws. */
void ar_workspaces_release (ArWorkspaces *ws, gpointer w);
/* How many spaces have been made. */
guint ar_workspaces_get_n_made (ArWorkspaces *ws);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArWorkspaces, ar_workspaces_free)

G_END_DECLS
