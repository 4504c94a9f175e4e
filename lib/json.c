#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

#define NO_NODE SIZE_MAX

/* Nodes live in one array that grows while parsing, so links are indices until the parse is over; only then
 * are they turned into the pointers json_value exposes. */
typedef struct node {
    json_value v;
    size_t child;
    size_t next;
} node;

struct json_doc {
    node *nodes;
    size_t n_nodes;
    size_t cap_nodes;
    /* Decoded strings and keys. A string token of k bytes decodes to at most k - 1 bytes plus its NUL, so an
     * arena as long as the text always suffices and never moves. */
    char *arena;
    size_t arena_used;
};

typedef struct parser {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    json_doc *doc;
    const char *what;
} parser;

static attn_status syntax_error(const parser *ps, const char *problem)
{
    return fail(ATTN_ERR_FORMAT, "%s: %s at byte %zu", ps->what, problem, (size_t)(ps->p - ps->start));
}

/* Length of the valid UTF-8 sequence starting at `s` (at most `avail` bytes), or 0 if it is not one. Refuses
 * overlong forms, surrogates and code points above U+10FFFF (RFC 3629). */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (avail < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

int json_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] == 0) return 0;
        size_t n = utf8_sequence(u + i, len - i);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

static void skip_whitespace(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static attn_status new_node(parser *ps, json_type type, size_t *index)
{
    json_doc *d = ps->doc;
    if (d->n_nodes == d->cap_nodes) {
        size_t cap = d->cap_nodes ? d->cap_nodes * 2 : 16;
        if (cap > SIZE_MAX / sizeof(node)) return fail(ATTN_ERR_NOMEM, "%s: too many JSON values", ps->what);
        node *grown = realloc(d->nodes, cap * sizeof(node));
        if (!grown) return fail(ATTN_ERR_NOMEM, "%s: out of memory for %zu JSON values", ps->what, cap);
        d->nodes = grown;
        d->cap_nodes = cap;
    }
    node *nd = &d->nodes[d->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->v.type = type;
    nd->child = NO_NODE;
    nd->next = NO_NODE;
    *index = d->n_nodes++;
    return ATTN_OK;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape; ps->p points at the 'u'. */
static attn_status read_u_escape(parser *ps, unsigned *code)
{
    if (ps->end - ps->p < 5) return syntax_error(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 1; i <= 4; i++) {
        int h = hex_value(ps->p[i]);
        if (h < 0) return syntax_error(ps, "\\u escape needs 4 hex digits");
        v = v * 16 + (unsigned)h;
    }
    ps->p += 5;
    *code = v;
    return ATTN_OK;
}

static size_t encode_utf8(unsigned code, char *out)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (char)(0xE0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code >> 18));
    out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code & 0x3F));
    return 4;
}

/* Decodes the string token at ps->p (which is '"') into the arena. */
static attn_status parse_string(parser *ps, const char **out, size_t *out_len)
{
    json_doc *d = ps->doc;
    char *dst = d->arena + d->arena_used;
    size_t n = 0;
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) return syntax_error(ps, "unterminated string");
        unsigned char c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) return syntax_error(ps, "unescaped control character in string");
        if (c != '\\') {
            size_t len = utf8_sequence(ps->p, (size_t)(ps->end - ps->p));
            if (len == 0) return syntax_error(ps, "invalid UTF-8 in string");
            memcpy(dst + n, ps->p, len);
            n += len;
            ps->p += len;
            continue;
        }
        if (ps->end - ps->p < 2) return syntax_error(ps, "unterminated escape");
        ps->p++;
        char simple = 0;
        switch (*ps->p) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return syntax_error(ps, "unknown escape in string");
        }
        if (simple) {
            dst[n++] = simple;
            ps->p++;
            continue;
        }
        unsigned code;
        attn_status st = read_u_escape(ps, &code);
        if (st != ATTN_OK) return st;
        if (code >= 0xDC00 && code <= 0xDFFF) return syntax_error(ps, "unpaired low surrogate in \\u escape");
        if (code >= 0xD800 && code <= 0xDBFF) {
            if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                return syntax_error(ps, "unpaired high surrogate in \\u escape");
            ps->p++;
            unsigned low;
            st = read_u_escape(ps, &low);
            if (st != ATTN_OK) return st;
            if (low < 0xDC00 || low > 0xDFFF) return syntax_error(ps, "high surrogate not followed by a low one");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        if (code == 0) return syntax_error(ps, "\\u0000 is not supported in strings");
        n += encode_utf8(code, dst + n);
    }
    dst[n] = '\0';
    d->arena_used += n + 1;
    *out = dst;
    *out_len = n;
    return ATTN_OK;
}

