/* What the checkpoint fuzz targets and their seed generator share: the small network every seed is saved from
 * and every training-checkpoint input is loaded into, a tiny host environment with save/load callbacks, and the
 * scratch file an input is written to (the public loaders read from a path). */
#ifndef ATTN_FUZZ_COMMON_H
#define ATTN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

/* The seeds' network: minatar-shaped but 5×5 and narrow, so a whole checkpoint is a few KiB and a fuzz input
 * can still reach the end of a valid file. One thread, so no worker pool is started per input. */
#define FUZZ_OBS 5
#define FUZZ_CHANNELS 2
#define FUZZ_ACTIONS 3
#define FUZZ_BATCH 2
#define FUZZ_UNROLL 2
#define FUZZ_ENV_BYTES 8 /* one environment's saved state: its step counter, little-endian uint64 */

attn_status fuzz_small_config(attn_config **out);

/* B toy environments with an 8-byte state; load refuses any other length, as a real host would. */
typedef struct fuzz_world {
    uint64_t t[FUZZ_BATCH];
} fuzz_world;
attn_env fuzz_env(fuzz_world *w);

/* Writes the input to this process's scratch file and returns its path; aborts if the file system refuses
 * (that is the harness's failure, not the library's). */
const char *fuzz_input_file(const uint8_t *data, size_t size);

#endif
