/* The softmax cross-entropy of the output layer, row by row, in place: float32.
 *
 * For each row n of the logits z (N, V), with the bias b (V,) not yet added, its target y_n, the label
 * smoothing eps and the weight g_n of its gradient (rnnkit/layers/output.py has the equations):
 *
 *     z     += b                                   pass 1, with the row maximum m and the row sum
 *     e      = exp(z - m),  s = sum_v e            pass 2, e written over z
 *     loss_n = log s - (1 - eps)(z_y - m) - eps (mean_v z - m)
 *     dz     = g_n (e / s - eps / V) - g_n (1 - eps) onehot(y_n)      pass 3, written over e
 *
 * A row is read three times while it is in the core's cache (10,000 floats are 40 kB), instead
 * of the seven passes over the whole (N, V) array that the NumPy path makes; rows are split over
 * the thread pool. Excluded rows (real[n] = 0) get loss 0 and dz = 0, and their target is never
 * read. The NumPy path stays the reference (float64 runs there, bit for bit equal to the unfused
 * composition); this one agrees with it to float32 rounding (tests/layers/test_output.py).
 */

#define XENT_LANES 16

typedef struct {
    float *z;
    const float *bias;              /* (V,) or NULL */
    const int64_t *t;
    const uint8_t *real;            /* (N,) or NULL: every row */
    const float *scale;             /* (N,) weights of the rows' gradients, or NULL with grad = scalar */
    float scale0, eps;
    int grad;
    float *per;
    Py_ssize_t N, V, ldz;
    int bad_target;                 /* set when a real row's target is outside [0, V) */
} xent_job_t;

TARGETS static void xent_rows_f32(xent_job_t *J, Py_ssize_t r0, Py_ssize_t r1)
{
    const Py_ssize_t V = J->V, Vb = V - V % XENT_LANES;
    const float eps = J->eps;
    for (Py_ssize_t n = r0; n < r1; n++) {
        float *restrict z = J->z + n * J->ldz;
        if (J->real && !J->real[n]) {
            J->per[n] = 0.0f;
            if (J->grad) memset(z, 0, sizeof(float) * V);
            continue;
        }
        const int64_t y = J->t[n];
        if (y < 0 || y >= V) {
            J->bad_target = 1;
            J->per[n] = 0.0f;
            continue;
        }
        /* pass 1: bias, maximum, sum */
        float mx[XENT_LANES], sm[XENT_LANES];
        for (int k = 0; k < XENT_LANES; k++) mx[k] = -INFINITY, sm[k] = 0.0f;
        const float *restrict b = J->bias;
        Py_ssize_t v = 0;
        for (; v < Vb; v += XENT_LANES)
            for (int k = 0; k < XENT_LANES; k++) {
                const float x = b ? z[v + k] + b[v + k] : z[v + k];
                z[v + k] = x;
                mx[k] = x > mx[k] ? x : mx[k];
                sm[k] += x;
            }
        float m = -INFINITY, total = 0.0f;
        for (; v < V; v++) {
            const float x = b ? z[v] + b[v] : z[v];
            z[v] = x;
            m = x > m ? x : m;
            total += x;
        }
        for (int k = 0; k < XENT_LANES; k++) m = mx[k] > m ? mx[k] : m, total += sm[k];
        const float zy = z[y] - m;
        /* pass 2: e = exp(z - m) over z, s = sum e */
        float acc[XENT_LANES];
        for (int k = 0; k < XENT_LANES; k++) acc[k] = 0.0f;
        for (v = 0; v < Vb; v += XENT_LANES)
            for (int k = 0; k < XENT_LANES; k++) {
                float e;
                (void)expm1_neg_f32(z[v + k] - m, &e);
                z[v + k] = e;
                acc[k] += e;
            }
        float s = 0.0f;
        for (; v < V; v++) {
            float e;
            (void)expm1_neg_f32(z[v] - m, &e);
            z[v] = e;
            s += e;
        }
        for (int k = 0; k < XENT_LANES; k++) s += acc[k];
        J->per[n] = logf(s) - (1.0f - eps) * zy - (eps > 0.0f ? eps * (total / (float)V - m) : 0.0f);
        if (!J->grad) continue;
        /* pass 3: dz = g (e / s - eps / V) - g (1 - eps) onehot(y) */
        const float g = J->scale ? J->scale[n] : J->scale0, k1 = g / s, k0 = g * eps / (float)V;
        for (v = 0; v < V; v++) z[v] = z[v] * k1 - k0;
        z[y] -= g * (1.0f - eps);
    }
}

static void xent_job(void *ctx, int tid, int nthreads)
{
    xent_job_t *J = ctx;
    xent_rows_f32(J, J->N * tid / nthreads, J->N * (tid + 1) / nthreads);
}
