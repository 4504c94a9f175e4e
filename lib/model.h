/* The model and state objects behind the opaque handles, and how their memory is carved up. */
#ifndef ATTN_MODEL_H
#define ATTN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"
#include "config.h"
#include "parallel.h"

#define MAX_TENSORS (2 * ATTN_MAX_CONV_LAYERS + 2 + 4 * (ATTN_MAX_MLP_HIDDEN + 1) + 7)
#define TENSOR_NAME_LEN 40

typedef struct tensor_desc {
    char name[TENSOR_NAME_LEN];
    int ndim;
    int64_t shape[4];
    size_t offset, numel; /* in floats, into the parameter (and gradient) array */
    long fan_in;          /* inputs one output sees; sets the initialisation scale */
} tensor_desc;

/* Pointers to every tensor inside one flat array: the parameters, or the gradients, share this map. */
typedef struct weights {
    float *conv_w[ATTN_MAX_CONV_LAYERS], *conv_b[ATTN_MAX_CONV_LAYERS]; /* [cout][cin][k][k], [cout] */
    float *clstm_w, *clstm_b;                                          /* [4L][F+L][3][3], [4L] */
    float *q_w[ATTN_MAX_MLP_HIDDEN + 1], *q_b[ATTN_MAX_MLP_HIDDEN + 1]; /* MLP_q layers */
    float *a_w[ATTN_MAX_MLP_HIDDEN + 1], *a_b[ATTN_MAX_MLP_HIDDEN + 1]; /* MLP_a layers */
    float *core_wih, *core_whh, *core_b;                               /* [4Hp][Hp_in], [4Hp][Hp], [4Hp] */
    float *pol_w, *pol_b, *val_w, *val_b;                              /* [A][Hp], [A], [1][Hp], [1] */
} weights;

struct attn_model {
    uint64_t id;           /* unique in the process (never 0): what an optimizer is bound to */
    attn_config cfg;
    dims d;
    int threads;
    int ntensors;
    tensor_desc tensors[MAX_TENSORS];
    size_t nparams;
    float *params, *grads; /* [nparams] each */
    weights w, g;          /* maps into params and grads */
    float *basis;          /* [P][c_s], the fixed spatial basis */
};

/* Everything one step computes for B environments that the backward pass needs (and the acting pass writes
 * all the same, into one scratch record). */
typedef struct step_record {
    uint8_t *first;       /* [B] */
    float *prev_reward;   /* [B], 0 where first */
    int32_t *prev_action; /* [B], ATTN_NO_ACTION where first */
    float *x;             /* [B][H][W][C] scaled observation */
    float *conv[ATTN_MAX_CONV_LAYERS]; /* [B][oh][ow][cout] after ReLU */
    float *vh_prev, *vc_prev;          /* [B][P][L] ConvLSTM state entering the step (zero where first) */
    float *vgates;                     /* [B][P][4L] gate activations */
    float *vc, *vh;                    /* [B][P][L] */
    float *ph_prev, *pc_prev;          /* [B][Hp] policy state entering the step (zero where first) */
    float *q_act[ATTN_MAX_MLP_HIDDEN]; /* [B][width] MLP_q hidden activations after ReLU */
    float *Q;                          /* [B][N][kd] */
    float *maps;                       /* [B][N][P] */
    float *ans;                        /* [B][N][vd] */
    float *a_in;                       /* [B][a_in] MLP_a input */
    float *a_act[ATTN_MAX_MLP_HIDDEN]; /* [B][width] MLP_a hidden activations after ReLU */
    float *z;                          /* [B][Hp] MLP_a output */
    float *pgates;                     /* [B][4Hp] gate activations */
    float *pc, *ph;                    /* [B][Hp] */
} step_record;

