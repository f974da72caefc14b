/* The time loops of the RNN, GRU and LSTM recurrences, for one element type.
 *
 * Included twice by _ckernels.c, with REAL = float and REAL = double; FN(name)
 * appends the type's suffix, SIGM/TANH are the type's activations, MM its BLAS
 * product and HAS_PACKED says whether packed.h serves it (float32 only). Each
 * function mirrors the NumPy reference in rnnkit/cells/{rnn,gru,lstm}.py, which
 * stays the definition: same equations, same order of operations, same caches.
 * What changes is where the work happens: one fused pass over each step's gates
 * instead of a dozen NumPy calls, and no Python between steps.
 *
 * Layout: time-major, C-contiguous. A step's gate block is (B, G*H), rows
 * stacked gate by gate as in PyTorch's weights. Masks (mask_t) carry element
 * strides so that one code path serves (T, B, H), (T, B, 1) and (1, B, H).
 *
 * Every loop runs on a slice of the batch, rows b0 .. b0+nb-1: the sequences of
 * a batch never interact, so threads (pool.h) take disjoint slices and need no
 * synchronisation between steps.
 */

/* -- masks ---------------------------------------------------------------------------------- */

/* s_new <- s_old + u_t * (s_new - s_old) on rows b0.. (take_update in rnnkit/cells/common.py);
 * s_new and s_old point at row b0. */
static ALWAYS_INLINE void FN(take_update)(REAL *s_new, const REAL *s_old, mask_t m, Py_ssize_t t,
                                          Py_ssize_t b0, Py_ssize_t nb, Py_ssize_t W)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        const REAL *u = (const REAL *)m.p + t * m.st + (b0 + b) * m.sb;
        REAL *restrict y = s_new + b * W;
        const REAL *restrict x = s_old + b * W;
        if (m.sj == 0) {
            const REAL ub = u[0];
            for (Py_ssize_t j = 0; j < W; j++) y[j] = (y[j] - x[j]) * ub + x[j];
        } else {
            for (Py_ssize_t j = 0; j < W; j++) y[j] = (y[j] - x[j]) * u[j] + x[j];
        }
    }
}

/* d <- u_t * d and skip <- d - u_t * d: the gradient of take_update (split_update in rnnkit/cells/common.py). */
static ALWAYS_INLINE void FN(split_update)(REAL *d, REAL *skip, mask_t m, Py_ssize_t t, Py_ssize_t b0,
                                           Py_ssize_t nb, Py_ssize_t W)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        const REAL *u = (const REAL *)m.p + t * m.st + (b0 + b) * m.sb;
        REAL *restrict y = d + b * W;
        REAL *restrict s = skip + b * W;
        if (m.sj == 0) {
            const REAL ub = u[0];
            for (Py_ssize_t j = 0; j < W; j++) {
                const REAL through = y[j] * ub;
                s[j] = y[j] - through;
                y[j] = through;
            }
        } else {
            for (Py_ssize_t j = 0; j < W; j++) {
                const REAL through = y[j] * u[j];
                s[j] = y[j] - through;
                y[j] = through;
            }
        }
    }
}

/* h_{t-1} as it enters the recurrent product: h itself, or h * r_t (recurrent dropout) in out.
 * h points at row b0; n = nb * H. */
static ALWAYS_INLINE const REAL *FN(recurrent_input)(const REAL *h, REAL *out, mask_t r, Py_ssize_t t,
                                                     Py_ssize_t b0, Py_ssize_t H, Py_ssize_t n)
{
    if (r.p == NULL) return h;
    const REAL *restrict m = (const REAL *)r.p + t * r.st + b0 * H;
    for (Py_ssize_t k = 0; k < n; k++) out[k] = h[k] * m[k];
    return out;
}

