#define _POSIX_C_SOURCE 200809L
#include "metrics_trim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of the line's "frames" key, or -1 when it has none (attn-train writes `"frames": N`). */
static int64_t line_frames(const char *line)
{
    const char *key = strstr(line, "\"frames\":");
    if (!key) return -1;
    char *end;
    errno = 0;
    const long long v = strtoll(key + strlen("\"frames\":"), &end, 10);
    return errno || end == key + strlen("\"frames\":") ? -1 : (int64_t)v;
}

int metrics_trim(const char *path, int64_t frames, int *dropped, char *err, size_t err_size)
{
    *dropped = 0;
    FILE *in = fopen(path, "r");
    if (!in) {
        if (errno == ENOENT) return 0;
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    /* First pass: is there anything to drop? Most resumes start from the last update logged. */
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) != -1)
        if (line_frames(line) > frames) (*dropped)++;
    if (*dropped == 0 || ferror(in)) {
        const int bad = ferror(in);
        free(line);
        fclose(in);
        if (bad) snprintf(err, err_size, "cannot read %s", path);
        return bad ? -1 : 0;
    }
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.trim", path) >= (int)sizeof tmp) {
        free(line);
        fclose(in);
        snprintf(err, err_size, "path too long: %s", path);
        return -1;
    }
    FILE *out = fopen(tmp, "w");
    int rc = out ? 0 : -1;
    rewind(in);
    while (!rc && getline(&line, &cap, in) != -1)
        if (line_frames(line) <= frames && fputs(line, out) == EOF) rc = -1;
    if (ferror(in)) rc = -1;
    if (out && fclose(out)) rc = -1;
    if (!rc && rename(tmp, path)) rc = -1;
    if (rc) {
        snprintf(err, err_size, "cannot rewrite %s: %s", path, strerror(errno));
        if (out) remove(tmp);
    }
    free(line);
    fclose(in);
    return rc;
}
