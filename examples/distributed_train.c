/* attn-train across ranks (distributed_train.h). */
#include "distributed_train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

train_options train_ranks_options(const distributed *d, const train_options *o)
{
    train_options mine = *o;
    if (d->size == 1) return mine;
    /* Apart from rank 0's and from each other's: the library derives every environment's episodes and sampling
     * stream from the rollout's seed and the environment's index. */
    if (d->rank > 0) mine.seed = splitmix(o->seed ^ splitmix((uint64_t)d->rank));
    /* Every rank steps the same frames per update, so the job's total is this times the rank count (rounded
     * up to whole updates as a single process rounds). */
    mine.frames = (o->frames + d->size - 1) / d->size;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int share = d->local_size > 1 && cpus > d->local_size ? (int)(cpus / d->local_size) : 1;
    if (d->local_size > 1 && !o->threads && !getenv("ATTN_NUM_THREADS")) mine.threads = share;
    if (d->local_size > 1 && !o->ale_procs) mine.ale_procs = share;
    return mine;
}

/* FNV-1a over the parameters' bytes: equal hashes on every rank say the replicas are one agent. */
static uint64_t weights_hash(const attn_model *model)
{
    const unsigned char *p = (const unsigned char *)attn_model_params((attn_model *)model);
    const size_t n = attn_model_param_count(model) * sizeof(float);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

int train_ranks_same_weights(distributed *d, const attn_model *model)
{
    if (d->size == 1 || distributed_all_equal(d, weights_hash(model))) return 1;
    fprintf(stderr, "attn-train: rank %d: the ranks' weights differ (the reduction did not give every rank the "
            "same bits, or they were started from different checkpoints); stopping\n", d->rank);
    return 0;
}

/* Every rank knows the load failed: they may end the job together instead of aborting it. */
static int agreed_failure(distributed *d)
{
    distributed_finalize(d);
    return 1;
}

int train_ranks_peer_failed(const distributed *d, const char *what)
{
    fprintf(stderr, "attn-train: rank %d: stopped %s because another rank failed (its message is above)\n",
            d->rank, what);
    return 1;
}

void train_ranks_report(const distributed *d)
{
    if (d->size == 1) return;
    printf("allreduce: %d ranks, %lld gradient reductions on rank 0, %.3f s in them (%.3f ms each)\n", d->size,
           (long long)d->reductions, d->reduce_seconds,
           d->reductions ? 1e3 * d->reduce_seconds / (double)d->reductions : 0.0);
}

/* ---- Files ------------------------------------------------------------------------------------------ */

static int read_all(const char *path, void **bytes, size_t *n)
{
    *bytes = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used == cap) {
            char *grown = realloc(buf, cap ? 2 * cap : 1 << 20);
            if (!grown) break;
            buf = grown;
            cap = cap ? 2 * cap : 1 << 20;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    const int bad = ferror(f) || !feof(f);
    fclose(f);
    if (bad || !used) {
        free(buf);
        return -1;
    }
    *bytes = buf;
    *n = used;
    return 0;
}

/* Written to a temporary name, flushed to disk, then renamed: the file at `path` is always whole. */
static int write_atomic(const char *path, const void *bytes, size_t n)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)bytes + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    const int ok = done == n && fsync(fd) == 0;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* A private scratch directory for this rank's own checkpoint before it goes to rank 0 (the ranks of another
 * machine need not see DIR). */
static int scratch_path(char *dir, size_t dn, char *file, size_t fn)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dn, "%s/attn-train-rank-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(file, fn, "%s/state.safetensors", dir);
    return 0;
}

static void rank_file(char *buf, size_t n, const char *dir, const char *states, int rank)
{
    snprintf(buf, n, "%s/%s.rank%d.safetensors", dir, states, rank);
}

/* Removes DIR/ranks/ files of other sets than `states` ("ranks/u<steps>"): an older set is never needed once the
 * main file names a newer one. */