/* y <- y * r_t (+ skip): the recurrent mask and the skipped part of a state gradient. */
static ALWAYS_INLINE void FN(finish_dstate)(REAL *restrict y, const REAL *restrict skip, mask_t r, Py_ssize_t t,
                                            Py_ssize_t b0, Py_ssize_t H, Py_ssize_t n)
{
    if (r.p != NULL) {
        const REAL *restrict m = (const REAL *)r.p + t * r.st + b0 * H;
        for (Py_ssize_t k = 0; k < n; k++) y[k] *= m[k];
    }
    if (skip != NULL)
        for (Py_ssize_t k = 0; k < n; k++) y[k] += skip[k];
}

static ALWAYS_INLINE void FN(add_into)(REAL *restrict y, const REAL *restrict x, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < n; k++) y[k] += x[k];
}

/* -- products ------------------------------------------------------------------------------------ */

/* C (m, .) (+)= A (m, K) @ W^T with W (N, K) as given (w_trans: W^T (K, N) given instead), or
 * through the packed panels when there are some. */
static ALWAYS_INLINE void FN(product)(const void *packed, const REAL *w, int w_trans, const REAL *A, Py_ssize_t m,
                                      Py_ssize_t K, Py_ssize_t N, REAL *C, Py_ssize_t ldc, int beta)
{
#if HAS_PACKED
    if (packed) {
        packed_gemm_f32((const packed_t *)packed, A, K, 1, m, C, ldc, beta);
        return;
    }
#endif
    MM(0, w_trans ? 0 : 1, m, N, K, 1, A, K, w, w_trans ? N : K, beta ? 1 : 0, C, ldc);
}

/* C (m, N) (+)= A (m, K) @ W with W (K, N): the backward recurrent product. */
static ALWAYS_INLINE void FN(product_back)(const void *packed, const REAL *w, const REAL *A, Py_ssize_t m,
                                           Py_ssize_t K, Py_ssize_t N, REAL *C, int beta)
{
#if HAS_PACKED
    if (packed) {
        packed_gemm_f32((const packed_t *)packed, A, K, 1, m, C, N, beta);
        return;
    }
#endif
    MM(0, 0, m, N, K, 1, A, K, w, N, beta ? 1 : 0, C, N);
}

/* pre (rows, G*H) = b + x[row0:row0+rows] @ W_ih^T, with b = b_ih + b_hh on its first `fold`
 * entries (the rest of b_hh is added inside the step). */
static ALWAYS_INLINE void FN(bias_rows)(const proj_t *P, Py_ssize_t rows, Py_ssize_t GH, REAL *pre)
{
    const REAL *b_ih = P->b_ih, *b_hh = P->b_hh;
    if (b_ih) {
        for (Py_ssize_t k = 0; k < GH; k++) pre[k] = b_ih[k];
        if (b_hh)
            for (Py_ssize_t k = 0; k < P->fold; k++) pre[k] += b_hh[k];
        for (Py_ssize_t k = 1; k < rows; k++) memcpy(pre + k * GH, pre, sizeof(REAL) * GH);
    }
}

static ALWAYS_INLINE void FN(project_inputs)(const proj_t *P, Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t GH,
                                             REAL *pre)
{
    FN(bias_rows)(P, rows, GH, pre);
    FN(product)(P->packed, P->w, P->trans, (const REAL *)P->x + row0 * P->D, rows, P->D, GH, pre, GH,
                P->b_ih != NULL);
}

/* Where step t's input pre-activations are, for rows b0 .. b0+nb-1:
 * - packed products: projected step by step, into pre (the cache) or a scratch block;
 * - BLAS, with a cache: all steps projected at once before the loop (one large GEMM);
 * - BLAS, no cache: CHUNK_ROWS rows at a time through a scratch buffer, big enough for an
 *   efficient GEMM and small enough to leave memory alone. */
typedef struct {
    REAL *pre, *buf;
    Py_ssize_t chunk, b0, nb, B, GH;
    int mode;                       /* 0: all projected, 1: chunks, 2: step by step */
} FN(inputs_t);

