/* The safetensors reader and writer, and the JSON parser under them: round trips, hand-built files the writer
 * did not produce, and malformed input of every kind the reader promises to refuse (it must refuse it with
 * ATTN_ERR_FORMAT and the right reason, never crash or read out of bounds: run this under ASan/UBSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"
#include "test_util.h"

/* ---- Helpers ---------------------------------------------------------------------------------------------- */

static char st_dir[256]; /* a fresh directory per run */

static int make_dir(void **state)
{
    (void)state;
    return scratch_dir_create(st_dir, sizeof st_dir, "attn_st_");
}

static int remove_dir(void **state)
{
    (void)state;
    return scratch_dir_remove(st_dir);
}

static const char *in_dir(const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", st_dir, name);
    return path;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of entries of the test directory whose name contains ".tmp.": a leftover temporary file. */
static int count_temp_files(void)
{
    DIR *d = opendir(st_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* A safetensors byte string by hand: the 8-byte little-endian length of `header` (`header_len` bytes), the
 * header, then `data`. */
static unsigned char *build_raw(const char *header, size_t header_len, const void *data, size_t data_len, size_t *n)
{
    unsigned char *b = malloc(8 + header_len + data_len + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    memcpy(b + 8, header, header_len);
    if (data_len) memcpy(b + 8 + header_len, data, data_len);
    *n = 8 + header_len + data_len;
    return b;
}

static void expect_message(const char *fragment)
{
    if (!strstr(attn_last_error(), fragment))
        fail_msg("error message \"%s\" does not mention \"%s\"", attn_last_error(), fragment);
}

/* Parses header + `data_len` zero bytes and expects ATTN_ERR_FORMAT whose message contains `fragment`. */
static void expect_format_n(const char *header, size_t header_len, size_t data_len, const char *fragment)
{
    unsigned char *data = calloc(data_len + 1, 1);
    size_t n;
    unsigned char *b = build_raw(header, header_len, data, data_len, &n);
    st_file *f = (st_file *)&f; /* must be reset to NULL on failure */
    attn_status st = st_parse(&f, b, n);
    if (st != ATTN_ERR_FORMAT)
        fail_msg("header %.*s: status %d (%s), expected ATTN_ERR_FORMAT", (int)header_len, header, (int)st,
                 attn_last_error());
    assert_null(f);
    expect_message(fragment);
    free(b);
    free(data);
}

static void expect_format(const char *header, size_t data_len, const char *fragment)
{
    expect_format_n(header, strlen(header), data_len, fragment);
}

static st_file *parse_ok(const char *header, const void *data, size_t data_len)
{
    size_t n;
    unsigned char *b = build_raw(header, strlen(header), data, data_len, &n);
    st_file *f = NULL;
    attn_status st = st_parse(&f, b, n);
    if (st != ATTN_OK) fail_msg("header %s: status %d (%s), expected ATTN_OK", header, (int)st, attn_last_error());
    free(b);
    return f;
}

/* One header entry: "name":{"dtype":..., "shape":..., "data_offsets":[b,e]} as a string literal. */
#define ENTRY(name, dtype, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* ---- JSON ------------------------------------------------------------------------------------------------- */

static void json_decodes_every_construct(void **state)
{
    (void)state;
    const char *text = " {\"s\" : \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\xc3\xa9\","
                       "\"i\":[0,-0,7,-12,9223372036854775807,-9223372036854775808],"
                       "\"t\":true,\"f\":false,\"n\":null,\"e\":{},\"ea\":[ ],\"nest\":{\"x\":[[1]]}}\r\n\t";
    json_doc *doc = NULL;
    assert_int_equal(json_parse(&doc, text, strlen(text), "test"), ATTN_OK);
    const json_value *root = json_root(doc);
    assert_int_equal(root->type, JSON_OBJECT);
    assert_int_equal(root->count, 8);

    const json_value *s = json_get(root, "s");
    assert_non_null(s);
    assert_int_equal(s->type, JSON_STRING);
    /* é € 😀 é spelled as their UTF-8 bytes */
    const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9";
    assert_int_equal(s->length, sizeof want - 1);
    assert_memory_equal(s->string, want, sizeof want);

    const json_value *i = json_get(root, "i");
    assert_int_equal(i->type, JSON_ARRAY);
    assert_int_equal(i->count, 6);
    const int64_t ints[] = {0, 0, 7, -12, INT64_MAX, INT64_MIN};
    int k = 0;
    for (const json_value *v = i->child; v; v = v->next, k++) {
        assert_int_equal(v->type, JSON_INT);
        assert_null(v->key);
        assert_true(v->integer == ints[k]);
    }
    assert_int_equal(k, 6);

    assert_int_equal(json_get(root, "t")->type, JSON_TRUE);
    assert_int_equal(json_get(root, "f")->type, JSON_FALSE);
    assert_int_equal(json_get(root, "n")->type, JSON_NULL);
    assert_int_equal(json_get(root, "e")->count, 0);
    assert_null(json_get(root, "e")->child);
    assert_int_equal(json_get(root, "ea")->type, JSON_ARRAY);
    assert_int_equal(json_get(root, "ea")->count, 0);
    const json_value *x = json_get(json_get(root, "nest"), "x");
    assert_int_equal(x->child->child->integer, 1);
    assert_null(json_get(root, "missing"));
    assert_null(json_get(i, "s")); /* not an object */

    /* Members keep their file order. */
    const char *order[] = {"s", "i", "t", "f", "n", "e", "ea", "nest"};
    k = 0;
    for (const json_value *m = root->child; m; m = m->next) assert_string_equal(m->key, order[k++]);
    json_free(doc);
}

static void json_refuses_malformed_text(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *fragment;
    } cases[] = {
        {"", "expected a value"},
        {"   ", "expected a value"},
        {"{", "expected a string key"},
        {"{\"a\":1,}", "expected a string key"},
        {"[1,]", "unexpected character"},
        {"[1 2]", "expected ',' or ']'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"{\"a\":1", "unterminated object"},
        {"[1", "unterminated array"},
        {"{}x", "trailing characters"},
        {"{} {}", "trailing characters"},
        {"{}/*c*/", "trailing characters"},
        {"{'a':1}", "expected a string key"},
        {"{a:1}", "expected a string key"},
        {"{\"a\" 1}", "expected ':'"},
        {"01", "leading zero"},
        {"-", "expected a digit"},
        {"-a", "expected a digit"},
        {"+1", "unexpected character"},
        {"1.5", "only integers"},
        {"1e3", "only integers"},
        {"1E3", "only integers"},
        {"9223372036854775808", "int64 range"},
        {"-9223372036854775809", "int64 range"},
        {"99999999999999999999999", "int64 range"},
        {"\"abc", "unterminated string"},
        {"\"\\", "unterminated escape"},
        {"\"\\x\"", "unknown escape"},
        {"\"\\u12zz\"", "4 hex digits"},
        {"\"\\u12", "truncated \\u escape"},
        {"\"\\ud800\"", "unpaired high surrogate"},
        {"\"\\ud800\\u0041\"", "not followed by a low one"},
        {"\"\\udc00\"", "unpaired low surrogate"},
        {"\"\\u0000\"", "\\u0000"},
        {"\"a\tb\"", "control character"},
        {"\"a\nb\"", "control character"},
        {"\"\xff\"", "invalid UTF-8"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},         /* overlong '/' */
        {"\"\xe0\x80\xaf\"", "invalid UTF-8"},     /* overlong, 3 bytes */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},     /* a surrogate encoded directly */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
        {"\"\xe2\x82\"", "invalid UTF-8"},         /* cut sequence */
        {"\"\x80\"", "invalid UTF-8"},             /* lone continuation byte */
        {"tru", "unexpected character"},
        {"NaN", "unexpected character"},
        {"Infinity", "unexpected character"},
        {"\xef\xbb\xbf{}", "unexpected character"}, /* byte-order mark */
        {"{\"x\":1,\"y\":2,\"x\":3}", "duplicate key \"x\""},
        {"[{\"k\":{},\"k\":[]}]", "duplicate key \"k\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_doc *doc = (json_doc *)&doc;
        attn_status st = json_parse(&doc, cases[i].text, strlen(cases[i].text), "case");
        if (st != ATTN_ERR_FORMAT) fail_msg("JSON %s: status %d, expected ATTN_ERR_FORMAT", cases[i].text, (int)st);
        assert_null(doc);
        expect_message(cases[i].fragment);
        expect_message("case: ");
    }
    /* A NUL byte is not whitespace, and the length, not a terminator, ends the text. */
    json_doc *doc = NULL;
    assert_int_equal(json_parse(&doc, "{}\0", 3, "case"), ATTN_ERR_FORMAT);
    assert_int_equal(json_parse(&doc, "{}xyz", 2, "case"), ATTN_OK);
    json_free(doc);
}

static void json_depth_limit_is_exact(void **state)
{
    (void)state;
    char text[2 * (JSON_MAX_DEPTH + 1) + 1];
    for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        json_doc *doc = NULL;
        attn_status st = json_parse(&doc, text, 2 * (size_t)depth, "deep");
        assert_int_equal(st, depth <= JSON_MAX_DEPTH ? ATTN_OK : ATTN_ERR_FORMAT);
        if (st != ATTN_OK) expect_message("nesting too deep");
        json_free(doc);
    }
    /* A nesting bomb far past the limit is refused without exhausting the stack. */
    size_t n = 1000000;
    char *bomb = malloc(n);
    assert_non_null(bomb);
    memset(bomb, '[', n);
    json_doc *doc = NULL;
    assert_int_equal(json_parse(&doc, bomb, n, "bomb"), ATTN_ERR_FORMAT);
    expect_message("nesting too deep");
    free(bomb);
}

/* Whatever the writer escapes, the parser reads back byte for byte. */
static void json_writer_round_trips_strings(void **state)
{
    (void)state;
    char all[200];
    size_t k = 0;
    for (int c = 1; c < 128; c++) all[k++] = (char)c;
    const char utf8[] = "\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80";
    memcpy(all + k, utf8, sizeof utf8); /* with its NUL */
    assert_true(json_utf8_valid(all, strlen(all)));

    json_buf b;
    json_buf_init(&b);
    json_buf_raw(&b, "[", 1);
    json_buf_string(&b, all);
    json_buf_raw(&b, ",", 1);
    json_buf_string(&b, "");
    json_buf_raw(&b, ",", 1);
    json_buf_int(&b, INT64_MIN);
    json_buf_raw(&b, ",", 1);
    json_buf_int(&b, INT64_MAX);
    json_buf_raw(&b, "]", 1);
    assert_int_equal(json_buf_status(&b), ATTN_OK);
    assert_int_equal(strlen(b.data), b.len);

    json_doc *doc = NULL;
    assert_int_equal(json_parse(&doc, b.data, b.len, "round trip"), ATTN_OK);
    const json_value *v = json_root(doc)->child;
    assert_string_equal(v->string, all);
    assert_string_equal(v->next->string, "");
    assert_true(v->next->next->integer == INT64_MIN);
    assert_true(v->next->next->next->integer == INT64_MAX);
    json_free(doc);
    json_buf_free(&b);

    assert_false(json_utf8_valid("\xff", 1));
    assert_false(json_utf8_valid("a\0b", 3));
    assert_true(json_utf8_valid("", 0));
}

/* ---- Reading hand-built files ----------------------------------------------------------------------------- */

static void dtype_table(void **state)
{
    (void)state;
    assert_int_equal(st_dtype_size(ST_F32), 4);
    assert_int_equal(st_dtype_size(ST_F64), 8);
    assert_int_equal(st_dtype_size(ST_I32), 4);
    assert_int_equal(st_dtype_size(ST_I64), 8);
    assert_int_equal(st_dtype_size(ST_U8), 1);
    assert_int_equal(st_dtype_size((st_dtype)5), 0);
    assert_int_equal(st_dtype_size((st_dtype)-1), 0);
    assert_string_equal(st_dtype_name(ST_F32), "F32");
    assert_string_equal(st_dtype_name(ST_U8), "U8");
    assert_string_equal(st_dtype_name((st_dtype)9), "?");
}

/* A file as another writer might produce it (Python's json.dumps spacing, metadata last, tensors not in offset
 * order, an unaligned F32 after a U8), which our writer never does. */
static void reads_a_hand_built_file(void **state)
{
    (void)state;
    const char header[] = "{\"b\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [3, 11]}, "
                          "\"a\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]}, "
                          "\"c\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [11, 15]}, "
                          "\"__metadata__\": {\"format\": \"test\", \"caf\\u00e9\": \"\"}}   ";
    unsigned char data[15] = {7, 8, 9};
    const int32_t b_vals[2] = {-5, 123456789};
    const float c_val = -2.5f;
    memcpy(data + 3, b_vals, 8);
    memcpy(data + 11, &c_val, 4);
    st_file *f = parse_ok(header, data, sizeof data);

    assert_int_equal(st_count(f), 3);
    const st_tensor *b = st_get(f, 0); /* header order */
    assert_string_equal(b->name, "b");
    assert_int_equal(b->dtype, ST_I32);
    assert_int_equal(b->ndim, 1);
    assert_true(b->shape[0] == 2);
    assert_int_equal(b->nbytes, 8);
    int32_t got_b[2];
    memcpy(got_b, b->data, 8);
    assert_int_equal(got_b[0], -5);
    assert_int_equal(got_b[1], 123456789);

    const st_tensor *a = st_find(f, "a");
    assert_ptr_equal(a, st_get(f, 1));
    assert_int_equal(a->dtype, ST_U8);
    assert_memory_equal(a->data, data, 3);

    const st_tensor *c = st_find(f, "c");
    assert_int_equal(c->ndim, 0);
    assert_int_equal(c->nbytes, 4);
    float got_c;
    memcpy(&got_c, c->data, 4);
    assert_true(got_c == c_val);

    assert_null(st_find(f, "d"));
    assert_null(st_find(f, "__metadata__"));
    assert_null(st_get(f, 3));
    assert_null(st_get(f, -1));
    assert_int_equal(st_meta_count(f), 2);
    assert_string_equal(st_meta(f, "format"), "test");
    assert_string_equal(st_meta(f, "caf\xc3\xa9"), "");
    assert_null(st_meta(f, "missing"));
    const char *key, *value;
    st_meta_entry(f, 1, &key, &value);
    assert_string_equal(key, "caf\xc3\xa9");
    st_meta_entry(f, 2, &key, &value);
    assert_null(key);
    assert_null(value);
    st_close(f);

    /* No tensors and no data is a valid, empty file; so are zero-size tensors. */
    f = parse_ok("{}", NULL, 0);
    assert_int_equal(st_count(f), 0);
    assert_int_equal(st_meta_count(f), 0);
    st_close(f);
    f = parse_ok("{" ENTRY("z", "F64", "[0,3]", 0, 0) "," ENTRY("big", "U8", "[9223372036854775807,0]", 0, 0) "}",
                 NULL, 0);
    assert_int_equal(st_count(f), 2);
    assert_int_equal(st_find(f, "z")->nbytes, 0);
    st_close(f);
}

static void refuses_bad_header_length(void **state)
{
    (void)state;
    unsigned char b[8 + 2 + 4] = {0};
    memcpy(b + 8, "{}", 2);
    const uint64_t lengths[] = {1, 7, 11, 100, (uint64_t)1 << 32, (uint64_t)1 << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lengths[i] >> (8 * k));
        st_file *f = NULL;
        assert_int_equal(st_parse(&f, b, sizeof b), ATTN_ERR_FORMAT);
        assert_null(f);
        if (lengths[i] > 6) expect_message("exceeds the 6 bytes that follow it");
        else expect_message("header");
    }
    /* Length 2 is right but the four bytes after the header belong to no tensor. */
    b[0] = 2;
    for (int k = 1; k < 8; k++) b[k] = 0;
    st_file *f = NULL;
    assert_int_equal(st_parse(&f, b, sizeof b), ATTN_ERR_FORMAT);
    expect_message("belong to no tensor");
    assert_int_equal(st_parse(&f, b, 8 + 2), ATTN_OK);
    st_close(f);
    /* Shorter than the length field itself. */
    for (size_t n = 0; n < 8; n++) {
        assert_int_equal(st_parse(&f, b, n), ATTN_ERR_FORMAT);
        expect_message("too short");
    }
}

static void refuses_bad_json_header(void **state)
{
    (void)state;
    expect_format("", 0, "expected a value");
    expect_format("{\"a\":", 0, "expected a value");
    expect_format("{" ENTRY("a", "U8", "[1]", 0, 1) ",}", 1, "expected a string key");
    expect_format("{" ENTRY("a", "U8", "[1]", 0, 1) "}}", 1, "trailing characters");
    expect_format("{" ENTRY("a", "U8", "[1]", 0, 1) "," ENTRY("a", "U8", "[1]", 0, 1) "}", 1, "duplicate key");
    expect_format("[]", 0, "not a JSON object");
    expect_format("\"x\"", 0, "not a JSON object");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", 1, "only integers");
    /* Padding must be spaces (JSON whitespace), not NUL bytes. */
    expect_format_n("{}\0\0\0\0\0\0", 8, 0, "trailing characters");
    /* The JSON error names where it is: the header. */
    expect_format("{x}", 0, "safetensors buffer: header: ");
}

static void refuses_bad_tensor_entries(void **state)
{
    (void)state;
    expect_format("{\"a\":5}", 0, "tensor \"a\": entry is not an object");
    expect_format("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "\"dtype\" missing");
    expect_format("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "\"dtype\" missing or not a string");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "\"shape\" missing");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1, "\"shape\" missing");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "\"data_offsets\" must be");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":0}}", 1,
                  "unknown field \"x\"");
    expect_format("{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object");
    expect_format("{\"__metadata__\":{\"k\":1}}", 0, "metadata \"k\" is not a string");
    expect_format("{\"__metadata__\":{\"k\":null}}", 0, "metadata \"k\" is not a string");
}

