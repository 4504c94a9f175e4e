/* A small, strict JSON parser for safetensors headers and checkpoint configurations, and the few writer helpers
 * they need.
 *
 * Strict means: RFC 8259 syntax only (no comments, trailing commas, single quotes, NaN, byte-order mark); input
 * must be valid UTF-8; duplicate keys in an object are refused; numbers must be integers that fit int64 (a
 * fraction or an exponent is refused, not rounded); "\u0000" is refused so every decoded string is an ordinary
 * NUL-terminated C string; nesting deeper than JSON_MAX_DEPTH is refused; only whitespace may follow the value.
 * The input is addressed by pointer and length and never read past its end; it need not be NUL-terminated. */
#ifndef ATTN_JSON_H
#define ATTN_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

/* Arrays and objects nested deeper than this are refused (safetensors headers need 3 levels), which bounds the
 * parser's recursion on hostile input. */
#define JSON_MAX_DEPTH 32

typedef enum json_type {
    JSON_NULL = 0,
    JSON_FALSE = 1,
    JSON_TRUE = 2,
    JSON_INT = 3,
    JSON_STRING = 4,
    JSON_ARRAY = 5,
    JSON_OBJECT = 6
} json_type;

typedef struct json_value json_value;

/* One parsed value. Everything it points to lives in the json_doc it came from. */
struct json_value {
    json_type type;
    const char *key;         /* the member's name when the parent is an object, else NULL */
    int64_t integer;         /* JSON_INT */
    const char *string;      /* JSON_STRING: decoded UTF-8, NUL-terminated, no embedded NUL */
    size_t length;           /* JSON_STRING: bytes in `string` */
    size_t count;            /* JSON_ARRAY / JSON_OBJECT: number of elements / members */
    const json_value *child; /* JSON_ARRAY / JSON_OBJECT: first element / member, NULL when empty */
    const json_value *next;  /* the next element / member of the parent, NULL after the last */
};

typedef struct json_doc json_doc;

/* Parses `len` bytes of `text`. On failure returns ATTN_ERR_FORMAT with a message "<what>: <problem> at byte
 * <offset>" (or ATTN_ERR_NOMEM) and sets *out to NULL. */
attn_status json_parse(json_doc **out, const char *text, size_t len, const char *what);
void json_free(json_doc *doc);

/* The top-level value of a parsed document. */
const json_value *json_root(const json_doc *doc);

/* The member of object `obj` called `key`, or NULL (also when `obj` is not an object). Linear in the members. */
const json_value *json_get(const json_value *obj, const char *key);

/* Non-zero when the `len` bytes at `s` are valid UTF-8 without NUL bytes, i.e. a string the parser accepts back
 * after json_buf_string escaped it. */
int json_utf8_valid(const char *s, size_t len);

/* ---- Writing ---------------------------------------------------------------------------------------------- */

/* A growing, always NUL-terminated text buffer. Appends never fail individually: an allocation failure is
 * remembered and reported once by json_buf_status, so writers can append freely and check at the end. */
typedef struct json_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} json_buf;

void json_buf_init(json_buf *b);
void json_buf_free(json_buf *b);
void json_buf_raw(json_buf *b, const char *s, size_t n);
/* Appends `s` (UTF-8, NUL-terminated) as a quoted JSON string with '"', '\\' and control characters escaped. */
void json_buf_string(json_buf *b, const char *s);
void json_buf_int(json_buf *b, int64_t v);
/* ATTN_OK, or ATTN_ERR_NOMEM (with a message) when any append could not allocate. */
attn_status json_buf_status(const json_buf *b);

#endif
