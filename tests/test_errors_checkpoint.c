/*
 * Bad input to the model checkpoint calls, and "never loses data already saved": a save over an existing
 * checkpoint replaces it whole or not at all, and every failing save — unwritable directory, a temporary file
 * that cannot be created, non-finite weights or optimizer slots, a failing environment callback — leaves the
 * file that was there byte for byte as it was, and no temporary file behind. docs/errors.md names these cases.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, for probing the address-space limit */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "test_errors.h"
#include "test_util.h"

typedef struct fixture {
    attn_config *cfg;
    attn_model *model;
    char dir[256];
    char path[512];
} fixture;

static int setup(void **ctx)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->cfg = tiny_config();
    if (!f->cfg || attn_model_create(&f->model, f->cfg, 3)) return -1;
    if (scratch_dir_create(f->dir, sizeof f->dir, "attn_errors_ckpt_")) return -1;
    snprintf(f->path, sizeof f->path, "%s/agent.safetensors", f->dir);
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    fixture *f = *ctx;
    chmod(f->dir, 0700);
    scratch_dir_remove(f->dir);
    attn_model_destroy(f->model);
    attn_config_destroy(f->cfg);
    free(f);
    return 0;
}

static const char *in_dir(const fixture *f, const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", f->dir, name);
    return p;
}

/* The bytes of a file, to compare after a failing save. */
typedef struct file_copy {
    unsigned char *bytes;
    size_t n;
} file_copy;

static file_copy file_take(const char *path)
{
    file_copy c;
    c.bytes = read_file_bytes(path, &c.n);
    return c;
}

/* The file is byte-identical to `before` (then freed) and the directory holds exactly `entries` entries. */
static void file_expect_unchanged(file_copy *before, const char *path, const char *dir, int entries)
{
    file_copy now = file_take(path);
    assert_int_equal(now.n, before->n);
    assert_memory_equal(now.bytes, before->bytes, now.n);
    assert_int_equal(count_dir_entries(dir), entries);
    free(now.bytes);
    free(before->bytes);
}

/* A killed save leaves its temporary file behind, possibly under a pid a later process gets again: plant such
 * leftovers under this process's pid and check they do not block the next save. */
static void stale_temporaries(const char *path, int count, int plant)
{
    for (int n = 0; n < count; n++) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%d", path, (long)getpid(), n);
        if (plant) {
            FILE *fp = fopen(tmp, "wb");
            assert_non_null(fp);
            fputs("torn", fp);
            fclose(fp);
        } else {
            assert_int_equal(unlink(tmp), 0); /* still there: the save did not adopt it */
        }
    }
}

/* ---- attn_model_save -------------------------------------------------------------------------------------- */

static void test_model_save_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_STATUS(attn_model_save(NULL, f->path), ATTN_ERR_NULL, "model");
    EXPECT_STATUS(attn_model_save(f->model, NULL), ATTN_ERR_NULL, "path");
    EXPECT_STATUS(attn_model_save(f->model, in_dir(f, "no/such/dir.safetensors")), ATTN_ERR_IO, "no/such/dir");
    EXPECT_STATUS(attn_model_save(f->model, f->dir), ATTN_ERR_IO, NULL); /* the path is a directory */
    EXPECT_STATUS(attn_model_save(f->model, ""), ATTN_ERR_IO, NULL);
    attn_model_params(f->model)[0] = NAN;
    EXPECT_STATUS(attn_model_save(f->model, f->path), ATTN_ERR_NONFINITE, "non-finite");
    attn_model_params(f->model)[0] = INFINITY;
    EXPECT_STATUS(attn_model_save(f->model, f->path), ATTN_ERR_NONFINITE, "non-finite");
    assert_int_equal(count_dir_entries(f->dir), 0); /* no file and no temporary file */
}

/* A save over an existing checkpoint replaces it whole: the new weights load, nothing else is left. */
static void test_model_save_replaces_existing_file(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    attn_model *second;
    assert_int_equal(attn_model_create(&second, f->cfg, 99), ATTN_OK);
    assert_int_equal(attn_model_save(second, f->path), ATTN_OK);
    assert_int_equal(count_dir_entries(f->dir), 1);
    attn_model *loaded;
    assert_int_equal(attn_model_load(&loaded, f->path), ATTN_OK);
    const size_t np = attn_model_param_count(second);
    assert_memory_equal(attn_model_params(loaded), attn_model_params(second), np * sizeof(float));
    attn_model_destroy(loaded);
    attn_model_destroy(second);
}