static attn_status parse_integer(parser *ps, int64_t *out)
{
    int negative = 0;
    if (*ps->p == '-') {
        negative = 1;
        ps->p++;
    }
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return syntax_error(ps, "expected a digit");
    /* Accumulate negatively: the magnitude of INT64_MIN exceeds INT64_MAX. */
    int64_t acc = 0;
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') return syntax_error(ps, "leading zero in number");
    } else {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            int digit = *ps->p - '0';
            if (acc < INT64_MIN / 10 || (acc == INT64_MIN / 10 && digit > -(INT64_MIN % 10)))
                return syntax_error(ps, "integer out of the int64 range");
            acc = acc * 10 - digit;
            ps->p++;
        }
    }
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
        return syntax_error(ps, "only integers are supported, not fractions or exponents");
    if (!negative) {
        if (acc == INT64_MIN) return syntax_error(ps, "integer out of the int64 range");
        acc = -acc;
    }
    *out = acc;
    return ATTN_OK;
}

static attn_status parse_value(parser *ps, int depth, size_t *index);

/* Parses the elements (or members, when `object`) of a container whose opening bracket was just consumed. */
static attn_status parse_container(parser *ps, int depth, size_t self, int object)
{
    const unsigned char close = object ? '}' : ']';
    size_t last = NO_NODE, count = 0;
    skip_whitespace(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return ATTN_OK;
    }
    for (;;) {
        const char *key = NULL;
        if (object) {
            skip_whitespace(ps);
            if (ps->p >= ps->end || *ps->p != '"') return syntax_error(ps, "expected a string key");
            size_t key_len;
            attn_status st = parse_string(ps, &key, &key_len);
            if (st != ATTN_OK) return st;
            skip_whitespace(ps);
            if (ps->p >= ps->end || *ps->p != ':') return syntax_error(ps, "expected ':' after a key");
            ps->p++;
        }
        size_t child;
        attn_status st = parse_value(ps, depth + 1, &child);
        if (st != ATTN_OK) return st;
        node *nodes = ps->doc->nodes; /* reload: parse_value may have moved the array */
        nodes[child].v.key = key;
        if (last == NO_NODE) nodes[self].child = child;
        else nodes[last].next = child;
        last = child;
        count++;
        skip_whitespace(ps);
        if (ps->p >= ps->end) return syntax_error(ps, object ? "unterminated object" : "unterminated array");
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        if (*ps->p != ',') return syntax_error(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        ps->p++;
    }
    ps->doc->nodes[self].v.count = count;
    return ATTN_OK;
}

static int match_literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static attn_status parse_value(parser *ps, int depth, size_t *index)
{
    if (depth > JSON_MAX_DEPTH) return syntax_error(ps, "nesting too deep");
    skip_whitespace(ps);
    if (ps->p >= ps->end) return syntax_error(ps, "expected a value");
    unsigned char c = *ps->p;
    attn_status st;
    if (c == '{' || c == '[') {
        st = new_node(ps, c == '{' ? JSON_OBJECT : JSON_ARRAY, index);
        if (st != ATTN_OK) return st;
        ps->p++;
        return parse_container(ps, depth, *index, c == '{');
    }
    if (c == '"') {
        const char *s;
        size_t len;
        st = parse_string(ps, &s, &len);
        if (st != ATTN_OK) return st;
        st = new_node(ps, JSON_STRING, index);
        if (st != ATTN_OK) return st;
        ps->doc->nodes[*index].v.string = s;
        ps->doc->nodes[*index].v.length = len;
        return ATTN_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        int64_t v = 0;
        st = parse_integer(ps, &v);
        if (st != ATTN_OK) return st;
        st = new_node(ps, JSON_INT, index);
        if (st != ATTN_OK) return st;
        ps->doc->nodes[*index].v.integer = v;
        return ATTN_OK;
    }
    if (match_literal(ps, "true")) return new_node(ps, JSON_TRUE, index);
    if (match_literal(ps, "false")) return new_node(ps, JSON_FALSE, index);
    if (match_literal(ps, "null")) return new_node(ps, JSON_NULL, index);
    return syntax_error(ps, "unexpected character");
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses any object with two members of the same name: a header must not mean two things. Sorting keeps this
 * O(n log n) on headers with very many tensors. */
static attn_status check_duplicate_keys(const json_doc *d, const char *what)
{
    size_t max_count = 0;
    for (size_t i = 0; i < d->n_nodes; i++)
        if (d->nodes[i].v.type == JSON_OBJECT && d->nodes[i].v.count > max_count) max_count = d->nodes[i].v.count;
    if (max_count < 2) return ATTN_OK;
    const char **keys = malloc(max_count * sizeof *keys);
    if (!keys) return fail(ATTN_ERR_NOMEM, "%s: out of memory checking %zu keys", what, max_count);
    attn_status st = ATTN_OK;
    for (size_t i = 0; i < d->n_nodes && st == ATTN_OK; i++) {
        const node *obj = &d->nodes[i];
        if (obj->v.type != JSON_OBJECT || obj->v.count < 2) continue;
        size_t k = 0;
        for (size_t c = obj->child; c != NO_NODE; c = d->nodes[c].next) keys[k++] = d->nodes[c].v.key;
        qsort(keys, k, sizeof *keys, compare_keys);
        for (size_t j = 1; j < k; j++) {
            if (strcmp(keys[j - 1], keys[j]) == 0) {
                st = fail(ATTN_ERR_FORMAT, "%s: duplicate key \"%s\"", what, keys[j]);
                break;
            }
        }
    }
    free(keys);
    return st;
}

void json_free(json_doc *doc)
{
    if (!doc) return;
    free(doc->nodes);
    free(doc->arena);
    free(doc);
}

attn_status json_parse(json_doc **out, const char *text, size_t len, const char *what)
{
    attn_status st = check_not_null(out, "out");
    if (st != ATTN_OK) return st;
    *out = NULL;
    if (!what) what = "JSON";
    if (!text && len > 0) return check_not_null(text, "text");

    json_doc *d = calloc(1, sizeof *d);
    if (!d) return fail(ATTN_ERR_NOMEM, "%s: out of memory", what);
    d->arena = malloc(len + 1);
    if (!d->arena) {
        free(d);
        return fail(ATTN_ERR_NOMEM, "%s: out of memory for a %zu-byte JSON text", what, len);
    }
    const unsigned char *start = (const unsigned char *)(text ? text : "");
    parser ps = {start, start, start + len, d, what};
    size_t root;
    st = parse_value(&ps, 1, &root);
    if (st == ATTN_OK) {
        skip_whitespace(&ps);
        if (ps.p != ps.end) st = syntax_error(&ps, "trailing characters after the JSON value");
    }
    if (st == ATTN_OK) st = check_duplicate_keys(d, what);
    if (st != ATTN_OK) {
        json_free(d);
        return st;
    }
    for (size_t i = 0; i < d->n_nodes; i++) {
        node *nd = &d->nodes[i];
        nd->v.child = nd->child == NO_NODE ? NULL : &d->nodes[nd->child].v;
        nd->v.next = nd->next == NO_NODE ? NULL : &d->nodes[nd->next].v;
    }
    *out = d;
    return ATTN_OK;
}

const json_value *json_root(const json_doc *doc)
{
    /* The root is the first node created. */
    return doc && doc->n_nodes > 0 ? &doc->nodes[0].v : NULL;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT || !key) return NULL;
    for (const json_value *m = obj->child; m; m = m->next)
        if (strcmp(m->key, key) == 0) return m;
    return NULL;
}

/* ---- Writing ---------------------------------------------------------------------------------------------- */

void json_buf_init(json_buf *b) { memset(b, 0, sizeof *b); }

void json_buf_free(json_buf *b)
{
    free(b->data);
    json_buf_init(b);
}

void json_buf_raw(json_buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (n >= SIZE_MAX - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void json_buf_string(json_buf *b, const char *s)
{
    json_buf_raw(b, "\"", 1);
    const char *run = s; /* bytes that need no escaping are appended in runs */
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != 0 && c != '"' && c != '\\' && c >= 0x20) continue;
        json_buf_raw(b, run, (size_t)(p - run));
        if (c == 0) break;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            json_buf_raw(b, esc, 2);
        } else {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            json_buf_raw(b, esc, 6);
        }
        run = p + 1;
    }
    json_buf_raw(b, "\"", 1);
}

void json_buf_int(json_buf *b, int64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRId64, v);
    json_buf_raw(b, digits, (size_t)n);
}

attn_status json_buf_status(const json_buf *b)
{
    return b->failed ? fail(ATTN_ERR_NOMEM, "out of memory building a JSON text") : ATTN_OK;
}
