#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

/* Per thread, so concurrent callers never see each other's messages. */
static _Thread_local char last_error[512];

attn_status fail(attn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

attn_status check_not_null(const void *p, const char *what)
{
    return p ? ATTN_OK : fail(ATTN_ERR_NULL, "%s is NULL", what);
}

const char *attn_last_error(void) { return last_error; }

const char *attn_status_str(attn_status status)
{
    switch (status) {
    case ATTN_OK: return "ATTN_OK: success";
    case ATTN_ERR_NULL: return "ATTN_ERR_NULL: a required pointer was NULL";
    case ATTN_ERR_INVALID: return "ATTN_ERR_INVALID: an argument is out of range";
    case ATTN_ERR_SIZE: return "ATTN_ERR_SIZE: size mismatch or over the reserved maximum";
    case ATTN_ERR_NONFINITE: return "ATTN_ERR_NONFINITE: NaN or infinite input";
    case ATTN_ERR_NOMEM: return "ATTN_ERR_NOMEM: out of memory";
    case ATTN_ERR_STATE: return "ATTN_ERR_STATE: call out of order";
    case ATTN_ERR_IO: return "ATTN_ERR_IO: file input/output failed";
    case ATTN_ERR_FORMAT: return "ATTN_ERR_FORMAT: corrupt or mismatching file";
    case ATTN_ERR_CALLBACK: return "ATTN_ERR_CALLBACK: a host callback failed";
    case ATTN_ERR_ABORTED: return "ATTN_ERR_ABORTED: stopped at a callback's request";
    }
    return "unknown attn_status";
}

#define STR2(x) #x
#define STR(x) STR2(x)
unsigned attn_version_number(void) { return ATTN_VERSION_NUMBER; }
const char *attn_version_string(void)
{
    return STR(ATTN_VERSION_MAJOR) "." STR(ATTN_VERSION_MINOR) "." STR(ATTN_VERSION_PATCH);
}