static void test_failed_model_save_keeps_existing_file(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    attn_model *newer;
    assert_int_equal(attn_model_create(&newer, f->cfg, 8), ATTN_OK);

    /* Diverged weights, anywhere (here the very last one). */
    file_copy before = file_take(f->path);
    const size_t np = attn_model_param_count(newer);
    attn_model_params(newer)[np - 1] = NAN;
    EXPECT_STATUS(attn_model_save(newer, f->path), ATTN_ERR_NONFINITE, "non-finite");
    file_expect_unchanged(&before, f->path, f->dir, 1);
    attn_model_params(newer)[np - 1] = 0.25f;

    /* The temporary file cannot be created (no file descriptor left). */
    if (limit_enforced(RLIMIT_NOFILE)) {
        before = file_take(f->path);
        EXPECT_STATUS(
            (limit_push(RLIMIT_NOFILE, lowest_free_descriptor()), limit_pop(attn_model_save(newer, f->path))),
            ATTN_ERR_IO, "cannot create");
        file_expect_unchanged(&before, f->path, f->dir, 1);
    }

    /* The disk fills up part-way through the write. */
    if (limit_enforced(RLIMIT_FSIZE)) {
        before = file_take(f->path);
        EXPECT_STATUS((limit_push(RLIMIT_FSIZE, 256), limit_pop(attn_model_save(newer, f->path))), ATTN_ERR_IO,
                      "unchanged");
        file_expect_unchanged(&before, f->path, f->dir, 1);
    }

    /* Temporary files left by an earlier, killed process with this pid are stepped over, not adopted: this
     * process has saved far fewer than 500 times, so the save's first names are all taken. */
    stale_temporaries(f->path, 500, 1);
    before = file_take(f->path);
    assert_int_equal(attn_model_save(newer, f->path), ATTN_OK);
    assert_int_equal(count_dir_entries(f->dir), 501);
    stale_temporaries(f->path, 500, 0);
    file_copy after = file_take(f->path);
    assert_true(after.n != before.n || memcmp(after.bytes, before.bytes, before.n) != 0);
    free(after.bytes);
    free(before.bytes);

    /* A directory the process may not write into (meaningless for root, who may). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(f->dir, 0500), 0);
        before = file_take(f->path);
        EXPECT_STATUS(attn_model_save(newer, f->path), ATTN_ERR_IO, NULL);
        file_expect_unchanged(&before, f->path, f->dir, 1);
        assert_int_equal(chmod(f->dir, 0700), 0);
    }

    /* The control: the same model saves once nothing stands in the way. */
    assert_int_equal(attn_model_save(newer, f->path), ATTN_OK);
    assert_int_equal(count_dir_entries(f->dir), 1);
    attn_model_destroy(newer);
}

/* ---- attn_model_load, attn_model_load_params -------------------------------------------------------------- */

static void expect_load_refused(const char *path, attn_status want, const char *keyword)
{
    attn_model *m = (attn_model *)&m;
    EXPECT_STATUS(attn_model_load(&m, path), want, keyword);
    assert_null(m);
}

static void test_model_load_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_STATUS(attn_model_load(NULL, f->path), ATTN_ERR_NULL, "out");
    expect_load_refused(NULL, ATTN_ERR_NULL, "path");
    expect_load_refused(in_dir(f, "absent.safetensors"), ATTN_ERR_IO, "absent.safetensors");
    expect_load_refused(f->dir, ATTN_ERR_IO, NULL);

    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    size_t n;
    unsigned char *bytes = read_file_bytes(f->path, &n);
    char bad[512];
    snprintf(bad, sizeof bad, "%s", in_dir(f, "bad.safetensors"));

    write_file_bytes(bad, bytes, 0); /* empty */
    expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    const size_t cuts[] = {7, 8, 20, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file_bytes(bad, bytes, cuts[i]);
        expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    }
    /* A header length that points past the end of the file. */
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, bytes, n);
    copy[6] = 0x7f;
    write_file_bytes(bad, copy, n);
    expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    /* A header that is not JSON. */
    memcpy(copy, bytes, n);
    copy[8] = '[';
    write_file_bytes(bad, copy, n);
    expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    /* Random bytes. */
    test_rng rng = {17};
    for (size_t i = 0; i < n; i++) copy[i] = (unsigned char)trng_int(&rng, 256);
    write_file_bytes(bad, copy, n);
    expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    /* A non-finite weight written by someone else. */
    memcpy(copy, bytes, n);
    const float nan = NAN;
    memcpy(copy + n - sizeof nan, &nan, sizeof nan); /* the last float of the data */
    write_file_bytes(bad, copy, n);
    expect_load_refused(bad, ATTN_ERR_FORMAT, NULL);
    free(copy);
    free(bytes);
}

