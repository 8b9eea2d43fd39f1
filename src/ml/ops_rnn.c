/* ops_rnn.c - recurrent layers: RNN, GRU and LSTM (forward, reverse, bidirectional), float32. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>
#include <strings.h>

enum { K_RNN, K_GRU, K_LSTM };

struct act {
    int kind;
    float a, b;
};

enum { F_SIGMOID, F_TANH, F_RELU, F_AFFINE, F_LEAKY, F_THRELU, F_SCALEDTANH, F_HSIGMOID, F_ELU,
       F_SOFTSIGN, F_SOFTPLUS };

static float act_apply(const struct act *f, float x)
{
    switch (f->kind) {
    case F_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case F_TANH: return tanhf(x);
    case F_RELU: return x > 0 ? x : 0;
    case F_AFFINE: return f->a * x + f->b;
    case F_LEAKY: return x >= 0 ? x : f->a * x;
    case F_THRELU: return x > f->a ? x : 0;
    case F_SCALEDTANH: return f->a * tanhf(f->b * x);
    case F_HSIGMOID: return fmaxf(0, fminf(1, f->a * x + f->b));
    case F_ELU: return x >= 0 ? x : f->a * (expf(x) - 1);
    case F_SOFTSIGN: return x / (1 + fabsf(x));
    case F_SOFTPLUS: return logf(1 + expf(x));
    default: return x;
    }
}

/* Parses activation `name`; defaults for alpha/beta follow the ONNX spec. */
static int parse_act(const char *name, size_t len, struct act *f)
{
    static const struct {
        const char *n;
        int k;
        float a, b;
    } tab[] = {{"Sigmoid", F_SIGMOID, 0, 0}, {"Tanh", F_TANH, 0, 0}, {"Relu", F_RELU, 0, 0},
               {"Affine", F_AFFINE, 1, 0}, {"LeakyRelu", F_LEAKY, 0.01f, 0},
               {"ThresholdedRelu", F_THRELU, 1, 0}, {"ScaledTanh", F_SCALEDTANH, 1, 1},
               {"HardSigmoid", F_HSIGMOID, 0.2f, 0.5f}, {"Elu", F_ELU, 1, 0},
               {"Softsign", F_SOFTSIGN, 0, 0}, {"Softplus", F_SOFTPLUS, 0, 0}};
    for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
        if (strlen(tab[i].n) == len && !strncasecmp(tab[i].n, name, len)) {
            f->kind = tab[i].k;
            f->a = tab[i].a;
            f->b = tab[i].b;
            return 0;
        }
    return -1;
}

#define WB(g) (wb ? wb[(g) * Hs + j] : 0)
#define RB(g) (rb ? rb[(g) * Hs + j] : 0)
#define CLIP(v) (clip > 0 ? fmaxf(-clip, fminf(clip, (v))) : (v))