static void refuses_unknown_dtypes(void **state)
{
    (void)state;
    expect_format("{" ENTRY("a", "F16", "[2]", 0, 4) "}", 4, "unsupported dtype \"F16\"");
    expect_format("{" ENTRY("a", "BF16", "[2]", 0, 4) "}", 4, "unsupported dtype \"BF16\"");
    expect_format("{" ENTRY("a", "f32", "[1]", 0, 4) "}", 4, "unsupported dtype \"f32\"");
    expect_format("{" ENTRY("a", "", "[1]", 0, 4) "}", 4, "unsupported dtype \"\"");
}

static void refuses_bad_shapes(void **state)
{
    (void)state;
    expect_format("{" ENTRY("a", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) "}", 1, "9 dimensions, at most 8");
    expect_format("{" ENTRY("a", "U8", "[2,-1]", 0, 1) "}", 1, "shape[1] is not a non-negative integer");
    expect_format("{" ENTRY("a", "U8", "[\"1\"]", 0, 1) "}", 1, "shape[0] is not a non-negative integer");
    expect_format("{" ENTRY("a", "U8", "[[1]]", 0, 1) "}", 1, "shape[0] is not a non-negative integer");
    /* Products that overflow 64 bits, in elements and in bytes. */
    expect_format("{" ENTRY("a", "U8", "[4294967296,4294967296,4294967296]", 0, 1) "}", 1, "is too large");
    expect_format("{" ENTRY("a", "I64", "[4611686018427387904]", 0, 1) "}", 1, "is too large");
    /* Eight dimensions are allowed. */
    st_file *f = parse_ok("{" ENTRY("a", "U8", "[1,1,1,1,1,1,1,2]", 0, 2) "}", "xy", 2);
    assert_int_equal(st_get(f, 0)->ndim, 8);
    st_close(f);
}

