/* A safetensors reader and writer (https://huggingface.co/docs/safetensors): 8-byte little-endian header
 * length N, N bytes of JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the tensor bytes. Used by checkpoints and by the tests that
 * exchange data with the PyTorch reference. */
#ifndef ATTN_SAFETENSORS_H
#define ATTN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

#define ST_MAX_DIMS 8
/* Readers refuse a JSON header longer than this (100 MiB), whatever the file size, so a corrupt length cannot
 * make them parse or allocate without bound. Writers refuse to produce one. */
#define ST_MAX_HEADER_BYTES ((uint64_t)100 * 1024 * 1024)

typedef enum st_dtype { ST_F32 = 0, ST_F64 = 1, ST_I32 = 2, ST_I64 = 3, ST_U8 = 4 } st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* little-endian bytes, nbytes = element size × product of shape; a reader gives no
                         alignment guarantee (offsets in a file need not be multiples of the element size):
                         copy out with memcpy */
    size_t nbytes;
} st_tensor;

/* Bytes per element of a dtype (0 for a value outside the enum). */
size_t st_dtype_size(st_dtype dtype);
/* The dtype's name in the header ("F32", ...), or "?" for a value outside the enum. */
const char *st_dtype_name(st_dtype dtype);
/* Writes a shape as "[2, 3]" into buf (truncated to n bytes) and returns buf; for error messages. */
const char *st_shape_text(const int64_t *shape, int ndim, char *buf, size_t n);

/* Writes `n` tensors and `n_meta` metadata pairs to `path` atomically (temporary file in the same directory,
 * fsync, rename, fsync of the directory). Tensors are laid out in the given order. */
attn_status st_write(const char *path, const st_tensor *tensors, int n, const char *const *meta_keys,
                     const char *const *meta_values, int n_meta);

typedef struct st_file st_file;

/* Reads and validates a whole file: header length within the file, well-formed JSON, known dtypes, shapes
 * whose byte size equals the data_offsets range, ranges inside the data section, not overlapping, covering it
 * without gaps. Returns ATTN_ERR_IO if it cannot be read, ATTN_ERR_FORMAT (with the reason) if malformed. */
attn_status st_open(st_file **out, const char *path);
/* The same from memory (the bytes are copied); used by the fuzzer. */
attn_status st_parse(st_file **out, const void *bytes, size_t size);
void st_close(st_file *f);

int st_count(const st_file *f);
const st_tensor *st_get(const st_file *f, int index);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* The metadata value for `key`, or NULL. */
const char *st_meta(const st_file *f, const char *key);
int st_meta_count(const st_file *f);
/* Key and value of metadata entry `index`. */
void st_meta_entry(const st_file *f, int index, const char **key, const char **value);

#endif
