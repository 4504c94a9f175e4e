#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "json.h"

/* Tensor bytes go between memory and file unchanged, and safetensors is little-endian. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libattnagent's safetensors code assumes a little-endian host"
#endif

#define METADATA_KEY "__metadata__"

struct st_file {
    unsigned char *data;  /* the data section: tensors point into it */
    size_t data_size;
    int mapped;           /* data is a read-only mapping of the file (munmap), else malloc'd */
    void *map;            /* the mapping (the whole file, from offset 0) */
    size_t map_size;
    json_doc *header;     /* owns the names and metadata strings */
    uint64_t *begin;      /* [n] where each tensor starts in the data section */
    st_tensor *tensors;   /* in header order */
    int n;
    const char **meta_keys;
    const char **meta_values;
    int n_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F32] = {"F32", 4}, [ST_F64] = {"F64", 8}, [ST_I32] = {"I32", 4}, [ST_I64] = {"I64", 8}, [ST_U8] = {"U8", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

size_t st_dtype_size(st_dtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < N_DTYPES ? dtypes[dtype].size : 0;
}

const char *st_dtype_name(st_dtype dtype)
{
    return (int)dtype >= 0 && (int)dtype < N_DTYPES ? dtypes[dtype].name : "?";
}

static const char *errno_text(int err, char *buf, size_t n)
{
    if (strerror_r(err, buf, n) != 0) snprintf(buf, n, "error %d", err);
    return buf;
}

const char *st_shape_text(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

/* Elements of a shape, or -1 when the product does not fit uint64 (a zero anywhere makes it 0 regardless). */
static int shape_numel(const int64_t *shape, int ndim, uint64_t *numel)
{
    uint64_t product = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0) {
            *numel = 0;
            return 0;
        }
        if (product > UINT64_MAX / d) overflow = 1;
        else product *= d;
    }
    *numel = product;
    return overflow ? -1 : 0;
}

/* Bytes of a tensor of this shape and dtype; -1 on overflow. */
static int shape_nbytes(const int64_t *shape, int ndim, st_dtype dtype, uint64_t *nbytes)
{
    uint64_t numel;
    if (shape_numel(shape, ndim, &numel) != 0) return -1;
    uint64_t size = st_dtype_size(dtype);
    if (numel > UINT64_MAX / size) return -1;
    *nbytes = numel * size;
    return 0;
}

/* ---- Reading ---------------------------------------------------------------------------------------------- */

typedef struct range {
    uint64_t begin, end;
    int index;
} range;

static int compare_ranges(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int is_nonnegative_int(const json_value *v) { return v && v->type == JSON_INT && v->integer >= 0; }

static attn_status parse_tensor(const char *origin, const json_value *entry, uint64_t data_size, st_tensor *t,
                                range *r)
{
    const char *name = entry->key;
    if (entry->type != JSON_OBJECT)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": entry is not an object", origin, name);
    for (const json_value *m = entry->child; m; m = m->next)
        if (strcmp(m->key, "dtype") != 0 && strcmp(m->key, "shape") != 0 && strcmp(m->key, "data_offsets") != 0)
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": unknown field \"%s\"", origin, name, m->key);

    const json_value *dtype = json_get(entry, "dtype");
    if (!dtype || dtype->type != JSON_STRING)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": \"dtype\" missing or not a string", origin, name);
    int dt = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype->string, dtypes[i].name) == 0) dt = i;
    if (dt < 0)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": unsupported dtype \"%s\" (F32, F64, I32, I64 or U8)", origin,
                    name, dtype->string);

    const json_value *shape = json_get(entry, "shape");
    if (!shape || shape->type != JSON_ARRAY)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": \"shape\" missing or not an array", origin, name);
    if (shape->count > ST_MAX_DIMS)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": %zu dimensions, at most %d supported", origin, name,
                    shape->count, ST_MAX_DIMS);
    int ndim = 0;
    for (const json_value *d = shape->child; d; d = d->next, ndim++) {
        if (!is_nonnegative_int(d))
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", origin, name,
                        ndim);
        t->shape[ndim] = d->integer;
    }

    const json_value *offsets = json_get(entry, "data_offsets");
    if (!offsets || offsets->type != JSON_ARRAY || offsets->count != 2 || !is_nonnegative_int(offsets->child) ||
        !is_nonnegative_int(offsets->child->next))
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end], non-negative integers",
                    origin, name);
    uint64_t begin = (uint64_t)offsets->child->integer, end = (uint64_t)offsets->child->next->integer;
    if (begin > end)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                    origin, name, begin, end);
    if (end > data_size)
        return fail(ATTN_ERR_FORMAT,
                    "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] run past the %" PRIu64
                    "-byte data section",
                    origin, name, begin, end, data_size);

    char text[160];
    uint64_t nbytes;
    if (shape_nbytes(t->shape, ndim, (st_dtype)dt, &nbytes) != 0)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\": shape %s is too large", origin, name,
                    st_shape_text(t->shape, ndim, text, sizeof text));
    if (nbytes != end - begin)
        return fail(ATTN_ERR_FORMAT,
                    "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                    " bytes but shape %s of %s needs %" PRIu64,
                    origin, name, begin, end, end - begin, st_shape_text(t->shape, ndim, text, sizeof text),
                    dtypes[dt].name, nbytes);

    t->name = name;
    t->dtype = (st_dtype)dt;
    t->ndim = ndim;
    t->nbytes = (size_t)nbytes; /* <= data_size, a size_t */
    r->begin = begin;
    r->end = end;
    return ATTN_OK;
}