static void refuses_bad_offsets(void **state)
{
    (void)state;
    expect_format("{" ENTRY("a", "F32", "[3]", 0, 8) "}", 8,
                  "data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12");
    expect_format("{" ENTRY("a", "F32", "[2,2]", 0, 8) "}", 8, "shape [2, 2] of F32 needs 16");
    expect_format("{" ENTRY("a", "U8", "[4]", 0, 4) "}", 3, "run past the 3-byte data section");
    expect_format("{" ENTRY("a", "U8", "[0]", 4, 4) "}", 3, "run past");
    expect_format("{" ENTRY("a", "U8", "[1]", 2, 1) "}", 3, "end before they begin");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1, "\"data_offsets\" must be");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1, "\"data_offsets\" must be");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1, "\"data_offsets\" must be");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[\"0\",1]}}", 1,
                  "\"data_offsets\" must be");
    expect_format("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}}", 1, "\"data_offsets\" must be");
    expect_format("{" ENTRY("a", "U8", "[1]", 18446744073709551615, 18446744073709551615) "}", 1, "int64 range");
}

static void refuses_overlaps_and_gaps(void **state)
{
    (void)state;
    expect_format("{" ENTRY("a", "F32", "[2]", 0, 8) "," ENTRY("b", "F32", "[2]", 4, 12) "}", 12,
                  "tensors \"a\" and \"b\" overlap");
    /* The same byte range twice. */
    expect_format("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("b", "I32", "[1]", 0, 4) "}", 4, "overlap");
    /* One range inside another, listed second and first. */
    expect_format("{" ENTRY("a", "U8", "[8]", 0, 8) "," ENTRY("b", "U8", "[2]", 2, 4) "}", 8, "overlap");
    expect_format("{" ENTRY("b", "U8", "[2]", 2, 4) "," ENTRY("a", "U8", "[8]", 0, 8) "}", 8, "overlap");
    /* Gaps: between tensors, before the first, after the last; data with no tensors at all. */
    expect_format("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("b", "F32", "[1]", 8, 12) "}", 12,
                  "data bytes [4, 8) before tensor \"b\" belong to no tensor");
    expect_format("{" ENTRY("a", "F32", "[1]", 4, 8) "}", 8, "data bytes [0, 4) before tensor \"a\"");
    expect_format("{" ENTRY("a", "F32", "[1]", 0, 4) "}", 8, "data bytes [4, 8) after the last tensor");
    expect_format("{}", 1, "data bytes [0, 1) after the last tensor");
    expect_format("{\"__metadata__\":{}}", 3, "after the last tensor");
    /* Tiling in any listing order is fine. */
    st_file *f = parse_ok("{" ENTRY("c", "U8", "[1]", 3, 4) "," ENTRY("a", "U8", "[2]", 0, 2) ","
                          ENTRY("e", "U8", "[0]", 4, 4) "," ENTRY("b", "U8", "[1]", 2, 3) "}",
                          "abcd", 4);
    assert_int_equal(st_count(f), 4);
    assert_memory_equal(st_find(f, "c")->data, "d", 1);
    st_close(f);
}