static void prune(const char *dir, const char *states)
{
    char ranks[1100];
    snprintf(ranks, sizeof ranks, "%s/ranks", dir);
    const char *keep = strchr(states, '/') + 1;
    const size_t keep_len = strlen(keep);
    DIR *dd = opendir(ranks);
    if (!dd) return;
    for (struct dirent *e; (e = readdir(dd));) {
        if (e->d_name[0] != 'u' || (!strncmp(e->d_name, keep, keep_len) && e->d_name[keep_len] == '.')) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", ranks, e->d_name);
        unlink(path);
    }
    closedir(dd);
}

/* ---- Save and resume -------------------------------------------------------------------------------- */

attn_status train_ranks_save(distributed *d, const char *dir, const char *path, const attn_model *model,
                             const attn_optimizer *opt, const attn_rollout *rollout, const attn_env *env,
                             const char *const *keys, const char *const *values, int n)
{
    if (d->size == 1) return attn_training_save(path, model, opt, rollout, env, keys, values, n);
    if (!train_ranks_same_weights(d, model)) return ATTN_ERR_STATE;

    char states[64], rank_text[16], size_text[16];
    snprintf(states, sizeof states, "ranks/u%lld", (long long)attn_optimizer_steps(opt));
    snprintf(rank_text, sizeof rank_text, "%d", d->rank);
    snprintf(size_text, sizeof size_text, "%d", d->size);
    attn_status st = ATTN_OK;
    if (d->rank > 0) {
        /* This rank's state in a file of its own (model and optimizer included: a complete training checkpoint
         * that attn_training_load checks whole), its bytes sent to rank 0. */
        char sdir[512], sfile[600];
        void *bytes = NULL;
        size_t len = 0;
        const char *k[] = {"rank"}, *v[] = {rank_text};
        if (scratch_path(sdir, sizeof sdir, sfile, sizeof sfile)) {
            fprintf(stderr, "attn-train: rank %d: no scratch directory for its checkpoint: %s\n", d->rank,
                    strerror(errno));
            st = ATTN_ERR_IO;
        } else {
            st = attn_training_save(sfile, model, opt, rollout, env, k, v, 1);
            if (st) fprintf(stderr, "attn-train: rank %d: checkpoint: %s\n  %s\n", d->rank, attn_status_str(st),
                            attn_last_error());
            else if (read_all(sfile, &bytes, &len)) st = ATTN_ERR_IO;
            unlink(sfile);
            rmdir(sdir);
        }
        if (distributed_send_bytes(d, 0, st ? NULL : bytes, st ? 0 : len)) st = ATTN_ERR_IO;
        free(bytes);
    } else {
        char ranks[1100];
        snprintf(ranks, sizeof ranks, "%s/ranks", dir);
        if (mkdir(ranks, 0755) && errno != EEXIST) {
            fprintf(stderr, "attn-train: cannot create %s: %s\n", ranks, strerror(errno));
            st = ATTN_ERR_IO;
        }
        for (int r = 1; r < d->size; r++) {
            void *bytes;
            size_t len;
            if (distributed_recv_bytes(d, r, &bytes, &len) || !len) {
                st = st ? st : ATTN_ERR_IO; /* that rank said why */
                free(bytes);
                continue;
            }
            char file[1200];
            rank_file(file, sizeof file, dir, states, r);
            if (!st && write_atomic(file, bytes, len)) {
                fprintf(stderr, "attn-train: cannot write %s: %s\n", file, strerror(errno));
                st = ATTN_ERR_IO;
            }
            free(bytes);
        }
        if (!st) {
            /* The main file last: it names the set, so it is complete whenever the main file is. */
            const char *k[34], *v[34];
            const int m = n < 32 ? n : 32;
            for (int i = 0; i < m; i++) k[i] = keys[i], v[i] = values[i];
            k[m] = "ranks", v[m] = size_text;
            k[m + 1] = "rank_states", v[m + 1] = states;
            st = attn_training_save(path, model, opt, rollout, env, k, v, m + 2);
            if (st) fprintf(stderr, "attn-train: checkpoint: %s\n  %s\n", attn_status_str(st), attn_last_error());
            else prune(dir, states);
        }
    }
    if (distributed_or(d, st != ATTN_OK) && !st) {
        train_ranks_peer_failed(d, "checkpointing");
        st = ATTN_ERR_IO;
    }
    return st;
}