/* Scratch shared by forward and backward (sized for B at state creation). */
typedef struct scratch {
    float *cols, *dcols;           /* [max conv rows × cols] unfolded inputs and their gradients */
    float *xin, *dxin;             /* [B][P][F+L] ConvLSTM input [f, h_prev] and its gradient */
    float *dact_a, *dact_b;        /* [max activation] ping-pong gradients through conv stack and MLPs */
    float *dvh, *dvc;              /* [B][P][L] gradient reaching this step's ConvLSTM h and c */
    float *dvgates;                /* [B][P][4L] */
    float *dph, *dpc;              /* [B][Hp] gradient reaching this step's policy h and c */
    float *dph_prev;               /* [B][Hp] gradient reaching the policy h entering this step */
    float *dpgates;                /* [B][4Hp] */
    float *da_in;                  /* [B][a_in] */
    float *dQ;                     /* [B][N][kd] */
    float *attn_tmp;               /* [B][N][P] */
} scratch;

/* Longest text of a convolution plan ("unfold-by-pixel" per layer, commas), with its terminating zero. */
enum { CONV_PLAN_TEXT = (ATTN_MAX_CONV_LAYERS + 1) * 16 + 1 };

struct attn_state {
    const attn_model *model;
    int B, T;
    int recorded;              /* steps on the tape */
    int stepped;               /* non-zero once a step has produced maps */
    float *vh, *vc;            /* [B][P][L] current ConvLSTM state */
    float *ph, *pc;            /* [B][Hp] current policy state */
    float *maps;               /* [B][N][P] of the last step */
    float *out_logits;         /* [B][A] a step's logits and values, handed to the caller only once the whole */
    float *out_values;         /* [B]    step is known to be finite */
    int *slice_bad;            /* [threads] the first environment of a thread's slice whose step was not finite,
                                  or -1 */
    step_record *tape;         /* [max(T, 1)] records; acting uses record 0 */
    scratch s;
    int threads;               /* environments are split into this many contiguous slices, one per thread */
    pool *workers;             /* NULL when threads == 1 */
    float *thread_grads;       /* [threads][nparams] each thread's private gradients during backward (NULL
                                  without a tape), added to the model's only when all are finite */
    float *packed;             /* conv weights packed for this state's current pass (conv_plan_prepare, ...) */
    float *packed_from;        /* the conv layers' weights (then the ConvLSTM's) that the forward packing in
                                  `packed` was made from, bit for bit: a step whose weights are the same bits
                                  reuses it (packed_fresh) */
    int packed_fresh;          /* packed holds the forward's packing of packed_from under conv_methods */
    float *wgrad_packed;       /* [threads][wgrad_packed_floats] each thread's sums of the weight gradients that
                                  the direct kernel computes, over a whole attn_backward (NULL if none) */
    long wgrad_packed_floats;
    float *kscratch;           /* [model threads][kscratch_floats] each thread's scratch for the convolution kernels
                                  that need one (Winograd's), in forward and backward alike */
    long kscratch_floats;
    int conv_methods[ATTN_MAX_CONV_LAYERS + 1]; /* the forward's conv_method per layer (conv_planner.h) */
    char conv_plan[CONV_PLAN_TEXT];             /* the same as text, for attn_state_conv_plan */
    void *memory;              /* the one allocation behind all of the above */
};

/* The slice of a record or scratch that starts at environment b0 (same layout, pointers moved). */
void record_slice(step_record *out, const step_record *r, const dims *d, long b0);
void scratch_slice(scratch *out, const scratch *s, const dims *d, long b0);

/* Environments [*b0, *b0 + *count) are thread k's of `threads` over B: contiguous, sizes differing by at most 1. */
static inline void thread_range(int B, int threads, int k, int *b0, int *count)
{
    *b0 = (int)((long)B * k / threads);
    *count = (int)((long)B * (k + 1) / threads) - *b0;
}

/* Fills `m` with the model `cfg` describes — its configuration, dimensions, tensor table and parameter count —
 * allocating nothing (params, grads and basis stay NULL, the id 0): enough for attn_model_tensor,
 * attn_model_find_tensor and attn_model_param_count, so a loader can hold a file's tensors against the model
 * its header declares before creating it. ATTN_ERR_INVALID as attn_config_validate. */
attn_status model_describe(attn_model *m, const attn_config *cfg);

/* Points `w` at every tensor of the flat array `base`. */
void weights_map(const attn_model *m, float *base, weights *w);

#endif