static attn_status parse_metadata(st_file *f, const char *origin, const json_value *meta)
{
    if (meta->type != JSON_OBJECT) return fail(ATTN_ERR_FORMAT, "%s: \"%s\" is not an object", origin, METADATA_KEY);
    if (meta->count > (size_t)INT32_MAX)
        return fail(ATTN_ERR_FORMAT, "%s: %zu metadata entries are too many", origin, meta->count);
    f->meta_keys = malloc((meta->count ? meta->count : 1) * sizeof *f->meta_keys);
    f->meta_values = malloc((meta->count ? meta->count : 1) * sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return fail(ATTN_ERR_NOMEM, "%s: out of memory for metadata", origin);
    for (const json_value *m = meta->child; m; m = m->next) {
        if (m->type != JSON_STRING)
            return fail(ATTN_ERR_FORMAT, "%s: metadata \"%s\" is not a string", origin, m->key);
        f->meta_keys[f->n_meta] = m->key;
        f->meta_values[f->n_meta] = m->string;
        f->n_meta++;
    }
    return ATTN_OK;
}

/* The tensors must tile the data section: sorted by offset, each begins where the previous one ended, the first
 * at 0 and the last ending at the section's end. Anything else is an overlap, a gap or trailing bytes, all of
 * which mean the header and the data disagree. */
static attn_status check_coverage(const st_file *f, const char *origin, range *ranges, uint64_t data_size)
{
    qsort(ranges, (size_t)f->n, sizeof *ranges, compare_ranges);
    uint64_t covered = 0;
    for (int i = 0; i < f->n; i++) {
        const range *r = &ranges[i];
        if (r->begin < covered)
            return fail(ATTN_ERR_FORMAT,
                        "%s: tensors \"%s\" and \"%s\" overlap (byte ranges [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64
                        ", %" PRIu64 "))",
                        origin, f->tensors[ranges[i - 1].index].name, f->tensors[r->index].name, ranges[i - 1].begin,
                        ranges[i - 1].end, r->begin, r->end);
        if (r->begin > covered)
            return fail(ATTN_ERR_FORMAT,
                        "%s: data bytes [%" PRIu64 ", %" PRIu64 ") before tensor \"%s\" belong to no tensor", origin,
                        covered, r->begin, f->tensors[r->index].name);
        covered = r->end;
    }
    if (covered != data_size)
        return fail(ATTN_ERR_FORMAT,
                    "%s: data bytes [%" PRIu64 ", %" PRIu64 ") after the last tensor belong to no tensor", origin,
                    covered, data_size);
    return ATTN_OK;
}

/* The 8-byte header length of a file of `size` bytes, checked against what follows it and the limit. */
static attn_status header_length(const unsigned char first8[8], uint64_t size, const char *origin, uint64_t *len)
{
    if (size < 8)
        return fail(ATTN_ERR_FORMAT, "%s: %" PRIu64 " bytes, too short for the 8-byte header length", origin, size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | first8[i];
    if (header_len > size - 8)
        return fail(ATTN_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the %" PRIu64 " bytes that follow it",
                    origin, header_len, size - 8);
    if (header_len > ST_MAX_HEADER_BYTES)
        return fail(ATTN_ERR_FORMAT, "%s: header length %" PRIu64 " is over the %" PRIu64 "-byte limit", origin,
                    header_len, ST_MAX_HEADER_BYTES);
    *len = header_len;
    return ATTN_OK;
}

/* Parses and checks the JSON header against a data section of `data_size` bytes: every tensor's dtype, shape and
 * range, and that the ranges tile the section exactly. Nothing of the data section is needed for this, so a
 * reader does it before it reads (or maps) any tensor. The tensors' data pointers are set by attach_data. */
static attn_status parse_header(st_file *f, const char *origin, const char *text, size_t len, uint64_t data_size)
{
    char what[320];
    snprintf(what, sizeof what, "%s: header", origin);
    attn_status st = json_parse(&f->header, text, len, what);
    if (st != ATTN_OK) return st;
    const json_value *root = json_root(f->header);
    if (root->type != JSON_OBJECT) return fail(ATTN_ERR_FORMAT, "%s: the header is not a JSON object", origin);

    size_t n_tensors = root->count - (json_get(root, METADATA_KEY) ? 1 : 0);
    if (n_tensors > (size_t)INT32_MAX)
        return fail(ATTN_ERR_FORMAT, "%s: %zu tensors are too many", origin, n_tensors);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    f->begin = calloc(n_tensors ? n_tensors : 1, sizeof *f->begin);
    range *ranges = malloc((n_tensors ? n_tensors : 1) * sizeof *ranges);
    if (!f->tensors || !f->begin || !ranges) {
        free(ranges);
        return fail(ATTN_ERR_NOMEM, "%s: out of memory for %zu tensors", origin, n_tensors);
    }
    for (const json_value *m = root->child; m && st == ATTN_OK; m = m->next) {
        if (strcmp(m->key, METADATA_KEY) == 0) {
            st = parse_metadata(f, origin, m);
            continue;
        }
        range *r = &ranges[f->n];
        st = parse_tensor(origin, m, data_size, &f->tensors[f->n], r);
        if (st != ATTN_OK) break;
        f->begin[f->n] = r->begin;
        r->index = f->n++;
    }
    if (st == ATTN_OK) st = check_coverage(f, origin, ranges, data_size);
    free(ranges);
    return st;
}

static void attach_data(st_file *f, unsigned char *data, size_t size)
{
    f->data = data;
    f->data_size = size;
    for (int i = 0; i < f->n; i++) f->tensors[i].data = data + f->begin[i];
}

void st_close(st_file *f)
{
    if (!f) return;
    if (f->mapped) munmap(f->map, f->map_size);
    else free(f->data);
    json_free(f->header);
    free(f->tensors);
    free(f->begin);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

attn_status st_parse(st_file **out, const void *bytes, size_t size)
{
    attn_status st = check_not_null(out, "out");
    if (st != ATTN_OK) return st;
    *out = NULL;
    if (size > 0 && (st = check_not_null(bytes, "bytes")) != ATTN_OK) return st;
    const char *origin = "safetensors buffer";
    const unsigned char *b = bytes;
    uint64_t header_len = 0;
    if ((st = header_length(b, size, origin, &header_len)) != ATTN_OK) return st;
    st_file *f = calloc(1, sizeof *f);
    if (!f) return fail(ATTN_ERR_NOMEM, "%s: out of memory", origin);
    const size_t data_size = size - 8 - (size_t)header_len;
    unsigned char *copy = NULL;
    st = parse_header(f, origin, (const char *)b + 8, (size_t)header_len, data_size);
    if (st == ATTN_OK && !(copy = malloc(data_size ? data_size : 1)))
        st = fail(ATTN_ERR_NOMEM, "out of memory copying %zu bytes", data_size);
    if (st != ATTN_OK) {
        st_close(f);
        return st;
    }
    if (data_size) memcpy(copy, b + 8 + header_len, data_size);
    attach_data(f, copy, data_size);
    *out = f;
    return ATTN_OK;
}

/* Reads exactly n bytes at `offset`; ATTN_ERR_IO naming `path` otherwise. */
static attn_status read_at(int fd, void *buf, size_t n, uint64_t offset, const char *path)
{
    char err[128];
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail(ATTN_ERR_IO, "cannot read %s: %s", path, errno_text(errno, err, sizeof err));
        if (r == 0) return fail(ATTN_ERR_IO, "%s shrank while being read", path);
        got += (size_t)r;
    }
    return ATTN_OK;
}

/* The file is read in the order its own claims can be checked: the header length against the file's size, then
 * the header (at most ST_MAX_HEADER_BYTES, and never more than the file holds), then every tensor's range
 * against the data section — and only then the data, mapped rather than read, so a loader touches the pages of
 * the tensors it copies and no others (attn_model_load reads none of a training checkpoint's optimizer slots).
 * A file whose header and size disagree (a multi-GiB tail behind a valid header, a header naming more data than
 * there is) is refused before any of its data is read or any memory sized by it is allocated. The mapping is
 * private and read-only; the library replaces checkpoints by renaming a new file over them, never by writing in
 * place, so a file being loaded does not change under the mapping. Where mapping is not supported the data
 * section — exactly the bytes the tensors tile — is read instead. */
attn_status st_open(st_file **out, const char *path)
{
    attn_status st = check_not_null(out, "out");
    if (st != ATTN_OK) return st;
    *out = NULL;
    if ((st = check_not_null(path, "path")) != ATTN_OK) return st;

    char err[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(ATTN_ERR_IO, "cannot open %s: %s", path, errno_text(errno, err, sizeof err));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return fail(ATTN_ERR_IO, "cannot stat %s: %s", path, errno_text(e, err, sizeof err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return fail(ATTN_ERR_IO, "%s is not a regular file", path);
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size > (uintmax_t)(SIZE_MAX - 1)) {
        close(fd);
        return fail(ATTN_ERR_IO, "%s is too large to read", path);
    }
    const size_t size = (size_t)sb.st_size;
    unsigned char first8[8] = {0};
    uint64_t header_len = 0;
    st = read_at(fd, first8, size < 8 ? size : 8, 0, path);
    if (st == ATTN_OK) st = header_length(first8, size, path, &header_len);
    st_file *f = st == ATTN_OK ? calloc(1, sizeof *f) : NULL;
    if (st == ATTN_OK && !f) st = fail(ATTN_ERR_NOMEM, "%s: out of memory", path);
    char *header = NULL;
    if (st == ATTN_OK && !(header = malloc(header_len ? (size_t)header_len : 1)))
        st = fail(ATTN_ERR_NOMEM, "out of memory for the %" PRIu64 "-byte header of %s", header_len, path);
    if (st == ATTN_OK) st = read_at(fd, header, (size_t)header_len, 8, path);
    const size_t data_at = 8 + (size_t)header_len, data_size = size - data_at;
    if (st == ATTN_OK) st = parse_header(f, path, header, (size_t)header_len, data_size);
    free(header);
    if (st == ATTN_OK) {
        void *map = data_size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (map != MAP_FAILED) {
            f->mapped = 1;
            f->map = map;
            f->map_size = size;
            attach_data(f, (unsigned char *)map + data_at, data_size);
        } else {
            unsigned char *data = malloc(data_size ? data_size : 1);
            if (!data) st = fail(ATTN_ERR_NOMEM, "out of memory reading the %zu data bytes of %s", data_size, path);
            else if ((st = read_at(fd, data, data_size, data_at, path)) != ATTN_OK) free(data);
            else attach_data(f, data, data_size);
        }
    }
    close(fd);
    if (st != ATTN_OK) {
        st_close(f);
        return st;
    }
    *out = f;
    return ATTN_OK;
}

int st_count(const st_file *f) { return f ? f->n : 0; }

const st_tensor *st_get(const st_file *f, int index)
{
    return f && index >= 0 && index < f->n ? &f->tensors[index] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int st_meta_count(const st_file *f) { return f ? f->n_meta : 0; }

void st_meta_entry(const st_file *f, int index, const char **key, const char **value)
{
    int ok = f && index >= 0 && index < f->n_meta;
    if (key) *key = ok ? f->meta_keys[index] : NULL;
    if (value) *value = ok ? f->meta_values[index] : NULL;
}

/* ---- Writing ---------------------------------------------------------------------------------------------- */

static attn_status check_string(const char *s, const char *what, int index)
{
    if (!s) return fail(ATTN_ERR_NULL, "%s %d is NULL", what, index);
    if (!json_utf8_valid(s, strlen(s))) return fail(ATTN_ERR_INVALID, "%s %d is not valid UTF-8", what, index);
    return ATTN_OK;
}

/* Everything st_write is given must round-trip through st_open, so it is held to the reader's rules. */
static attn_status check_write_args(const st_tensor *tensors, int n, const char *const *meta_keys,
                                    const char *const *meta_values, int n_meta, uint64_t *data_size)
{
    if (n < 0 || n_meta < 0) return fail(ATTN_ERR_INVALID, "negative count (%d tensors, %d metadata)", n, n_meta);
    if (n > 0 && !tensors) return check_not_null(tensors, "tensors");
    if (n_meta > 0 && (!meta_keys || !meta_values)) return check_not_null(NULL, "meta_keys or meta_values");
    attn_status st;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        if ((st = check_string(t->name, "tensor name", i)) != ATTN_OK) return st;
        if (strcmp(t->name, METADATA_KEY) == 0)
            return fail(ATTN_ERR_INVALID, "a tensor cannot be called %s", METADATA_KEY);
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return fail(ATTN_ERR_INVALID, "two tensors are called \"%s\"", t->name);
        if (st_dtype_size(t->dtype) == 0)
            return fail(ATTN_ERR_INVALID, "tensor \"%s\": unknown dtype %d", t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return fail(ATTN_ERR_INVALID, "tensor \"%s\": ndim %d is outside 0..%d", t->name, t->ndim, ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return fail(ATTN_ERR_INVALID, "tensor \"%s\": shape[%d] = %" PRId64 " is negative", t->name, d,
                            t->shape[d]);
        uint64_t nbytes;
        char text[160];
        if (shape_nbytes(t->shape, t->ndim, t->dtype, &nbytes) != 0)
            return fail(ATTN_ERR_SIZE, "tensor \"%s\": shape %s is too large", t->name,
                        st_shape_text(t->shape, t->ndim, text, sizeof text));
        if (nbytes != t->nbytes)
            return fail(ATTN_ERR_SIZE, "tensor \"%s\": nbytes is %zu but shape %s of %s needs %" PRIu64, t->name,
                        t->nbytes, st_shape_text(t->shape, t->ndim, text, sizeof text), st_dtype_name(t->dtype), nbytes);
        if (t->nbytes > 0 && !t->data) return fail(ATTN_ERR_NULL, "tensor \"%s\": data is NULL", t->name);
        if (nbytes > UINT64_MAX - total) return fail(ATTN_ERR_SIZE, "the tensors' total size overflows");
        total += nbytes;
    }
    for (int i = 0; i < n_meta; i++) {
        if ((st = check_string(meta_keys[i], "metadata key", i)) != ATTN_OK) return st;
        if ((st = check_string(meta_values[i], "metadata value", i)) != ATTN_OK) return st;
        for (int j = 0; j < i; j++)
            if (strcmp(meta_keys[j], meta_keys[i]) == 0)
                return fail(ATTN_ERR_INVALID, "two metadata entries are called \"%s\"", meta_keys[i]);
    }
    *data_size = total;
    return ATTN_OK;
}

/* The JSON header, padded with spaces so the data section starts 8-byte aligned in the file. */
static attn_status build_header(json_buf *b, const st_tensor *tensors, int n, const char *const *meta_keys,
                                const char *const *meta_values, int n_meta)
{
    json_buf_raw(b, "{", 1);
    if (n_meta > 0) {
        json_buf_string(b, METADATA_KEY);
        json_buf_raw(b, ":{", 2);
        for (int i = 0; i < n_meta; i++) {
            if (i) json_buf_raw(b, ",", 1);
            json_buf_string(b, meta_keys[i]);
            json_buf_raw(b, ":", 1);
            json_buf_string(b, meta_values[i]);
        }
        json_buf_raw(b, "}", 1);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        if (i || n_meta > 0) json_buf_raw(b, ",", 1);
        json_buf_string(b, t->name);
        json_buf_raw(b, ":{\"dtype\":", 10);
        json_buf_string(b, st_dtype_name(t->dtype));
        json_buf_raw(b, ",\"shape\":[", 10);
        for (int d = 0; d < t->ndim; d++) {
            if (d) json_buf_raw(b, ",", 1);
            json_buf_int(b, t->shape[d]);
        }
        json_buf_raw(b, "],\"data_offsets\":[", 18);
        json_buf_int(b, (int64_t)offset);
        json_buf_raw(b, ",", 1);
        offset += t->nbytes;
        json_buf_int(b, (int64_t)offset);
        json_buf_raw(b, "]}", 2);
    }
    json_buf_raw(b, "}", 1);
    while (!b->failed && b->len % 8 != 0) json_buf_raw(b, " ", 1);
    attn_status st = json_buf_status(b);
    if (st != ATTN_OK) return st;
    if (b->len > ST_MAX_HEADER_BYTES)
        return fail(ATTN_ERR_SIZE, "the header would be %zu bytes, over the %" PRIu64 "-byte limit", b->len,
                    ST_MAX_HEADER_BYTES);
    return ATTN_OK;
}

/* Makes the rename durable. Some file systems cannot sync a directory (EINVAL); there is nothing more to do. */
static attn_status sync_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (slash && !dir) return fail(ATTN_ERR_NOMEM, "out of memory");
    if (dir) {
        size_t len = slash == path ? 1 : (size_t)(slash - path); /* "/file" lives in "/" */
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    const char *name = dir ? dir : ".";
    char err[128];
    attn_status st = ATTN_OK;
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        st = fail(ATTN_ERR_IO, "%s was replaced, but syncing its directory %s failed: %s", path, name,
                  errno_text(errno, err, sizeof err));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

static int write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

attn_status st_write(const char *path, const st_tensor *tensors, int n, const char *const *meta_keys,
                     const char *const *meta_values, int n_meta)
{
    attn_status st = check_not_null(path, "path");
    if (st != ATTN_OK) return st;
    uint64_t data_size;
    if ((st = check_write_args(tensors, n, meta_keys, meta_values, n_meta, &data_size)) != ATTN_OK) return st;

    json_buf header;
    json_buf_init(&header);
    if ((st = build_header(&header, tensors, n, meta_keys, meta_values, n_meta)) != ATTN_OK) {
        json_buf_free(&header);
        return st;
    }
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)header.len >> (8 * i));

    /* The temporary file is "<path>.tmp.<pid>.<n>", created exclusively: a save never adopts a file someone else
     * is writing. A file left behind by a killed process, whose pid may come back after a restart (as it often
     * does in containers), must not block later saves, so a name that exists is skipped for the next n. */
    static atomic_uint tmp_counter;
    const int tmp_cap = (int)strlen(path) + 48;
    char *tmp = malloc((size_t)tmp_cap);
    if (!tmp) {
        json_buf_free(&header);
        return fail(ATTN_ERR_NOMEM, "out of memory");
    }
    char err[128];
    int fd = -1, create_errno = 0;
    for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
        snprintf(tmp, (size_t)tmp_cap, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        create_errno = errno;
        if (fd < 0 && create_errno != EEXIST) break;
    }
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        if (fd >= 0) {
            create_errno = errno;
            close(fd);
            unlink(tmp);
        }
        st = fail(ATTN_ERR_IO, "cannot create %s: %s", tmp, errno_text(create_errno, err, sizeof err));
        free(tmp);
        json_buf_free(&header);
        return st;
    }
    const char *step = NULL;
    int e = 0;
    if (!write_all(fp, len_bytes, 8) || !write_all(fp, header.data, header.len)) step = "write";
    for (int i = 0; i < n && !step; i++)
        if (!write_all(fp, tensors[i].data, tensors[i].nbytes)) step = "write";
    if (!step && fflush(fp) != 0) step = "flush";
    if (!step && fsync(fileno(fp)) != 0) step = "fsync";
    if (step) e = errno;
    if (fclose(fp) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        unlink(tmp);
        st = fail(ATTN_ERR_IO, "cannot save %s (%s of %s failed: %s); the file at that path is unchanged", path, step,
                  tmp, errno_text(e, err, sizeof err));
    } else {
        st = sync_directory(path);
    }
    free(tmp);
    json_buf_free(&header);
    return st;
}