static void test_model_load_params_errors(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    attn_model *target;
    assert_int_equal(attn_model_create(&target, f->cfg, 77), ATTN_OK);
    const size_t np = attn_model_param_count(target);
    float *params = errors_copy_floats(attn_model_params(target), np);

    EXPECT_STATUS(attn_model_load_params(NULL, f->path), ATTN_ERR_NULL, "model");
    EXPECT_STATUS(attn_model_load_params(target, NULL), ATTN_ERR_NULL, "path");
    EXPECT_STATUS(attn_model_load_params(target, in_dir(f, "absent.safetensors")), ATTN_ERR_IO, "absent");
    EXPECT_STATUS(attn_model_load_params(target, f->dir), ATTN_ERR_IO, NULL);
    /* A file of another configuration (more actions; byte observations). */
    const attn_config_key keys[] = {ATTN_CFG_NUM_ACTIONS, ATTN_CFG_OBS_TYPE};
    const int values[] = {4, ATTN_OBS_U8};
    for (int k = 0; k < 2; k++) {
        attn_config *c = tiny_config();
        assert_int_equal(attn_config_set(c, keys[k], values[k]), ATTN_OK);
        attn_model *other;
        assert_int_equal(attn_model_create(&other, c, 3), ATTN_OK);
        assert_int_equal(attn_model_save(other, in_dir(f, "other.safetensors")), ATTN_OK);
        EXPECT_STATUS(attn_model_load_params(target, in_dir(f, "other.safetensors")), ATTN_ERR_FORMAT,
                      k == 0 ? "num_actions" : "obs_type");
        attn_model_destroy(other);
        attn_config_destroy(c);
    }
    /* A truncated file. */
    size_t n;
    unsigned char *bytes = read_file_bytes(f->path, &n);
    write_file_bytes(in_dir(f, "cut.safetensors"), bytes, n - 4);
    EXPECT_STATUS(attn_model_load_params(target, in_dir(f, "cut.safetensors")), ATTN_ERR_FORMAT, NULL);
    free(bytes);

    assert_memory_equal(attn_model_params(target), params, np * sizeof(float));
    assert_int_equal(attn_model_load_params(target, f->path), ATTN_OK);
    assert_memory_equal(attn_model_params(target), attn_model_params(f->model), np * sizeof(float));
    free(params);
    attn_model_destroy(target);
}

/* ---- Headers that describe more than the file holds ----------------------------------------------------- */

/* `src` written again as `dst` with `from` replaced by `to` in its "config" metadata, tensors as they were: a
 * small file whose header declares another network than its tensors. */
static void rewrite_config(const char *src, const char *dst, const char *from, const char *to)
{
    st_file *file;
    assert_int_equal(st_open(&file, src), ATTN_OK);
    const int n = st_count(file), n_meta = st_meta_count(file);
    st_tensor *t = calloc((size_t)n, sizeof *t);
    const char **keys = calloc((size_t)n_meta, sizeof *keys), **values = calloc((size_t)n_meta, sizeof *values);
    assert_true(t && keys && values);
    for (int i = 0; i < n; i++) t[i] = *st_get(file, i);
    char *config = NULL;
    for (int i = 0; i < n_meta; i++) {
        st_meta_entry(file, i, &keys[i], &values[i]);
        if (strcmp(keys[i], "config")) continue;
        const char *at = strstr(values[i], from);
        assert_non_null(at);
        config = malloc(strlen(values[i]) + strlen(to) + 1);
        assert_non_null(config);
        snprintf(config, strlen(values[i]) + strlen(to) + 1, "%.*s%s%s", (int)(at - values[i]), values[i], to,
                 at + strlen(from));
        values[i] = config;
    }
    assert_non_null(config);
    assert_int_equal(st_write(dst, t, n, keys, values, n_meta), ATTN_OK);
    free(config);
    free(t);
    free(keys);
    free(values);
    st_close(file);
}