/* ---- Writing ---------------------------------------------------------------------------------------------- */

/* A fixed set of tensors covering every dtype, a scalar, an empty tensor, 8 dimensions, and a U8 of odd length
 * that leaves the following tensor unaligned in the file. */
typedef struct sample {
    float f32[6];
    double f64;
    int64_t i64[3];
    uint8_t u8[7];
    int32_t i32[2];
    float f32_8d[2];
    st_tensor t[7];
} sample;

static void make_sample(sample *s)
{
    memset(s, 0, sizeof *s);
    const float f32[6] = {1.5f, -0.0f, 3.0e-38f, -1.0e30f, 0.1f, 7.0f};
    memcpy(s->f32, f32, sizeof f32);
    s->f64 = -1.0 / 3.0;
    s->i64[0] = INT64_MIN;
    s->i64[1] = 0;
    s->i64[2] = INT64_MAX;
    for (int i = 0; i < 7; i++) s->u8[i] = (uint8_t)(250 + i);
    s->i32[0] = -7;
    s->i32[1] = 1 << 30;
    s->f32_8d[0] = 2.0f;
    s->f32_8d[1] = -4.0f;
    s->t[0] = (st_tensor){"weights/0", ST_F32, 2, {2, 3}, s->f32, sizeof s->f32};
    s->t[1] = (st_tensor){"scalar", ST_F64, 0, {0}, &s->f64, 8};
    s->t[2] = (st_tensor){"empty", ST_I32, 2, {0, 5}, NULL, 0};
    s->t[3] = (st_tensor){"i64", ST_I64, 1, {3}, s->i64, sizeof s->i64};
    s->t[4] = (st_tensor){"bytes", ST_U8, 1, {7}, s->u8, 7};
    s->t[5] = (st_tensor){"unaligned \"i32\"\n", ST_I32, 2, {1, 2}, s->i32, 8};
    s->t[6] = (st_tensor){"eight.d\xc3\xa9", ST_F32, 8, {1, 1, 1, 1, 1, 1, 1, 2}, s->f32_8d, 8};
}

