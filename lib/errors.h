/* Status reporting inside the library: every failure goes through fail() so the caller always gets both a
 * status and a sentence saying what was wrong (attn_last_error). */
#ifndef ATTN_ERRORS_H
#define ATTN_ERRORS_H

#include "attnagent/attnagent.h"

/* Records a printf-style message as this thread's last error and returns `status`, so call sites read
 * `return fail(ATTN_ERR_SIZE, "obs_bytes is %zu, expected %zu", got, want);`. */
attn_status fail(attn_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns ATTN_ERR_NULL with a message naming `what` when `p` is NULL, else ATTN_OK. */
attn_status check_not_null(const void *p, const char *what);

#endif