static int rnn(struct ml_kctx *k, int kind)
{
    const struct ml_tensor *X, *W, *R, *B, *SL, *H0, *C0, *P;
    int G = kind == K_LSTM ? 4 : kind == K_GRU ? 3 : 1, nacts = kind == K_LSTM ? 3 : kind == K_GRU ? 2 : 1;
    const char *dir = ml_attr_str(k, "direction", "forward");
    int dirs = !strcmp(dir, "bidirectional") ? 2 : 1;
    bool reverse_only = !strcmp(dir, "reverse");
    int64_t Hs = ml_attr_int(k, "hidden_size", 0), layout = ml_attr_int(k, "layout", 0);
    int64_t S, Bt, I, dims[4];
    float clip = ml_attr_float(k, "clip", 0);
    bool lbr = ml_attr_int(k, "linear_before_reset", 0), input_forget = ml_attr_int(k, "input_forget", 0);
    struct act acts[6];
    struct ml_tensor *Y = NULL, *Yh = NULL, *Yc = NULL;
    float *xw = NULL, *hr = NULL, *h = NULL, *c = NULL, *hp = NULL, *rh = NULL, *grh = NULL;
    int rc = 0;

    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    X = k->in[0];
    W = k->in[1];
    R = k->in[2];
    B = k->nin > 3 ? k->in[3] : NULL;
    SL = k->nin > 4 ? k->in[4] : NULL;
    H0 = k->nin > 5 ? k->in[5] : NULL;
    C0 = kind == K_LSTM && k->nin > 6 ? k->in[6] : NULL;
    P = kind == K_LSTM && k->nin > 7 ? k->in[7] : NULL;
    if (X->dtype != ML_FLOAT || W->dtype != ML_FLOAT || R->dtype != ML_FLOAT)
        return ml_kerr(k, AG_EUNPROCESSABLE, "only float is supported");
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3)
        return ml_kerr(k, AG_EINVAL, "X, W and R must be 3-D");
    S = layout ? X->dims[1] : X->dims[0];
    Bt = layout ? X->dims[0] : X->dims[1];
    I = X->dims[2];
    if (Hs <= 0 || Hs > (1 << 24))
        Hs = R->dims[2];
    if (W->dims[0] != dirs || W->dims[1] != G * Hs || W->dims[2] != I || R->dims[1] != G * Hs ||
        R->dims[2] != Hs || (B && B->n != dirs * 2 * G * Hs) || (H0 && H0->n != dirs * Bt * Hs) ||
        (C0 && C0->n != dirs * Bt * Hs) || (P && P->n != dirs * 3 * Hs) || (SL && SL->n != Bt))
        return ml_kerr(k, AG_EINVAL, "weights, biases or states have the wrong shape");
    {
        const Onnx__AttributeProto *a = ml_attr(k, "activations");
        size_t na, nb;
        const float *al = ml_attr_floats(k, "activation_alpha", &na),
                    *be = ml_attr_floats(k, "activation_beta", &nb);
        for (int d = 0; d < dirs; d++) {
            for (int j = 0; j < nacts; j++) {
                struct act *f = &acts[d * nacts + j];
                int ai = d * nacts + j;
                if (a && (size_t)ai < a->n_strings) {
                    if (parse_act((const char *)a->strings[ai].data, a->strings[ai].len, f))
                        return ml_kerr(k, AG_EUNPROCESSABLE, "unknown activation");
                } else {
                    f->kind = (kind == K_RNN || j > 0) ? F_TANH : F_SIGMOID;
                    f->a = f->b = 0;
                }
                if (al && (size_t)ai < na)
                    f->a = al[ai];
                if (be && (size_t)ai < nb)
                    f->b = be[ai];
            }
        }
    }
    dims[0] = layout ? Bt : S;
    dims[1] = layout ? S : dirs;
    dims[2] = layout ? dirs : Bt;
    dims[3] = Hs;
    if (k->nout > 0 && k->out[0] && !(Y = ml_out(k, 0, ML_FLOAT, 4, dims)))
        return k->e->code;
    if (Y)
        memset(Y->data, 0, sizeof(float) * (size_t)Y->n);
    dims[0] = layout ? Bt : dirs;
    dims[1] = layout ? dirs : Bt;
    dims[2] = Hs;
    if (k->nout > 1 && k->out[1] && !(Yh = ml_out(k, 1, ML_FLOAT, 3, dims)))
        return k->e->code;
    if (kind == K_LSTM && k->nout > 2 && k->out[2] && !(Yc = ml_out(k, 2, ML_FLOAT, 3, dims)))
        return k->e->code;
    xw = malloc(sizeof(float) * (size_t)MAX(1, S * Bt * G * Hs));
    hr = malloc(sizeof(float) * (size_t)MAX(1, Bt * G * Hs));
    h = calloc((size_t)MAX(1, Bt * Hs), sizeof(float));
    hp = calloc((size_t)MAX(1, Bt * Hs), sizeof(float));
    c = calloc((size_t)MAX(1, Bt * Hs), sizeof(float));
    float *xs = malloc(sizeof(float) * (size_t)MAX(1, S * Bt * I));
    rh = calloc((size_t)MAX(1, Bt * Hs), sizeof(float));
    grh = calloc((size_t)MAX(1, Bt * Hs), sizeof(float));
    if (!xw || !hr || !h || !hp || !c || !xs || !rh || !grh) {
        rc = ml_kerr(k, AG_ENOMEM, "out of memory");
        goto out;
    }
    /* X in [S, B, I] order. */
    for (int64_t s = 0; s < S; s++)
        for (int64_t b = 0; b < Bt; b++)
            memcpy(xs + (s * Bt + b) * I,
                   (const float *)X->data + (layout ? (b * S + s) : (s * Bt + b)) * I,
                   sizeof(float) * (size_t)I);
    for (int d = 0; d < dirs; d++) {
        bool rev = reverse_only || d == 1;
        const float *w = (const float *)W->data + d * G * Hs * I;
        const float *r = (const float *)R->data + d * G * Hs * Hs;
        const float *wb = B ? (const float *)B->data + d * 2 * G * Hs : NULL;
        const float *rb = wb ? wb + G * Hs : NULL;
        const float *p = P ? (const float *)P->data + d * 3 * Hs : NULL;
        const struct act *f = &acts[d * nacts];
        /* All input projections at once: xw[S*B, G*H] = X W^T. */
        ml_sgemm(k->m, false, true, S * Bt, G * Hs, I, 1, xs, I, w, I, 0, xw, G * Hs);
        for (int64_t i = 0; i < Bt * Hs; i++) {
            h[i] = H0 ? ((const float *)H0->data)[d * Bt * Hs + i] : 0;
            c[i] = C0 ? ((const float *)C0->data)[d * Bt * Hs + i] : 0;
        }
        /* One time step at a time, with the run limits checked at each
         * (the executor reports a stopped run; the outputs are dropped). */
        for (int64_t step = 0; step < S && !ml_stop_check(k->m); step++) {
            memcpy(hp, h, sizeof(float) * (size_t)(Bt * Hs));
            ml_sgemm(k->m, false, true, Bt, G * Hs, Hs, 1, hp, Hs, r, Hs, 0, hr, G * Hs);
            if (kind == K_GRU && !lbr) {
                /* grh = (r * h_prev) R_h^T, r from this step's reset gate. */
                for (int64_t b = 0; b < Bt; b++) {
                    int64_t len = SL ? MAX(0, MIN(ml_get_i64(SL, b), S)) : S;
                    int64_t t = rev ? len - 1 - step : step;
                    for (int64_t j = 0; j < Hs; j++) {
                        float rr = 0;
                        if (step < len) {
                            const float *gx = xw + (t * Bt + b) * G * Hs, *gh = hr + b * G * Hs;
                            rr = act_apply(&f[0], CLIP(gx[Hs + j] + gh[Hs + j] + WB(1) + RB(1)));
                        }
                        rh[b * Hs + j] = rr * hp[b * Hs + j];
                    }
                }
                ml_sgemm(k->m, false, true, Bt, Hs, Hs, 1, rh, Hs, r + 2 * Hs * Hs, Hs, 0, grh, Hs);
            }
            for (int64_t b = 0; b < Bt; b++) {
                int64_t len = SL ? MAX(0, MIN(ml_get_i64(SL, b), S)) : S;
                int64_t t = rev ? len - 1 - step : step;
                if (step >= len)
                    continue;
                const float *gx = xw + (t * Bt + b) * G * Hs, *gh = hr + b * G * Hs;
                float *hb = h + b * Hs, *cb = c + b * Hs;
                const float *hpb = hp + b * Hs;
                for (int64_t j = 0; j < Hs; j++) {
                    if (kind == K_RNN) {
                        hb[j] = act_apply(&f[0], CLIP(gx[j] + gh[j] + WB(0) + RB(0)));
                    } else if (kind == K_GRU) {
                        float z = act_apply(&f[0], CLIP(gx[j] + gh[j] + WB(0) + RB(0)));
                        float rr = act_apply(&f[0], CLIP(gx[Hs + j] + gh[Hs + j] + WB(1) + RB(1)));
                        float hh;
                        if (lbr)
                            hh = act_apply(&f[1], CLIP(gx[2 * Hs + j] + WB(2) +
                                                       rr * (gh[2 * Hs + j] + RB(2))));
                        else
                            hh = act_apply(&f[1], CLIP(gx[2 * Hs + j] + WB(2) + RB(2) +
                                                       grh[b * Hs + j]));
                        hb[j] = (1 - z) * hh + z * hpb[j];
                    } else {
                        float ig = gx[j] + gh[j] + WB(0) + RB(0);
                        float og = gx[Hs + j] + gh[Hs + j] + WB(1) + RB(1);
                        float fg = gx[2 * Hs + j] + gh[2 * Hs + j] + WB(2) + RB(2);
                        float cg = gx[3 * Hs + j] + gh[3 * Hs + j] + WB(3) + RB(3);
                        if (p) {
                            ig += p[j] * cb[j];
                            fg += p[2 * Hs + j] * cb[j];
                        }
                        ig = act_apply(&f[0], CLIP(ig));
                        fg = act_apply(&f[0], CLIP(fg));
                        if (input_forget)
                            fg = 1 - ig;
                        cg = act_apply(&f[1], CLIP(cg));
                        cb[j] = fg * cb[j] + ig * cg;
                        if (p)
                            og += p[Hs + j] * cb[j];
                        og = act_apply(&f[0], CLIP(og));
                        hb[j] = og * act_apply(&f[2], cb[j]);
                    }
                }
                if (Y) {
                    float *yd = (float *)Y->data +
                                (layout ? ((b * S + t) * dirs + d) : ((t * dirs + d) * Bt + b)) * Hs;
                    memcpy(yd, hb, sizeof(float) * (size_t)Hs);
                }
            }
        }
        for (int64_t b = 0; b < Bt; b++) {
            int64_t off = (layout ? (b * dirs + d) : (d * Bt + b)) * Hs;
            if (Yh)
                memcpy((float *)Yh->data + off, h + b * Hs, sizeof(float) * (size_t)Hs);
            if (Yc)
                memcpy((float *)Yc->data + off, c + b * Hs, sizeof(float) * (size_t)Hs);
        }
    }
out:
    free(xw);
    free(hr);
    free(h);
    free(hp);
    free(c);
    free(xs);
    free(rh);
    free(grh);
    return rc;
}

static int op_rnn(struct ml_kctx *k) { return rnn(k, K_RNN); }
static int op_gru(struct ml_kctx *k) { return rnn(k, K_GRU); }
static int op_lstm(struct ml_kctx *k) { return rnn(k, K_LSTM); }

const struct ml_op ml_ops_rnn[] = {
    {"RNN", "", op_rnn, ML_K_HALF_VIA_FLOAT},
    {"GRU", "", op_gru, ML_K_HALF_VIA_FLOAT},
    {"LSTM", "", op_lstm, ML_K_HALF_VIA_FLOAT},
    {NULL, NULL, NULL, 0},
};