static int FN(inputs_open)(FN(inputs_t) *S, const proj_t *P, REAL *pre, Py_ssize_t T, Py_ssize_t B, Py_ssize_t b0,
                           Py_ssize_t nb, Py_ssize_t GH)
{
    S->pre = pre, S->buf = NULL, S->b0 = b0, S->nb = nb, S->B = B, S->GH = GH, S->chunk = 1;
    if (P->packed) {
        S->mode = 2;
        if (!pre) S->buf = malloc(sizeof(REAL) * nb * GH);
        return pre || S->buf ? 0 : -1;
    }
    if (pre) {                      /* projected by the caller, before the threads start */
        S->mode = 0;
        return 0;
    }
    S->mode = 1;
    S->chunk = CHUNK_ROWS / B < 1 ? 1 : (CHUNK_ROWS / B > T ? T : CHUNK_ROWS / B);
    S->buf = malloc(sizeof(REAL) * S->chunk * B * GH);
    return S->buf ? 0 : -1;
}

static ALWAYS_INLINE REAL *FN(inputs_at)(FN(inputs_t) *S, const proj_t *P, Py_ssize_t t, Py_ssize_t T)
{
    const Py_ssize_t GH = S->GH;
    if (S->mode == 0) return S->pre + (t * S->B + S->b0) * GH;
    if (S->mode == 2) {
        REAL *dst = S->pre ? S->pre + (t * S->B + S->b0) * GH : S->buf;
        FN(project_inputs)(P, t * S->B + S->b0, S->nb, GH, dst);
        return dst;
    }
    const Py_ssize_t k = t % S->chunk;          /* mode 1: one thread, all rows */
    if (k == 0) FN(project_inputs)(P, t * S->B, ((T - t) < S->chunk ? (T - t) : S->chunk) * S->B, GH, S->buf);
    return S->buf + k * S->B * GH;
}

static void FN(inputs_close)(FN(inputs_t) *S) { free(S->buf); }

/* -- Elman RNN ------------------------------------------------------------------------------- */

/* a_t = x_t W_ih^T + b_ih + b_hh + hr @ W_hh^T;  f_t = tanh(a_t) or relu(a_t). */
TARGETS static int FN(rnn_forward_rows)(const rnn_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    REAL *h = A->h, *f = A->f;
    FN(inputs_t) in;
    if (FN(inputs_open)(&in, &A->proj, A->xw, T, B, b0, nb, H) < 0) return -1;
    REAL *hr = A->r.p ? malloc(sizeof(REAL) * n) : NULL;
    if (A->r.p && !hr) { FN(inputs_close)(&in); return -1; }
    for (Py_ssize_t t = 0; t < T; t++) {
        REAL *restrict a = FN(inputs_at)(&in, &A->proj, t, T);
        const REAL *hp = h + (t * B + b0) * H;
        REAL *hn = h + ((t + 1) * B + b0) * H;
        REAL *restrict ft = f ? f + ((A->nf == 1 ? 0 : t) * B + b0) * H : hn;
        FN(product)(A->packed, A->w, A->w_trans, FN(recurrent_input)(hp, hr, A->r, t, b0, H, n), nb, H, H, a, H, 1);
        if (A->relu)
            for (Py_ssize_t k = 0; k < n; k++) ft[k] = a[k] > 0 ? a[k] : 0;
        else
            for (Py_ssize_t k = 0; k < n; k++) ft[k] = TANH(a[k]);
        if (f) {                      /* lengths / zoneout: h_t = h_{t-1} + u (f_t - h_{t-1}) */
            memcpy(hn, ft, sizeof(REAL) * n);
            FN(take_update)(hn, hp, A->u, t, b0, nb, H);
        }
    }
    free(hr);
    FN(inputs_close)(&in);
    return 0;
}

