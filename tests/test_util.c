#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t trng_next(test_rng *r)
{
    /* splitmix64: enough for test data, and unrelated to the library's xoshiro stream. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double trng_uniform(test_rng *r) { return (double)(trng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

float trng_range(test_rng *r, float lo, float hi) { return lo + (hi - lo) * (float)trng_uniform(r); }

int trng_int(test_rng *r, int n) { return (int)(trng_uniform(r) * n); }

void fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = trng_range(r, lo, hi);
}

attn_config *tiny_config(void)
{
    attn_config *c = NULL;
    if (attn_config_create(&c, ATTN_PRESET_MINATAR)) return NULL;
    attn_config_set(c, ATTN_CFG_OBS_H, 6);
    attn_config_set(c, ATTN_CFG_OBS_W, 5);
    attn_config_set(c, ATTN_CFG_OBS_C, 3);
    attn_config_set(c, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32);
    attn_config_set(c, ATTN_CFG_NUM_ACTIONS, 3);
    attn_config_set(c, ATTN_CFG_CONV_LAYERS, 2);
    attn_config_set_conv(c, 0, 4, 3, 1, 1);
    attn_config_set_conv(c, 1, 5, 2, 2, 1); /* stride 2 and an even kernel: 6×5 → 4×3 */
    attn_config_set(c, ATTN_CFG_LSTM_CHANNELS, 6);
    attn_config_set(c, ATTN_CFG_KEY_CHANNELS, 2);
    attn_config_set(c, ATTN_CFG_BASIS_U, 2);
    attn_config_set(c, ATTN_CFG_BASIS_V, 3);
    attn_config_set(c, ATTN_CFG_NUM_QUERIES, 2);
    attn_config_set(c, ATTN_CFG_CORE_UNITS, 5);
    attn_config_set_mlp_hidden(c, ATTN_MLP_QUERY, 0, 7);
    attn_config_set(c, ATTN_CFG_ANSWER_LAYERS, 2);
    attn_config_set_mlp_hidden(c, ATTN_MLP_ANSWER, 0, 9);
    attn_config_set_mlp_hidden(c, ATTN_MLP_ANSWER, 1, 8);
    attn_config_set(c, ATTN_CFG_THREADS, 1);
    if (attn_config_validate(c)) {
        attn_config_destroy(c);
        return NULL;
    }
    return c;
}

attn_config *minatar_config(int C, int A)
{
    attn_config *c = NULL;
    if (attn_config_create(&c, ATTN_PRESET_MINATAR)) return NULL;
    attn_config_set(c, ATTN_CFG_OBS_C, C);
    attn_config_set(c, ATTN_CFG_NUM_ACTIONS, A);
    return c;
}

void randomize_params(attn_model *m, uint64_t seed, float scale)
{
    test_rng r = {seed};
    float *params = attn_model_params(m);
    for (int i = 0; i < attn_model_tensor_count(m); i++) {
        int ndim;
        int64_t shape[4];
        size_t offset;
        attn_model_tensor(m, i, NULL, &ndim, shape, &offset);
        size_t numel = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        /* Weights keep the fan-in scaling so activations stay in the range where gradients are informative. */
        float bound = ndim == 1 ? 0.5f * scale : scale / sqrtf((float)(numel / (size_t)shape[0]));
        fill_uniform(&r, params + offset, numel, -bound, bound);
    }
}

double finite_difference(loss_fn loss, void *ctx, float *x, size_t i, float h)
{
    float keep = x[i];
    x[i] = keep + h;
    double up = loss(ctx);
    x[i] = keep - h;
    double down = loss(ctx);
    x[i] = keep;
    /* Divide by the step actually taken in float, not the nominal one. */
    return (up - down) / ((double)(keep + h) - (double)(keep - h));
}

double gradient_error(loss_fn loss, void *ctx, float *x, const float *analytic, size_t n, size_t count, float h,
                      double floor)
{
    size_t stride = count >= n ? 1 : n / count;
    double diff = 0.0, nf = 0.0, na = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        double fd = finite_difference(loss, ctx, x, i, h);
        diff += (fd - analytic[i]) * (fd - analytic[i]);
        nf += fd * fd;
        na += (double)analytic[i] * analytic[i];
    }
    double scale = fmax(fmax(sqrt(nf), sqrt(na)), floor);
    return sqrt(diff) / scale;
}