/* The address space this process may still grow by is capped at `headroom` bytes (RLIMIT_AS, in force until
 * limit_pop). Returns 0, leaving nothing lowered, where the cap is not enforced (valgrind keeps its own map). */
static int cap_address_space(size_t headroom)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!fp || fscanf(fp, "%lu", &pages) != 1) {
        if (fp) fclose(fp);
        printf("note: /proc/self/statm unreadable; the address-space cases are skipped\n");
        return 0;
    }
    fclose(fp);
    limit_push(RLIMIT_AS, (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) + headroom);
    void *probe = mmap(NULL, 2 * headroom, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        munmap(probe, 2 * headroom);
        limit_pop(ATTN_OK);
        printf("note: RLIMIT_AS is not enforced in this runtime; the address-space cases are skipped\n");
        return 0;
    }
    return 1;
}

/* A 2.6 KB file whose config claims a huge core: refused as the file's fault (ATTN_ERR_FORMAT) by checking its
 * tensor table against the network its header describes before that network is created. It used to be created
 * first: 34 G parameters gave ATTN_ERR_NOMEM, 4096 units allocated and initialised 600 MB before the refusal. */
static void test_model_load_checks_the_table_first(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    const char *huge = in_dir(f, "huge.safetensors");
    rewrite_config(f->path, huge, "\"core_units\":5,", "\"core_units\":65536,");
    expect_load_refused(huge, ATTN_ERR_FORMAT, "policy LSTM");
    char big[512];
    snprintf(big, sizeof big, "%s", in_dir(f, "big.safetensors"));
    rewrite_config(f->path, big, "\"core_units\":5,", "\"core_units\":4096,");
    expect_load_refused(big, ATTN_ERR_FORMAT, "query.fc0.weight");
    /* Without room for the model it describes (about 1 GB of parameters and gradients), the same answer: the load
     * allocates nothing that size. */
    if (cap_address_space((size_t)256 << 20)) {
        attn_model *m = (attn_model *)&m;
        errors_plant();
        const attn_status st = limit_pop(attn_model_load(&m, big));
        errors_check(st, ATTN_ERR_FORMAT, "query.fc0.weight", "attn_model_load under RLIMIT_AS");
        assert_null(m);
    }
    attn_model *target;
    assert_int_equal(attn_model_create(&target, f->cfg, 77), ATTN_OK);
    EXPECT_STATUS(attn_model_load_params(target, big), ATTN_ERR_FORMAT, "core_units");
    attn_model_destroy(target);
}

/* A valid checkpoint followed by 3 GiB that no tensor names (a sparse file: no disk is used) is refused from its
 * header against its size, before any of the tail is read: it used to be read whole into memory first. */
static void test_load_refuses_a_tail_unread(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_model_save(f->model, f->path), ATTN_OK);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(truncate(f->path, sb.st_size + ((off_t)3 << 30)), 0);
    attn_model *target;
    assert_int_equal(attn_model_create(&target, f->cfg, 77), ATTN_OK);
    const size_t np = attn_model_param_count(target);
    float *params = errors_copy_floats(attn_model_params(target), np);
    /* With no room for the tail first (reading it whole used to need 3 GiB), then as usual. */
    if (cap_address_space((size_t)256 << 20)) {
        attn_model *m = (attn_model *)&m;
        errors_plant();
        const attn_status st = limit_pop(attn_model_load(&m, f->path));
        errors_check(st, ATTN_ERR_FORMAT, "after the last tensor", "attn_model_load under RLIMIT_AS");
        assert_null(m);
    }
    expect_load_refused(f->path, ATTN_ERR_FORMAT, "after the last tensor");
    EXPECT_STATUS(attn_model_load_params(target, f->path), ATTN_ERR_FORMAT, "after the last tensor");
    assert_memory_equal(attn_model_params(target), params, np * sizeof(float));
    free(params);
    attn_model_destroy(target);
}