/* da_t = dh_t * f'(a_t);  dh_{t-1} = da_t @ W_hh. */
TARGETS static int FN(rnn_backward_rows)(const rnn_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    const REAL *w = A->w, *dout = A->dout;
    REAL *dh = (REAL *)A->dh + b0 * H;
    REAL *skip = A->u.p ? malloc(sizeof(REAL) * n) : NULL;
    if (A->u.p && !skip) return -1;
    for (Py_ssize_t t = T - 1; t >= 0; t--) {
        if (dout) FN(add_into)(dh, dout + (t * B + b0) * H, n);
        if (skip) FN(split_update)(dh, skip, A->u, t, b0, nb, H);
        const REAL *restrict ft = (const REAL *)A->f + (t * B + b0) * H;
        REAL *restrict d = (REAL *)A->da + (t * B + b0) * H;
        if (A->relu)
            for (Py_ssize_t k = 0; k < n; k++) d[k] = ft[k] > 0 ? dh[k] : 0;
        else
            for (Py_ssize_t k = 0; k < n; k++) d[k] = dh[k] * (1 - ft[k] * ft[k]);
        FN(product_back)(A->packed, w, d, nb, H, H, dh, 0);
        FN(finish_dstate)(dh, skip, A->r, t, b0, H, n);
    }
    free(skip);
    return 0;
}

/* -- GRU (reset_after: PyTorch's form) --------------------------------------------------------- */

/* One step's gates, rows stacked r, z, n. a holds x_t W_ih^T + b_ih + (b_hr, b_hz, 0) and
 * receives the activated r, z, n; hw = hr @ W_hh^T; hn = hw_n + b_hn is kept for backward. */
static ALWAYS_INLINE void FN(gru_gates)(REAL *restrict a, const REAL *restrict hw, const REAL *restrict b_hn,
                                        REAL *restrict hn_out, const REAL *restrict hp, REAL *restrict hn,
                                        Py_ssize_t nb, Py_ssize_t H)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        REAL *restrict ar = a + b * 3 * H, *restrict az = ar + H, *restrict an = az + H;
        const REAL *restrict wr = hw + b * 3 * H, *restrict wz = wr + H, *restrict wn = wz + H;
        const REAL *restrict x = hp + b * H;
        REAL *restrict y = hn + b * H;
        REAL *restrict e = hn_out + b * H;
        for (Py_ssize_t j = 0; j < H; j++) {
            const REAL r = SIGM(ar[j] + wr[j]);
            const REAL z = SIGM(az[j] + wz[j]);
            const REAL hnj = b_hn ? wn[j] + b_hn[j] : wn[j];
            const REAL nj = TANH(an[j] + r * hnj);
            ar[j] = r;
            az[j] = z;
            an[j] = nj;
            e[j] = hnj;
            y[j] = (x[j] - nj) * z + nj;                /* h' = (1 - z) n + z h */
        }
    }
}

TARGETS static int FN(gru_forward_rows)(const gru_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    REAL *h = A->h, *extra = A->extra;
    const REAL *b_hn = A->b_hn;
    FN(inputs_t) in;
    if (FN(inputs_open)(&in, &A->proj, A->act, T, B, b0, nb, 3 * H) < 0) return -1;
    REAL *hw = malloc(sizeof(REAL) * 3 * n);
    REAL *hr = A->r.p ? malloc(sizeof(REAL) * n) : NULL;
    if (!hw || (A->r.p && !hr)) {
        free(hw);
        free(hr);
        FN(inputs_close)(&in);
        return -1;
    }
    for (Py_ssize_t t = 0; t < T; t++) {
        REAL *a = FN(inputs_at)(&in, &A->proj, t, T);
        const REAL *hp = h + (t * B + b0) * H;
        FN(product)(A->packed, A->w, A->w_trans, FN(recurrent_input)(hp, hr, A->r, t, b0, H, n), nb, H, 3 * H, hw,
                    3 * H, 0);
        FN(gru_gates)(a, hw, b_hn, extra + ((A->ne == 1 ? 0 : t) * B + b0) * H, hp, h + ((t + 1) * B + b0) * H, nb, H);
        if (A->u.p) FN(take_update)(h + ((t + 1) * B + b0) * H, hp, A->u, t, b0, nb, H);
    }
    free(hw);
    free(hr);
    FN(inputs_close)(&in);
    return 0;
}