static const char *const sample_keys[] = {"format", "quote\"back\\slash", "lines\n\t", "unicode \xc3\xa9\xe2\x9c\x93",
                                          "empty"};
static const char *const sample_values[] = {"test", "v\"\\", "a\nb\x01", "\xf0\x9f\x98\x80", ""};
#define N_SAMPLE_META 5

static void check_sample(const st_file *f, const sample *s)
{
    assert_int_equal(st_count(f), 7);
    for (int i = 0; i < 7; i++) {
        const st_tensor *want = &s->t[i], *got = st_get(f, i); /* the writer keeps the given order */
        assert_string_equal(got->name, want->name);
        assert_int_equal(got->dtype, want->dtype);
        assert_int_equal(got->ndim, want->ndim);
        for (int d = 0; d < want->ndim; d++) assert_true(got->shape[d] == want->shape[d]);
        assert_int_equal(got->nbytes, want->nbytes);
        if (want->nbytes) assert_memory_equal(got->data, want->data, want->nbytes);
        assert_ptr_equal(st_find(f, want->name), got);
    }
    assert_int_equal(st_meta_count(f), N_SAMPLE_META);
    for (int i = 0; i < N_SAMPLE_META; i++) {
        const char *key, *value;
        st_meta_entry(f, i, &key, &value);
        assert_string_equal(key, sample_keys[i]);
        assert_string_equal(value, sample_values[i]);
        assert_string_equal(st_meta(f, sample_keys[i]), sample_values[i]);
    }
}

