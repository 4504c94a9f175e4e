/* libFuzzer target: the safetensors reader (st_parse, the in-memory twin of st_open) on arbitrary bytes. An
 * accepted file is walked completely — every tensor's bytes read, every name and metadata string measured — so
 * a pointer or size the reader let through that reaches outside the buffer shows under AddressSanitizer. */
#include <stdint.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file *f;
    if (st_parse(&f, data, size) != ATTN_OK) return 0;
    volatile size_t sink = 0;
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_get(f, i);
        const unsigned char *bytes = t->data;
        size_t expected = st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) expected *= (size_t)t->shape[d];
        /* The reader promises nbytes = element size × shape; a file it accepts must keep that promise. */
        if (expected != t->nbytes) __builtin_trap();
        for (size_t k = 0; k < t->nbytes; k++) sink += bytes[k];
        sink += strlen(t->name);
        if (st_find(f, t->name) == NULL) __builtin_trap();
    }
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *key, *value;
        st_meta_entry(f, i, &key, &value);
        sink += strlen(key) + strlen(value);
    }
    (void)sink;
    st_close(f);
    return 0;
}