/* One step backward: dh (reaching h') gives dxw (nb, 3H), the gradient of the input
 * pre-activations, and e (nb, 3H), that of hr W_hh^T + b_hh (also kept in dhwn for its n block);
 * dh becomes dh z, the part that reaches h_{t-1} directly. */
static ALWAYS_INLINE void FN(gru_cell_backward)(const REAL *restrict a, const REAL *restrict hp,
                                                const REAL *restrict hn, REAL *restrict dh, REAL *restrict dxw,
                                                REAL *restrict e, REAL *restrict dhwn, Py_ssize_t nb, Py_ssize_t H)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        const REAL *restrict ar = a + b * 3 * H, *restrict az = ar + H, *restrict an = az + H;
        const REAL *restrict x = hp + b * H, *restrict hnb = hn + b * H;
        REAL *restrict dr = dxw + b * 3 * H, *restrict dz = dr + H, *restrict dn = dz + H;
        REAL *restrict er = e + b * 3 * H, *restrict ez = er + H, *restrict en = ez + H;
        REAL *restrict wn = dhwn + b * H, *restrict g = dh + b * H;
        for (Py_ssize_t j = 0; j < H; j++) {
            const REAL r = ar[j], z = az[j], nj = an[j], d = g[j];
            const REAL daz = (d * (x[j] - nj)) * (z * (1 - z));
            const REAL dan = (d * (1 - z)) * (1 - nj * nj);
            const REAL dar = (dan * hnb[j]) * (r * (1 - r));
            const REAL dwn = dan * r;                    /* d(hr W_hn^T + b_hn) */
            dr[j] = dar;
            dz[j] = daz;
            dn[j] = dan;
            er[j] = dar;
            ez[j] = daz;
            en[j] = dwn;
            wn[j] = dwn;
            g[j] = d * z;                                /* through h' = ... + z h */
        }
    }
}

TARGETS static int FN(gru_backward_rows)(const gru_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    const REAL *act = A->act, *h = A->h, *extra = A->extra, *w = A->w, *dout = A->dout;
    REAL *dh = (REAL *)A->dh + b0 * H, *dxw = A->dxw, *dhwn = A->dhwn;
    REAL *e = malloc(sizeof(REAL) * 3 * n);      /* d(hr W_hh^T + b_hh) of one step: da_r, da_z, da_n r */
    REAL *dhr = A->r.p ? malloc(sizeof(REAL) * n) : NULL;
    REAL *skip = A->u.p ? malloc(sizeof(REAL) * n) : NULL;
    if (!e || (A->r.p && !dhr) || (A->u.p && !skip)) { free(e); free(dhr); free(skip); return -1; }
    for (Py_ssize_t t = T - 1; t >= 0; t--) {
        const Py_ssize_t row = t * B + b0;
        if (dout) FN(add_into)(dh, dout + row * H, n);
        if (skip) FN(split_update)(dh, skip, A->u, t, b0, nb, H);
        FN(gru_cell_backward)(act + row * 3 * H, h + row * H, extra + row * H, dh, dxw + row * 3 * H, e,
                              dhwn + row * H, nb, H);
        if (dhr) {                                       /* dh_{t-1} = dh z + (e @ W_hh) * r_t */
            FN(product_back)(A->packed, w, e, nb, 3 * H, H, dhr, 0);
            FN(finish_dstate)(dhr, NULL, A->r, t, b0, H, n);
            FN(add_into)(dh, dhr, n);
        } else {
            FN(product_back)(A->packed, w, e, nb, 3 * H, H, dh, 1);
        }
        if (skip) FN(add_into)(dh, skip, n);
    }
    free(e);
    free(dhr);
    free(skip);
    return 0;
}

/* -- LSTM --------------------------------------------------------------------------------------- */