/* The rank count and the rank files' name stored in the main file; 1 and "" for a single process's file. */
static int read_layout(const char *path, int *ranks, char *states, size_t n)
{
    char text[32];
    *ranks = 1;
    states[0] = '\0';
    attn_status st = attn_checkpoint_meta(path, "ranks", text, sizeof text, NULL);
    if (st == ATTN_ERR_INVALID) return 0; /* no such key: written by one process */
    if (st) return -1;
    *ranks = atoi(text);
    return attn_checkpoint_meta(path, "rank_states", states, n, NULL) || *ranks < 1 ? -1 : 0;
}

int train_ranks_load(distributed *d, const char *dir, const char *path, attn_model *model, attn_optimizer *opt,
                     attn_rollout *rollout, const attn_env *env)
{
    if (d->size == 1) {
        int ranks = 1;
        char states[64];
        attn_status st = ATTN_OK;
        if (!read_layout(path, &ranks, states, sizeof states) && ranks != 1) {
            fprintf(stderr, "attn-train: %s was written by a job of %d ranks; resume it with mpirun -np %d, or "
                    "train afresh in another --out\n", path, ranks, ranks);
            return 1;
        }
        if ((st = attn_training_load(path, model, opt, rollout, env))) {
            fprintf(stderr, "attn-train: resume: %s\n  %s\n", attn_status_str(st), attn_last_error());
            return 1;
        }
        return 0;
    }
    int ranks = 0, bad = 0;
    char states[64] = "";
    if (d->rank == 0 && read_layout(path, &ranks, states, sizeof states)) {
        fprintf(stderr, "attn-train: resume: cannot read %s's rank layout: %s\n", path, attn_last_error());
        bad = 1;
    }
    /* Rank 0's view of the file, given to every rank (the others may not see DIR). */
    ranks = (int)distributed_sum_i64(d, d->rank == 0 ? ranks : 0);
    if (distributed_or(d, bad)) return agreed_failure(d);
    if (ranks != d->size) {
        if (d->rank == 0)
            fprintf(stderr, "attn-train: %s was written by %d rank%s, this job has %d: each rank's environments and "
                    "random streams are in it, so resume with mpirun -np %d (or train afresh in another --out)\n",
                    path, ranks, ranks == 1 ? "" : "s", d->size, ranks);
        return agreed_failure(d);
    }
    attn_status st = ATTN_OK;
    if (d->rank == 0) {
        for (int r = 1; r < d->size; r++) {
            char file[1200];
            void *bytes = NULL;
            size_t len = 0;
            rank_file(file, sizeof file, dir, states, r);
            if (read_all(file, &bytes, &len)) {
                fprintf(stderr, "attn-train: resume: cannot read %s, rank %d's state\n", file, r);
                st = ATTN_ERR_IO;
            }
            distributed_send_bytes(d, r, bytes, len);
            free(bytes);
        }
        /* Rank 0's own load comes last, so attn_training_meta answers from the main file. */
        if (!st && (st = attn_training_load(path, model, opt, rollout, env)))
            fprintf(stderr, "attn-train: resume: %s\n  %s\n", attn_status_str(st), attn_last_error());
    } else {
        void *bytes;
        size_t len;
        char sdir[512], sfile[600];
        if (distributed_recv_bytes(d, 0, &bytes, &len) || !len) {
            st = ATTN_ERR_IO;
        } else if (scratch_path(sdir, sizeof sdir, sfile, sizeof sfile) || write_atomic(sfile, bytes, len)) {
            fprintf(stderr, "attn-train: rank %d: resume: no scratch file: %s\n", d->rank, strerror(errno));
            st = ATTN_ERR_IO;
        } else {
            if ((st = attn_training_load(sfile, model, opt, rollout, env)))
                fprintf(stderr, "attn-train: rank %d: resume: %s\n  %s\n", d->rank, attn_status_str(st),
                        attn_last_error());
            unlink(sfile);
            rmdir(sdir);
        }
        free(bytes);
    }
    if (distributed_or(d, st != ATTN_OK)) {
        if (!st) train_ranks_peer_failed(d, "resuming");
        return agreed_failure(d);
    }
    return train_ranks_same_weights(d, model) ? 0 : agreed_failure(d);
}
