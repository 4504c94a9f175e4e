#ifndef ATTN_EXAMPLES_METRICS_TRIM_H
#define ATTN_EXAMPLES_METRICS_TRIM_H
/* A resumed run continues from its checkpoint, which may be older than the last lines of its metrics log (a run
 * killed between checkpoints logged updates the checkpoint never saw). Those lines would be logged again by the
 * resumed run, so the log would hold two histories of the same frames. */

#include <stddef.h>
#include <stdint.h>

/* Keeps the lines of the metrics log at `path` whose "frames" is at most `frames` (and any line without one),
 * replacing the file atomically (a temporary beside it, then rename); a missing file is fine. Returns 0, or -1
 * with a message in err. *dropped counts the lines removed. */
int metrics_trim(const char *path, int64_t frames, int *dropped, char *err, size_t err_size);

#endif