/* One step's cell: gates (nb, 4H) hold the pre-activations i, f, g, o and receive their values. */
static ALWAYS_INLINE void FN(lstm_cell)(REAL *restrict a, const REAL *restrict cp, REAL *restrict cn,
                                        REAL *restrict tc, REAL *restrict hn, Py_ssize_t nb, Py_ssize_t H)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        REAL *restrict ai = a + b * 4 * H, *restrict af = ai + H, *restrict ag = af + H, *restrict ao = ag + H;
        const REAL *restrict c0 = cp + b * H;
        REAL *restrict c1 = cn + b * H, *restrict y = hn + b * H, *restrict th = tc + b * H;
        for (Py_ssize_t j = 0; j < H; j++) {
            const REAL i = SIGM(ai[j]), f = SIGM(af[j]), g = TANH(ag[j]), o = SIGM(ao[j]);
            ai[j] = i;
            af[j] = f;
            ag[j] = g;
            ao[j] = o;
            const REAL c = f * c0[j] + i * g;           /* c_t = f c_{t-1} + i g */
            const REAL tcj = TANH(c);
            c1[j] = c;
            th[j] = tcj;
            y[j] = o * tcj;                              /* h_t = o tanh(c_t) */
        }
    }
}

/* c, c_new and tanh_c may be rings of 2, 1 and 1 steps (inference keeps no history). */
TARGETS static int FN(lstm_forward_rows)(const lstm_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    REAL *h = A->h, *c = A->c, *c_new = A->c_new, *tanh_c = A->tanh_c;
    FN(inputs_t) in;
    if (FN(inputs_open)(&in, &A->proj, A->gates, T, B, b0, nb, 4 * H) < 0) return -1;
    REAL *hr = A->r.p ? malloc(sizeof(REAL) * n) : NULL;
    if (A->r.p && !hr) { FN(inputs_close)(&in); return -1; }
    for (Py_ssize_t t = 0; t < T; t++) {
        REAL *a = FN(inputs_at)(&in, &A->proj, t, T);
        const REAL *hp = h + (t * B + b0) * H;
        REAL *hn = h + ((t + 1) * B + b0) * H;
        const REAL *cp = c + ((A->nc == 2 ? (t & 1) : t) * B + b0) * H;
        REAL *cs = c + ((A->nc == 2 ? ((t + 1) & 1) : t + 1) * B + b0) * H;
        REAL *cn = c_new ? c_new + ((A->ncn == 1 ? 0 : t) * B + b0) * H : cs;
        FN(product)(A->packed, A->w, A->w_trans, FN(recurrent_input)(hp, hr, A->r, t, b0, H, n), nb, H, 4 * H, a,
                    4 * H, 1);
        FN(lstm_cell)(a, cp, cn, tanh_c + ((A->ntc == 1 ? 0 : t) * B + b0) * H, hn, nb, H);
        if (c_new) {
            memcpy(cs, cn, sizeof(REAL) * n);
            FN(take_update)(cs, cp, A->uc, t, b0, nb, H);
        }
        if (A->u.p) FN(take_update)(hn, hp, A->u, t, b0, nb, H);
    }
    free(hr);
    FN(inputs_close)(&in);
    return 0;
}

/* One step backward: dh (the gradient reaching m_t = o tanh(c_t)) and dc (reaching c_t) give
 * da (nb, 4H), the gradient of the pre-activations; dc becomes dc_{t-1}. */
