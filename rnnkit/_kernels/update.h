/* The plain SGD update in one pass over each weight, float32 and float64.
 *
 *     p   = p - (g * s) * lr          s: the clipping coefficient (1 without clipping)
 *     ssq = sum_i p_i^2               of the new p, in the dtype of p
 *
 * The reference is the NumPy composition (rnnkit/optim.py and rnnkit/clip.py): g *= s, t = g * lr,
 * p -= t, then a dot product of the new p with itself to check it. That makes four passes over the
 * weights and the gradients (and one over a scratch array); this makes one, reading p and g and
 * writing p. The products are rounded one at a time, as NumPy rounds them (no fused multiply-add:
 * fp-contract is off for these functions), so the new weights equal the reference bit for bit; g is
 * left unscaled. The sum of squares serves only the Trainer's check that the weights are finite and
 * that their squares do not overflow (rnnkit/trainer.py); it is summed in 16 lanes in the weights'
 * dtype, as BLAS's dot sums, so an overflow shows as inf exactly where the reference's would.
 */

#define SGD_LANES 16

typedef struct {
    void *p;
    const void *g;
    double s, lr;
    Py_ssize_t n;
    double part[POOL_MAX];          /* each thread's sum of squares */
} sgd_job_t;

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#define SGD_ROWS(NAME, T)                                                                                   \
    TARGETS static double NAME(T *restrict p, const T *restrict g, T s, T lr, Py_ssize_t i0, Py_ssize_t i1) \
    {                                                                                                       \
        T acc[SGD_LANES] = {0};                                                                             \
        Py_ssize_t i = i0;                                                                                  \
        for (; i + SGD_LANES <= i1; i += SGD_LANES)                                                         \
            for (int j = 0; j < SGD_LANES; j++) {                                                           \
                T t = g[i + j] * s;                                                                         \
                t = t * lr;                                                                                 \
                T v = p[i + j] - t;                                                                         \
                p[i + j] = v;                                                                               \
                acc[j] += v * v;                                                                            \
            }                                                                                               \
        for (; i < i1; i++) {                                                                               \
            T t = g[i] * s;                                                                                 \
            t = t * lr;                                                                                     \
            T v = p[i] - t;                                                                                 \
            p[i] = v;                                                                                       \
            acc[0] += v * v;                                                                                \
        }                                                                                                   \
        T total = 0;                                                                                        \
        for (int j = 0; j < SGD_LANES; j++) total += acc[j];                                                \
        return (double)total;                                                                               \
    }

SGD_ROWS(sgd_rows_f32, float)
SGD_ROWS(sgd_rows_f64, double)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static void sgd_job_f32(void *ctx, int tid, int nthreads)
{
    sgd_job_t *J = ctx;
    J->part[tid] = sgd_rows_f32(J->p, J->g, (float)J->s, (float)J->lr, J->n * tid / nthreads,
                                J->n * (tid + 1) / nthreads);
}

static void sgd_job_f64(void *ctx, int tid, int nthreads)
{
    sgd_job_t *J = ctx;
    J->part[tid] = sgd_rows_f64(J->p, J->g, J->s, J->lr, J->n * tid / nthreads, J->n * (tid + 1) / nthreads);
}