/* ---- attn_training_save over an existing training checkpoint ---------------------------------------------- */

static void test_failed_training_save_keeps_existing_file(void **ctx)
{
    fixture *f = *ctx;
    enum { B = 2, T = 3 };
    attn_rollout *ro;
    attn_optimizer *opt;
    attn_learner *ln;
    attn_loss_config lc;
    attn_loss_stats st;
    errw w;
    attn_env env = errw_env(&w, f->model);
    env.save = errw_save;
    env.load = errw_load;
    assert_int_equal(attn_rollout_create(&ro, f->model, B, T, 4), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&opt, f->model, ATTN_OPTIM_RMSPROP), ATTN_OK);
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_VTRACE), ATTN_OK);
    assert_int_equal(attn_learner_create(&ln, f->model, &lc, B, T), ATTN_OK);
    assert_int_equal(attn_rollout_collect(ro, f->model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_learner_update(ln, opt, ro, &st), ATTN_OK);
    assert_int_equal(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0), ATTN_OK);
    /* Train on, so the next save would write different bytes. */
    assert_int_equal(attn_rollout_collect(ro, f->model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_learner_update(ln, opt, ro, &st), ATTN_OK);

    file_copy before = file_take(f->path);
    float *params = attn_model_params(f->model);
    const float keep = params[3];
    params[3] = NAN;
    EXPECT_STATUS(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0), ATTN_ERR_NONFINITE,
                  "non-finite");
    file_expect_unchanged(&before, f->path, f->dir, 1);
    params[3] = keep;

    float *slot;
    assert_int_equal(attn_optimizer_slot(opt, 1, NULL, &slot), ATTN_OK);
    const float keep_slot = slot[0];
    slot[0] = INFINITY;
    before = file_take(f->path);
    EXPECT_STATUS(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0), ATTN_ERR_NONFINITE, "slot");
    file_expect_unchanged(&before, f->path, f->dir, 1);
    slot[0] = keep_slot;

    w.fault_env = 1;
    w.save_code = 6;
    before = file_take(f->path);
    EXPECT_STATUS(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0), ATTN_ERR_CALLBACK,
                  "environment 1");
    file_expect_unchanged(&before, f->path, f->dir, 1);
    w.save_code = 0;

    const char *keys[1] = {"k"}, *null_value[1] = {NULL};
    before = file_take(f->path);
    EXPECT_STATUS(attn_training_save(f->path, f->model, opt, ro, &env, keys, null_value, 1), ATTN_ERR_NULL,
                  "extra_values[0]");
    file_expect_unchanged(&before, f->path, f->dir, 1);

    if (limit_enforced(RLIMIT_NOFILE)) {
        before = file_take(f->path);
        EXPECT_STATUS((limit_push(RLIMIT_NOFILE, lowest_free_descriptor()),
                       limit_pop(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0))),
                      ATTN_ERR_IO, "cannot create");
        file_expect_unchanged(&before, f->path, f->dir, 1);
    }
    if (limit_enforced(RLIMIT_FSIZE)) {
        before = file_take(f->path);
        EXPECT_STATUS((limit_push(RLIMIT_FSIZE, 256),
                       limit_pop(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0))),
                      ATTN_ERR_IO, "unchanged");
        file_expect_unchanged(&before, f->path, f->dir, 1);
    }

    /* The control: with nothing wrong the save replaces the file, and the file resumes. */
    before = file_take(f->path);
    assert_int_equal(attn_training_save(f->path, f->model, opt, ro, &env, NULL, NULL, 0), ATTN_OK);
    file_copy after = file_take(f->path);
    assert_true(after.n != before.n || memcmp(after.bytes, before.bytes, before.n) != 0);
    assert_int_equal(count_dir_entries(f->dir), 1);
    assert_int_equal(attn_training_load(f->path, f->model, opt, ro, &env), ATTN_OK);
    free(after.bytes);
    free(before.bytes);
    attn_learner_destroy(ln);
    attn_optimizer_destroy(opt);
    attn_rollout_destroy(ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_save_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_save_replaces_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_model_save_keeps_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_load_params_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_load_checks_the_table_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses_a_tail_unread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_training_save_keeps_existing_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