static ALWAYS_INLINE void FN(lstm_cell_backward)(const REAL *restrict a, const REAL *restrict cp,
                                                 const REAL *restrict tc, const REAL *restrict dh,
                                                 REAL *restrict dc, REAL *restrict da, Py_ssize_t nb, Py_ssize_t H)
{
    for (Py_ssize_t b = 0; b < nb; b++) {
        const REAL *restrict ai = a + b * 4 * H, *restrict af = ai + H, *restrict ag = af + H, *restrict ao = ag + H;
        const REAL *restrict c0 = cp + b * H, *restrict th = tc + b * H, *restrict dm = dh + b * H;
        REAL *restrict di = da + b * 4 * H, *restrict df = di + H, *restrict dg = df + H, *restrict dO = dg + H;
        REAL *restrict dcb = dc + b * H;
        for (Py_ssize_t j = 0; j < H; j++) {
            const REAL i = ai[j], f = af[j], g = ag[j], o = ao[j], tcj = th[j];
            dO[j] = (dm[j] * tcj) * (o * (1 - o));                   /* da_o, through sigmoid */
            const REAL d = dcb[j] + dm[j] * o * (1 - tcj * tcj);    /* through m = o tanh(c) */
            di[j] = (d * g) * (i * (1 - i));
            df[j] = (d * c0[j]) * (f * (1 - f));
            dg[j] = (d * i) * (1 - g * g);                           /* through tanh */
            dcb[j] = d * f;                                          /* dc_{t-1} */
        }
    }
}

TARGETS static int FN(lstm_backward_rows)(const lstm_args *A, Py_ssize_t b0, Py_ssize_t nb)
{
    const Py_ssize_t T = A->T, B = A->B, H = A->H, n = nb * H;
    const REAL *gates = A->gates, *c = A->c, *tanh_c = A->tanh_c, *w = A->w, *dout = A->dout;
    REAL *dh = (REAL *)A->dh + b0 * H, *dc = (REAL *)A->dc + b0 * H, *da = A->da;
    REAL *skip_h = A->u.p ? malloc(sizeof(REAL) * n) : NULL;
    REAL *skip_c = A->uc.p ? malloc(sizeof(REAL) * n) : NULL;
    if ((A->u.p && !skip_h) || (A->uc.p && !skip_c)) { free(skip_h); free(skip_c); return -1; }
    for (Py_ssize_t t = T - 1; t >= 0; t--) {
        const Py_ssize_t row = t * B + b0;
        if (dout) FN(add_into)(dh, dout + row * H, n);
        if (skip_h) FN(split_update)(dh, skip_h, A->u, t, b0, nb, H);
        if (skip_c) FN(split_update)(dc, skip_c, A->uc, t, b0, nb, H);
        FN(lstm_cell_backward)(gates + row * 4 * H, c + row * H, tanh_c + row * H, dh, dc, da + row * 4 * H, nb, H);
        FN(product_back)(A->packed, w, da + row * 4 * H, nb, 4 * H, H, dh, 0);   /* dh_{t-1} = da @ W_hh */
        FN(finish_dstate)(dh, skip_h, A->r, t, b0, H, n);
        if (skip_c) FN(add_into)(dc, skip_c, n);
    }
    free(skip_h);
    free(skip_c);
    return 0;
}

/* -- running on the pool: each thread takes rows B*tid/n .. B*(tid+1)/n - 1 ------------------------- */

#define DEFINE_JOB(NAME, ARGS, ROWS)                                                                               \
    static void FN(NAME)(void *ctx, int tid, int nthreads)                                                         \
    {                                                                                                              \
        job_t *job = ctx;                                                                                          \
        const ARGS *A = job->args;                                                                                 \
        const Py_ssize_t b0 = A->B * tid / nthreads, b1 = A->B * (tid + 1) / nthreads;                             \
        if (b1 > b0 && FN(ROWS)(A, b0, b1 - b0) < 0) job->failed = 1;                                              \
    }

DEFINE_JOB(rnn_forward_job, rnn_args, rnn_forward_rows)
DEFINE_JOB(rnn_backward_job, rnn_args, rnn_backward_rows)
DEFINE_JOB(gru_forward_job, gru_args, gru_forward_rows)
DEFINE_JOB(gru_backward_job, gru_args, gru_backward_rows)
DEFINE_JOB(lstm_forward_job, lstm_args, lstm_forward_rows)
DEFINE_JOB(lstm_backward_job, lstm_args, lstm_backward_rows)