double directional_error(loss_fn loss, void *ctx, float *x, const float *analytic, size_t n, int directions,
                         float h, uint64_t seed)
{
    test_rng r = {seed};
    float *keep = malloc(sizeof(float) * n);
    signed char *sign = malloc(n);
    double diff = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) keep[i] = x[i];
    for (int k = 0; k < directions; k++) {
        double an = 0.0;
        for (size_t i = 0; i < n; i++) {
            sign[i] = trng_uniform(&r) < 0.5 ? -1 : 1;
            an += sign[i] * (double)analytic[i];
        }
        for (size_t i = 0; i < n; i++) x[i] = keep[i] + h * sign[i];
        double up = loss(ctx);
        for (size_t i = 0; i < n; i++) x[i] = keep[i] - h * sign[i];
        double down = loss(ctx);
        for (size_t i = 0; i < n; i++) x[i] = keep[i];
        double fd = (up - down) / (2.0 * h);
        diff += (fd - an) * (fd - an);
        norm += fmax(fd * fd, an * an);
    }
    free(keep);
    free(sign);
    return norm > 0.0 ? sqrt(diff / norm) : 0.0;
}

int scratch_dir_create(char *dir, size_t n, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, n, "%s/%sXXXXXX", base && *base ? base : "/tmp", prefix);
    return mkdtemp(dir) ? 0 : -1;
}

int scratch_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) rmdir(path);
    }
    closedir(d);
    return rmdir(dir);
}

unsigned char *read_file_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    assert_true(size >= 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return b;
}

void write_file_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static int pushed_resource = -1;
static struct rlimit pushed_limit;

void limit_push(int resource, uint64_t value)
{
    assert_int_equal(pushed_resource, -1); /* one at a time */
    assert_int_equal(getrlimit(resource, &pushed_limit), 0);
    if (resource == RLIMIT_FSIZE) signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of a killed process */
    struct rlimit tight = pushed_limit;
    tight.rlim_cur = (rlim_t)value;
    assert_int_equal(setrlimit(resource, &tight), 0);
    pushed_resource = resource;
}

attn_status limit_pop(attn_status st)
{
    assert_true(pushed_resource >= 0);
    assert_int_equal(setrlimit(pushed_resource, &pushed_limit), 0);
    pushed_resource = -1;
    return st;
}

uint64_t lowest_free_descriptor(void)
{
    const int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    return (uint64_t)fd;
}

int limit_enforced(int resource)
{
    int enforced = 0;
    if (resource == RLIMIT_NOFILE) {
        /* Enforced means what the kernel does: the create fails and leaves no file. (Under valgrind the kernel
         * creates the file and valgrind then refuses the descriptor, leaving the file behind.) */
        char probe[64];
        snprintf(probe, sizeof probe, "/tmp/attn_limit_probe_%ld", (long)getpid());
        limit_push(RLIMIT_NOFILE, lowest_free_descriptor());
        const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
        limit_pop(ATTN_OK);
        const int created = access(probe, F_OK) == 0;
        enforced = fd < 0 && !created;
        if (fd >= 0) close(fd);
        if (created) unlink(probe);
    } else if (resource == RLIMIT_FSIZE) {
        FILE *fp = tmpfile();
        assert_non_null(fp);
        static const char bytes[256];
        limit_push(RLIMIT_FSIZE, 64);
        const int wrote = fwrite(bytes, 1, sizeof bytes, fp) == sizeof bytes && fflush(fp) == 0;
        limit_pop(ATTN_OK);
        fclose(fp);
        enforced = !wrote;
    }
    if (!enforced) printf("note: resource limit %d is not enforced in this runtime; its cases are skipped\n", resource);
    return enforced;
}

uint64_t hash_floats(uint64_t h, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        h = (h ^ bits) * 1099511628211ull;
    }
    return h;
}
