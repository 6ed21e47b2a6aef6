/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-common.h — what every libFuzzer target of tests/fuzz/ shares: the
 * entry points' prototypes, an initialiser that makes GLib criticals and
 * warnings fatal (a g_return_if_fail reached from file data is a crash),
 * CHECK, which aborts with the failed condition, and the random numbers of
 * the structure-aware mutators.  Define FUZZ_NAME (the
 * target's name, for messages) before including it, in one file per
 * target. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz-common.h"
#endif

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      g_printerr (FUZZ_NAME ": check failed: %s (line %d)\n", #cond,           \
          __LINE__);                                                           \
      abort ();                                                                \
    }                                                                          \
  } while (0)

/* The next of a custom mutator's random numbers from *@state (splitmix64):
 * the mutation is a pure function of the seed libFuzzer passes. */
static inline guint64
next_rand (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