static void write_then_read(void **state)
{
    (void)state;
    sample s;
    make_sample(&s);
    const char *path = in_dir("sample.safetensors");
    assert_int_equal(st_write(path, s.t, 7, sample_keys, sample_values, N_SAMPLE_META), ATTN_OK);
    assert_int_equal(count_temp_files(), 0);

    /* The layout itself, checked on the raw bytes. */
    size_t n;
    unsigned char *b = read_file_bytes(path, &n);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | b[i];
    size_t data_len = 0;
    for (int i = 0; i < 7; i++) data_len += s.t[i].nbytes;
    assert_true(header_len % 8 == 0);
    assert_true(8 + header_len + data_len == n);
    assert_int_equal(b[8], '{');
    size_t close = 8 + (size_t)header_len - 1;
    while (b[close] == ' ') close--;
    assert_int_equal(b[close], '}');
    assert_true(8 + header_len - 1 - close < 8); /* at most 7 bytes of padding */
    assert_memory_equal(b + 8 + header_len, s.f32, sizeof s.f32); /* the first tensor starts the data */
    assert_memory_equal(b + n - 8, s.f32_8d, 8);                   /* and the last ends it */

    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    check_sample(f, &s);
    st_close(f);
    /* The same through memory. */
    assert_int_equal(st_parse(&f, b, n), ATTN_OK);
    check_sample(f, &s);
    st_close(f);
    free(b);

    /* Nothing at all is a valid file too. */
    path = in_dir("empty.safetensors");
    assert_int_equal(st_write(path, NULL, 0, NULL, NULL, 0), ATTN_OK);
    assert_int_equal(st_open(&f, path), ATTN_OK);
    assert_int_equal(st_count(f), 0);
    assert_int_equal(st_meta_count(f), 0);
    st_close(f);
}

static void overwrite_replaces_the_file(void **state)
{
    (void)state;
    const char *path = in_dir("replace.safetensors");
    uint8_t first[3] = {1, 2, 3}, second[2] = {9, 8};
    st_tensor t = {"x", ST_U8, 1, {3}, first, 3};
    assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0), ATTN_OK);
    t = (st_tensor){"y", ST_U8, 1, {2}, second, 2};
    assert_int_equal(st_write(path, &t, 1, NULL, NULL, 0), ATTN_OK);
    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    assert_int_equal(st_count(f), 1);
    assert_null(st_find(f, "x"));
    assert_memory_equal(st_find(f, "y")->data, second, 2);
    st_close(f);
    assert_int_equal(count_temp_files(), 0);
}

static void failed_writes_leave_nothing(void **state)
{
    (void)state;
    uint8_t v[3] = {1, 2, 3};
    st_tensor t = {"x", ST_U8, 1, {3}, v, 3};

    /* A directory that does not exist. */
    const char *missing = in_dir("no/such/dir/model.safetensors");
    assert_int_equal(st_write(missing, &t, 1, NULL, NULL, 0), ATTN_ERR_IO);
    expect_message("cannot create");
    assert_false(exists(in_dir("no")));

    /* The path is a directory: everything is written, the rename fails, the temporary file goes. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s", in_dir("a_directory"));
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(st_write(dir, &t, 1, NULL, NULL, 0), ATTN_ERR_IO);
    expect_message("rename");
    assert_int_equal(count_temp_files(), 0);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    /* A good file stays as it was when a save over it fails: no descriptor left for the temporary file, or
     * the disk full part-way through the write. */
    char good[600];
    snprintf(good, sizeof good, "%s", in_dir("good.safetensors"));
    assert_int_equal(st_write(good, &t, 1, NULL, NULL, 0), ATTN_OK);
    size_t n_before;
    unsigned char *before = read_file_bytes(good, &n_before);
    uint8_t w[1] = {42};
    st_tensor other = {"other", ST_U8, 1, {1}, w, 1};
    if (limit_enforced(RLIMIT_NOFILE)) {
        limit_push(RLIMIT_NOFILE, lowest_free_descriptor());
        assert_int_equal(limit_pop(st_write(good, &other, 1, NULL, NULL, 0)), ATTN_ERR_IO);
        expect_message("cannot create");
    }
    if (limit_enforced(RLIMIT_FSIZE)) {
        limit_push(RLIMIT_FSIZE, 64);
        assert_int_equal(limit_pop(st_write(good, &other, 1, NULL, NULL, 0)), ATTN_ERR_IO);
        expect_message("unchanged");
    }
    size_t n_after;
    unsigned char *after = read_file_bytes(good, &n_after);
    assert_int_equal(n_after, n_before);
    assert_memory_equal(after, before, n_before);
    assert_int_equal(count_temp_files(), 0);
    free(after);

    /* Names left by a killed writer with this pid are stepped over, never adopted or blocking. */
    char tmp[700];
    for (int k = 0; k < 500; k++) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%d", good, (long)getpid(), k);
        assert_int_equal(mkdir(tmp, 0700), 0);
    }
    assert_int_equal(st_write(good, &other, 1, NULL, NULL, 0), ATTN_OK);
    after = read_file_bytes(good, &n_after);
    assert_true(n_after != n_before || memcmp(after, before, n_before) != 0);
    for (int k = 0; k < 500; k++) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%d", good, (long)getpid(), k);
        assert_int_equal(rmdir(tmp), 0);
    }
    free(before);
    free(after);
}

static void writer_refuses_bad_arguments(void **state)
{
    (void)state;
    const char *path = in_dir("refused.safetensors");
    float v[4] = {0};
    const char *key[2] = {"k", "k"}, *value[2] = {"a", "b"};
    const char *bad_utf8 = "\xff";
    static const struct {
        st_tensor t;
        attn_status want;
        const char *fragment;
    } cases[] = {
        {{NULL, ST_F32, 1, {4}, NULL, 16}, ATTN_ERR_NULL, "tensor name 0 is NULL"},
        {{"a", ST_F32, 1, {4}, NULL, 16}, ATTN_ERR_NULL, "data is NULL"},
        {{"a", ST_F32, 1, {4}, NULL, 12}, ATTN_ERR_SIZE, "nbytes is 12 but shape [4] of F32 needs 16"},
        {{"a", ST_F32, 1, {-4}, NULL, 0}, ATTN_ERR_INVALID, "negative"},
        {{"a", ST_F32, 9, {1}, NULL, 4}, ATTN_ERR_INVALID, "ndim 9"},
        {{"a", ST_F32, -1, {1}, NULL, 4}, ATTN_ERR_INVALID, "ndim -1"},
        {{"a", (st_dtype)7, 1, {1}, NULL, 4}, ATTN_ERR_INVALID, "unknown dtype 7"},
        {{"__metadata__", ST_F32, 1, {1}, NULL, 4}, ATTN_ERR_INVALID, "cannot be called"},
        {{"a", ST_U8, 3, {4294967296, 4294967296, 4294967296}, NULL, 0}, ATTN_ERR_SIZE, "too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st_tensor t = cases[i].t;
        if (i != 1 && t.nbytes) t.data = v;
        attn_status st = st_write(path, &t, 1, NULL, NULL, 0);
        if (st != cases[i].want) fail_msg("case %zu: status %d, expected %d", i, (int)st, (int)cases[i].want);
        expect_message(cases[i].fragment);
    }
    st_tensor two[2] = {{"a", ST_F32, 1, {1}, v, 4}, {"a", ST_F32, 1, {1}, v, 4}};
    assert_int_equal(st_write(path, two, 2, NULL, NULL, 0), ATTN_ERR_INVALID);
    expect_message("two tensors are called \"a\"");
    two[1].name = bad_utf8;
    assert_int_equal(st_write(path, two, 2, NULL, NULL, 0), ATTN_ERR_INVALID);
    expect_message("not valid UTF-8");
    assert_int_equal(st_write(path, two, 1, key, value, 2), ATTN_ERR_INVALID);
    expect_message("two metadata entries are called \"k\"");
    assert_int_equal(st_write(path, two, 1, &bad_utf8, value, 1), ATTN_ERR_INVALID);
    assert_int_equal(st_write(path, two, 1, key, NULL, 1), ATTN_ERR_NULL);
    assert_int_equal(st_write(path, NULL, 1, NULL, NULL, 0), ATTN_ERR_NULL);
    assert_int_equal(st_write(NULL, two, 1, NULL, NULL, 0), ATTN_ERR_NULL);
    assert_int_equal(st_write(path, two, -1, NULL, NULL, 0), ATTN_ERR_INVALID);
    /* None of these created anything. */
    assert_false(exists(path));
    assert_int_equal(count_temp_files(), 0);
}

/* ---- Truncation, corruption, API misuse ------------------------------------------------------------------- */

static unsigned char *small_valid_file(size_t *n)
{
    const char *path = in_dir("small.safetensors");
    float w[3] = {1.0f, 2.0f, 3.0f};
    uint8_t u[2] = {5, 6};
    st_tensor t[2] = {{"w", ST_F32, 2, {1, 3}, w, 12}, {"u", ST_U8, 1, {2}, u, 2}};
    const char *k = "format", *v = "attnagent";
    assert_int_equal(st_write(path, t, 2, &k, &v, 1), ATTN_OK);
    return read_file_bytes(path, n);
}

static void every_prefix_is_refused(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = small_valid_file(&n);
    st_file *f = NULL;
    assert_int_equal(st_parse(&f, b, n), ATTN_OK); /* the control: the whole file is fine */
    st_close(f);
    const char *path = in_dir("prefix.safetensors");
    for (size_t len = 0; len < n; len++) {
        f = (st_file *)&f;
        attn_status st = st_parse(&f, b, len);
        if (st != ATTN_ERR_FORMAT) fail_msg("prefix of %zu/%zu bytes: status %d", len, n, (int)st);
        assert_null(f);
        write_file_bytes(path, b, len);
        st = st_open(&f, path);
        if (st != ATTN_ERR_FORMAT && st != ATTN_ERR_IO) fail_msg("file of %zu/%zu bytes: status %d", len, n, (int)st);
        assert_null(f);
        if (len > 0) expect_message(path);
    }
    free(b);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random damage to a valid file: the reader must answer OK or ATTN_ERR_FORMAT, and whatever it accepts must be
 * self-consistent. Mostly useful under ASan/UBSan, where an out-of-bounds read fails the test. */
static void random_corruption_is_survived(void **state)
{
    (void)state;
    size_t n;
    unsigned char *valid = small_valid_file(&n);
    static const char alphabet[] = "{}[]\":,\\ -0123456789eEu.F3U8I6dtypshaofn";
    unsigned char *b = malloc(n + 64);
    assert_non_null(b);
    uint64_t rng = 0x9E3779B97F4A7C15u;
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = n;
        memcpy(b, valid, n);
        int edits = 1 + (int)(xorshift(&rng) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(xorshift(&rng) % len);
            switch (xorshift(&rng) % 5) {
            case 0: b[at] = (unsigned char)xorshift(&rng); break;
            case 1: b[at] = (unsigned char)alphabet[xorshift(&rng) % (sizeof alphabet - 1)]; break;
            case 2: /* delete a byte */
                memmove(b + at, b + at + 1, len - at - 1);
                len--;
                break;
            case 3: /* duplicate a byte */
                if (len < n + 63) {
                    memmove(b + at + 1, b + at, len - at);
                    len++;
                }
                break;
            default: b[at % 8] = (unsigned char)xorshift(&rng); break; /* the length field */
            }
        }
        st_file *f = NULL;
        attn_status st = st_parse(&f, b, len);
        if (st != ATTN_OK && st != ATTN_ERR_FORMAT) fail_msg("iteration %d: status %d", iter, (int)st);
        if (st != ATTN_OK) continue;
        accepted++;
        size_t total = 0;
        for (int i = 0; i < st_count(f); i++) {
            const st_tensor *t = st_get(f, i);
            size_t numel = 1;
            for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
            assert_int_equal(t->nbytes, numel * st_dtype_size(t->dtype));
            total += t->nbytes;
            volatile unsigned char sink = 0;
            for (size_t k = 0; k < t->nbytes; k++) sink ^= ((const unsigned char *)t->data)[k];
            (void)sink;
        }
        assert_true(total <= len);
        st_close(f);
    }
    /* Some edits (e.g. inside a metadata value or the float data) keep the file valid. */
    assert_true(accepted > 0);
    free(b);
    free(valid);
}

static void open_errors(void **state)
{
    (void)state;
    st_file *f = (st_file *)&f;
    assert_int_equal(st_open(&f, in_dir("does-not-exist")), ATTN_ERR_IO);
    assert_null(f);
    expect_message("does-not-exist");
    assert_int_equal(st_open(&f, st_dir), ATTN_ERR_IO);
    expect_message("not a regular file");
    const char *empty = in_dir("empty-file");
    write_file_bytes(empty, "", 0);
    assert_int_equal(st_open(&f, empty), ATTN_ERR_FORMAT);
    expect_message("too short");
}

static void null_arguments(void **state)
{
    (void)state;
    st_file *f = NULL;
    assert_int_equal(st_open(NULL, "x"), ATTN_ERR_NULL);
    assert_int_equal(st_open(&f, NULL), ATTN_ERR_NULL);
    assert_int_equal(st_parse(NULL, "x", 1), ATTN_ERR_NULL);
    assert_int_equal(st_parse(&f, NULL, 1), ATTN_ERR_NULL);
    assert_int_equal(st_parse(&f, NULL, 0), ATTN_ERR_FORMAT); /* nothing is too short, not a NULL misuse */
    json_doc *doc;
    assert_int_equal(json_parse(NULL, "{}", 2, "x"), ATTN_ERR_NULL);
    assert_int_equal(json_parse(&doc, NULL, 2, "x"), ATTN_ERR_NULL);
    st_close(NULL);
    json_free(NULL);
    assert_int_equal(st_count(NULL), 0);
    assert_null(st_get(NULL, 0));
    assert_null(st_find(NULL, "x"));
    assert_null(st_meta(NULL, "x"));
    assert_int_equal(st_meta_count(NULL), 0);
    const char *k = "x", *v = "y";
    st_meta_entry(NULL, 0, &k, &v);
    assert_null(k);
    assert_null(v);
    assert_null(json_root(NULL));
    assert_null(json_get(NULL, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_decodes_every_construct),
        cmocka_unit_test(json_refuses_malformed_text),
        cmocka_unit_test(json_depth_limit_is_exact),
        cmocka_unit_test(json_writer_round_trips_strings),
        cmocka_unit_test(dtype_table),
        cmocka_unit_test(reads_a_hand_built_file),
        cmocka_unit_test(refuses_bad_header_length),
        cmocka_unit_test(refuses_bad_json_header),
        cmocka_unit_test(refuses_bad_tensor_entries),
        cmocka_unit_test(refuses_unknown_dtypes),
        cmocka_unit_test(refuses_bad_shapes),
        cmocka_unit_test(refuses_bad_offsets),
        cmocka_unit_test(refuses_overlaps_and_gaps),
        cmocka_unit_test(write_then_read),
        cmocka_unit_test(overwrite_replaces_the_file),
        cmocka_unit_test(failed_writes_leave_nothing),
        cmocka_unit_test(writer_refuses_bad_arguments),
        cmocka_unit_test(every_prefix_is_refused),
        cmocka_unit_test(random_corruption_is_survived),
        cmocka_unit_test(open_errors),
        cmocka_unit_test(null_arguments),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
