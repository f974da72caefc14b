/* rnnkit._kernels._ckernels: the time loops of the RNN, GRU and LSTM recurrences in C.
 *
 * Optional: rnnkit runs without it (the cell modules in rnnkit/cells hold the NumPy reference,
 * which this module must match; tests/test_fast_path.py checks that it does).
 *
 * Why it exists: a recurrence step is one small matrix product and a dozen
 * element-wise operations on (B, G*H) arrays. In NumPy each operation is a
 * Python call, a temporary and a pass through memory; here each step is one
 * product and one fused pass over the gates, with no Python between steps (the
 * GIL is released for the whole loop). docs/performance.md has the measurements.
 *
 * The pieces:
 * - products: float32 on AVX-512 CPUs multiplies by weights packed once per call
 *   (packed.h); otherwise BLAS. The module links no BLAS: rnnkit/_kernels/__init__.py
 *   finds the CBLAS functions of the library NumPy loaded and hands their addresses
 *   to set_blas(), so both use one BLAS.
 * - threads: the sequences of a batch are independent, so large calls split the
 *   batch over a small pool (pool.h), each thread running the whole time loop. The
 *   products around the loops run on the same pool, BLAS single-threaded on each
 *   thread's block where the library lets its thread count be set (blas_solo_begin),
 *   so that BLAS's own threads never compete with the pool's for the cores.
 * - the loops themselves (recurrences.h), written once for float and double.
 *
 * The functions take NumPy arrays through the buffer protocol (no NumPy
 * headers at build time) and check dtypes, contiguity and shapes, but they
 * are internal: rnnkit.cells prepares every argument.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* One build for every x86-64: GCC compiles each time loop for AVX-512, AVX2 (+FMA) and the
 * baseline, and the loader picks by the CPU's features (function multiversioning). GCC 12
 * names the feature levels; older ones get the bare instruction sets. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && !defined(RNNKIT_NO_CLONES)
#if __GNUC__ >= 12
#define TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define TARGETS
#endif

#if defined(_MSC_VER)
#define restrict __restrict
#endif

/* Packed products (packed.h) need GCC or Clang on x86-64; threads (pool.h) need POSIX threads. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(RNNKIT_NO_PACKED)
#define RNNKIT_PACKED 1
#else
#define RNNKIT_PACKED 0
#endif
#if defined(__unix__) || defined(__APPLE__)
#define RNNKIT_THREADS 1
#else
#define RNNKIT_THREADS 0
#endif

#include "packed.h"
#include "pool.h"

/* -- BLAS, by address ----------------------------------------------------------------------------- */

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm32_t)(int, int, int, int32_t, int32_t, int32_t, float, const float *, int32_t, const float *,
                          int32_t, float, float *, int32_t);
typedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                          int64_t, float, float *, int64_t);
typedef void (*dgemm32_t)(int, int, int, int32_t, int32_t, int32_t, double, const double *, int32_t,
                          const double *, int32_t, double, double *, int32_t);
typedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double *, int64_t,
                          const double *, int64_t, double, double *, int64_t);
typedef void (*sgemv32_t)(int, int, int32_t, int32_t, float, const float *, int32_t, const float *, int32_t, float,
                          float *, int32_t);
typedef void (*sgemv64_t)(int, int, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float,
                          float *, int64_t);
typedef void (*dgemv32_t)(int, int, int32_t, int32_t, double, const double *, int32_t, const double *, int32_t,
                          double, double *, int32_t);
typedef void (*dgemv64_t)(int, int, int64_t, int64_t, double, const double *, int64_t, const double *, int64_t,
                          double, double *, int64_t);

static struct {
    void *sgemm, *dgemm, *sgemv, *dgemv;
    int ilp64;                      /* integer arguments are 64-bit (OpenBLAS "64_" symbols) */
    void (*set_threads)(int);       /* the library's thread count (OpenBLAS), or NULL: not ours to set */
    int (*get_threads)(void);
} blas;

/* One pool on the cores. BLAS libraries run their own threads, which after a call keep spinning
 * for more work (OpenBLAS: about 0.1 s), and a spinning BLAS thread takes time from a pool thread
 * on the same core (measured: a forward pass 40% slower right after a BLAS product, on 2 cores).
 * Where the library lets its thread count be set (OpenBLAS), the products of a call run on the
 * pool instead, each thread calling BLAS single-threaded on its own block of the result; the
 * count is lowered for the call and restored after it. blas_solo_begin returns what to restore
 * (0: nothing; also when the library is not OpenBLAS, which then threads each product itself). */
static int blas_on_pool_wanted = 1;         /* set_options() */

static int blas_on_pool(void) { return blas_on_pool_wanted && blas.set_threads && blas.get_threads; }

static int blas_solo_begin(void)
{
    if (!RNNKIT_THREADS || pool.wanted <= 1 || !blas_on_pool()) return 0;
    const int n = blas.get_threads();
    if (n <= 1) return 0;
    blas.set_threads(1);
    return n;
}

static void blas_solo_end(int saved)
{
    if (saved > 1) blas.set_threads(saved);
}

/* C (M, N) = alpha op(A) op(B) + beta C, row-major; a single row goes through GEMV. */
#define DEFINE_MM(NAME, REAL, GEMM32, GEMM64, GEMV32, GEMV64, FGEMM, FGEMV)                                        \
    static void NAME(int ta, int tb, Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, REAL alpha, const REAL *A,          \
                     Py_ssize_t lda, const REAL *Bm, Py_ssize_t ldb, REAL beta, REAL *C, Py_ssize_t ldc)            \
    {                                                                                                              \
        if (M == 1 && blas.FGEMV) {                                                                                \
            /* y (N) = op(B)^T a: B stored (K, N) -> transposed GEMV; B stored (N, K) -> plain GEMV */             \
            const Py_ssize_t inca = ta ? lda : 1;                                                                  \
            const int tr = tb ? NO_TRANS : TRANS;                                                                  \
            const Py_ssize_t rows = tb ? N : K, cols = tb ? K : N;                                                 \
            if (blas.ilp64)                                                                                        \
                ((GEMV64)blas.FGEMV)(ROW_MAJOR, tr, rows, cols, alpha, Bm, ldb, A, inca, beta, C, 1);              \
            else                                                                                                   \
                ((GEMV32)blas.FGEMV)(ROW_MAJOR, tr, (int32_t)rows, (int32_t)cols, alpha, Bm, (int32_t)ldb, A,      \
                                     (int32_t)inca, beta, C, 1);                                                   \
            return;                                                                                                \
        }                                                                                                          \
        const int a = ta ? TRANS : NO_TRANS, b = tb ? TRANS : NO_TRANS;                                            \
        if (blas.ilp64)                                                                                            \
            ((GEMM64)blas.FGEMM)(ROW_MAJOR, a, b, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);                  \
        else                                                                                                       \
            ((GEMM32)blas.FGEMM)(ROW_MAJOR, a, b, (int32_t)M, (int32_t)N, (int32_t)K, alpha, A, (int32_t)lda, Bm,  \
                                 (int32_t)ldb, beta, C, (int32_t)ldc);                                             \
    }

DEFINE_MM(mm_f32, float, sgemm32_t, sgemm64_t, sgemv32_t, sgemv64_t, sgemm, sgemv)
DEFINE_MM(mm_f64, double, dgemm32_t, dgemm64_t, dgemv32_t, dgemv64_t, dgemm, dgemv)

/* -- activations ---------------------------------------------------------------------------------- */

/* float32: exp(y) for y in [-87, 0] by Cody-Waite reduction y = n ln2 + r, |r| <= ln2/2, and the
 * degree-7 Taylor polynomial of expm1(r) (truncation below 2e-8 relative), branch-free so that the
 * loops calling it vectorise. Returns expm1(y) and sets *e = exp(y), both to about 1 ulp. */
static ALWAYS_INLINE float expm1_neg_f32(float y, float *e)
{
    y = y < -87.0f ? -87.0f : y;
    const float shift = 12582912.0f;                       /* 1.5 * 2^23: adding it rounds to an integer */
    const float nf = (y * 1.44269504088896341f + shift) - shift;
    const float r = (y - nf * 0.693145751953125f) - nf * 1.428606765330187e-06f;
    const float p = r + r * r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f +
                    r * (1.38888889e-3f + r * 1.98412698e-4f)))));
    const int32_t bits = ((int32_t)nf + 127) << 23;        /* 2^n, n in [-126, 0] */
    float s;
    memcpy(&s, &bits, sizeof s);
    *e = s * (p + 1.0f);
    return s * p + (s - 1.0f);
}

/* sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: never overflows. */
static ALWAYS_INLINE float sigmoid_f32(float x)
{
    float e;
    (void)expm1_neg_f32(-fabsf(x), &e);
    const float num = x >= 0.0f ? 1.0f : e;
    return num / (1.0f + e);
}

/* tanh|x| = -expm1(-2|x|) / (2 + expm1(-2|x|)), accurate near 0 too; the sign put back. */
static ALWAYS_INLINE float tanh_f32(float x)
{
    float e;
    const float m = expm1_neg_f32(-2.0f * fabsf(x), &e);
    return copysignf(-m / (2.0f + m), x);
}

/* float64 is the precision of the checks: the C library's tanh, and sigmoid written exactly as
 * rnnkit.activations.sigmoid writes it. */
static ALWAYS_INLINE double sigmoid_f64(double x) { return 0.5 * (1.0 + tanh(0.5 * x)); }
static ALWAYS_INLINE double tanh_f64(double x) { return tanh(x); }

/* -- the loops, once per element type ------------------------------------------------------------ */

typedef struct {
    const void *p;                  /* NULL: no mask */
    Py_ssize_t st, sb, sj;          /* element strides over t, b and the feature (0: broadcast) */
} mask_t;

#define CHUNK_ROWS 1024             /* rows (steps x batch) per input-projection GEMM when no cache is kept */

typedef struct {                    /* the input projection x (T, B, D) @ W_ih^T + b_ih + b_hh[:fold] */
    const void *x, *w, *b_ih, *b_hh;  /* w is W_ih (G*H, D), or W_ih^T (D, G*H) when trans; biases may be NULL */
    const void *packed;             /* W_ih packed (packed_t), or NULL: BLAS */
    Py_ssize_t D, fold;
    int trans;
} proj_t;

typedef struct {
    Py_ssize_t T, B, H;
    proj_t proj;
    int w_trans, relu, nf;          /* w is W_hh^T (H, G*H) rather than W_hh (G*H, H); f has nf steps */
    const void *packed;             /* W_hh packed for this pass, or NULL: BLAS */
    void *xw, *h, *f, *dh, *da;
    const void *w, *dout;
    mask_t u, r;
} rnn_args;

typedef struct {
    Py_ssize_t T, B, H;
    proj_t proj;
    int w_trans, ne;                /* extra has ne steps (T, or 1 as scratch) */
    const void *packed;
    void *act, *h, *extra, *dh, *dxw, *dhwn;
    const void *w, *b_hn, *dout;
    mask_t u, r;
} gru_args;

typedef struct {
    Py_ssize_t T, B, H;
    proj_t proj;
    int w_trans, nc, ncn, ntc;      /* c holds nc states (T+1, or 2 as a ring); c_new, tanh_c ncn, ntc steps */
    const void *packed;
    void *gates, *h, *c, *c_new, *tanh_c, *dh, *dc, *da;
    const void *w, *dout;
    mask_t u, uc, r;
} lstm_args;

typedef struct {
    const void *args;
    int failed;                     /* a thread could not allocate its scratch */
} job_t;

#define REAL float
#define FN(name) name##_f32
#define SIGM sigmoid_f32
#define TANH tanh_f32
#define MM mm_f32
#define HAS_PACKED RNNKIT_PACKED
#include "recurrences.h"
#undef REAL
#undef FN
#undef SIGM
#undef TANH
#undef MM
#undef HAS_PACKED

#define REAL double
#define FN(name) name##_f64
#define SIGM sigmoid_f64
#define TANH tanh_f64
#define MM mm_f64
#define HAS_PACKED 0
#include "recurrences.h"
#undef REAL
#undef FN
#undef SIGM
#undef TANH
#undef MM
#undef HAS_PACKED

/* -- how a call runs: packed or BLAS products, how many threads ---------------------------------- */

static int use_packed_products = 1;        /* set_options(); the CPU check happens at import */

/* Packing costs one pass over the weights; it pays once the loop multiplies them by enough
 * rows (T * B), and it needs float32 and AVX-512. */
#define PACK_MIN_ROWS 16
/* Each thread takes at least this many multiply-adds of products per call: waking a thread costs
 * some microseconds, which this much work repays many times. */
static double work_per_thread = 4e6;

static int packing_pays(char kind, Py_ssize_t T, Py_ssize_t B)
{
#if RNNKIT_PACKED
    return kind == 'f' && use_packed_products && T * B >= PACK_MIN_ROWS;
#else
    (void)kind, (void)T, (void)B;
    return 0;
#endif
}

static int threads_for(Py_ssize_t T, Py_ssize_t B, Py_ssize_t G, Py_ssize_t H, Py_ssize_t D, int packed)
{
    if (!packed) return 1;                  /* BLAS runs its own threads inside each product */
    const double work = (double)T * B * G * H * (H + D);
    int n = (int)(work / work_per_thread);
    if (n > pool.wanted) n = pool.wanted;
    if (n > B) n = (int)B;
    return n < 1 ? 1 : n;
}

/* s (n) += the sums over k of a[k, :n] (row stride lda): a bias gradient. */
TARGETS static void column_sums_f32(const float *a, Py_ssize_t lda, Py_ssize_t K, Py_ssize_t n, float *s)
{
    for (Py_ssize_t k = 0; k < K; k++) {
        const float *restrict row = a + k * lda;
        float *restrict y = s;
        for (Py_ssize_t r = 0; r < n; r++) y[r] += row[r];
    }
}

static void column_sums_f64(const double *a, Py_ssize_t lda, Py_ssize_t K, Py_ssize_t n, double *s)
{
    for (Py_ssize_t k = 0; k < K; k++)
        for (Py_ssize_t r = 0; r < n; r++) s[r] += a[k * lda + r];
}

static int product_threads(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K)
{
    int n = (int)((double)M * N * K / work_per_thread);
    if (n > pool.wanted) n = pool.wanted;
    if (n > M) n = (int)M;
    return n < 1 ? 1 : n;
}

/* The products on the pool with BLAS single-threaded inside it (blas_solo_begin): c (M, N) =
 * alpha op(a) op(b) + beta c, each thread taking a block of rows of c (of columns when c is wider
 * than tall and no column sums are asked for), and cb (M) += the column sums of a (K, M) when cb
 * is not NULL (the weight gradients, ta = 1). Where BLAS's threads are not ours to set, one call
 * on this thread, which BLAS threads itself. */
typedef struct {
    char kind;
    int ta, tb, by_cols;
    Py_ssize_t M, N, K, lda, ldb, ldc;
    double alpha, beta;
    const void *a, *b;
    void *c, *cb;
} mm_job_t;

static void mm_job(void *ctx, int tid, int nthreads)
{
    const mm_job_t *J = ctx;
    const size_t size = J->kind == 'f' ? sizeof(float) : sizeof(double);
    const Py_ssize_t L = J->by_cols ? J->N : J->M;
    const Py_ssize_t i0 = L * tid / nthreads, i1 = L * (tid + 1) / nthreads;
    if (i1 <= i0) return;
    const char *a = J->a, *b = J->b;
    char *c = J->c;
    Py_ssize_t M = J->M, N = J->N;
    if (J->by_cols) {
        b += size * (J->tb ? i0 * J->ldb : i0);
        c += size * i0;
        N = i1 - i0;
    } else {
        a += size * (J->ta ? i0 : i0 * J->lda);
        c += size * i0 * J->ldc;
        M = i1 - i0;
    }
    if (J->kind == 'f') {
        mm_f32(J->ta, J->tb, M, N, J->K, (float)J->alpha, (const float *)a, J->lda, (const float *)b, J->ldb,
               (float)J->beta, (float *)c, J->ldc);
        if (J->cb) column_sums_f32((const float *)J->a + i0, J->lda, J->K, M, (float *)J->cb + i0);
    } else {
        mm_f64(J->ta, J->tb, M, N, J->K, J->alpha, (const double *)a, J->lda, (const double *)b, J->ldb, J->beta,
               (double *)c, J->ldc);
        if (J->cb) column_sums_f64((const double *)J->a + i0, J->lda, J->K, M, (double *)J->cb + i0);
    }
}

static void pool_mm(mm_job_t *J)
{
    J->by_cols = J->cb == NULL && J->N > J->M;
    const int saved = blas_solo_begin();
    const int n = saved ? product_threads(J->by_cols ? J->N : J->M, J->by_cols ? J->M : J->N, J->K) : 1;
    if (n > 1)
        pool_run(mm_job, J, n);
    else
        mm_job(J, 0, 1);
    blas_solo_end(saved);
}

/* pre (rows, G*H) = b + x @ W_ih^T for every step at once (the forward pass with a cache, when
 * W_ih is not packed), the product on the pool. */
static void project_all(const proj_t *P, char kind, Py_ssize_t rows, Py_ssize_t GH, void *pre)
{
    if (kind == 'f') bias_rows_f32(P, rows, GH, pre);
    else bias_rows_f64(P, rows, GH, pre);
    mm_job_t J = {kind, 0, !P->trans, 0, rows, GH, P->D, P->D, P->trans ? GH : P->D, GH,
                  1.0, P->b_ih ? 1.0 : 0.0, P->x, P->w, pre, NULL};
    pool_mm(&J);
}

typedef struct {                    /* packed copies of W_ih and W_hh for one pass, or W_hh^T for BLAS */
#if RNNKIT_PACKED
    packed_t ih, hh;
#endif
    int used;
    void *w_t;
} packs_t;

static void packs_free(packs_t *P)
{
#if RNNKIT_PACKED
    if (P->used) {
        free(P->ih.p);
        free(P->hh.p);
    }
#endif
    free(P->w_t);
    P->used = 0;
    P->w_t = NULL;
}

/* Below this many rows (T * B) of BLAS recurrent products per call, W_hh is multiplied as stored
 * (G*H, H), "NT"; from it on, and for B > 1, a copy of W_hh^T is made first, which BLAS multiplies
 * faster ("NN") by more than the copy costs (measured: docs/performance.md). */
#define TRANSPOSE_MIN_ROWS 64

static void transpose_f32(const float *restrict src, float *restrict dst, Py_ssize_t R, Py_ssize_t C);
static void transpose_f64(const double *restrict src, double *restrict dst, Py_ssize_t R, Py_ssize_t C);

static int blas_layout(packs_t *P, char kind, const void **w, int *w_trans, Py_ssize_t T, Py_ssize_t B,
                       Py_ssize_t rows, Py_ssize_t cols)
{
    if (*w_trans || T * B < TRANSPOSE_MIN_ROWS || B < 2) return 0;
    const size_t size = kind == 'f' ? sizeof(float) : sizeof(double);
    P->w_t = malloc(size * rows * cols);
    if (!P->w_t) return -1;
    if (kind == 'f') transpose_f32(*w, P->w_t, rows, cols);
    else transpose_f64(*w, P->w_t, rows, cols);
    *w = P->w_t;
    *w_trans = 1;
    return 0;
}

/* Pack W_ih (G*H, D) and W_hh (G*H, H) gate-major for a forward pass (NV = G, or 4 for G = 1). */
static int packs_forward(packs_t *P, proj_t *proj, const void **w_packed, const void *w_ih, int ih_trans,
                         const void *w_hh, int hh_trans, Py_ssize_t G, Py_ssize_t H, Py_ssize_t D)
{
    P->used = 0;
#if RNNKIT_PACKED
    if (ih_trans || hh_trans) return 0;     /* packing reads the weights as stored */
    const int NV = G == 1 ? 4 : (int)G, gate_major = G != 1;
    if (packed_alloc(&P->ih, D, H, NV, gate_major) < 0) return -1;
    if (packed_alloc(&P->hh, H, H, NV, gate_major) < 0) {
        free(P->ih.p);
        return -1;
    }
    pack_rows_f32(&P->ih, w_ih);
    pack_rows_f32(&P->hh, w_hh);
    P->used = 1;
    proj->packed = &P->ih;
    *w_packed = &P->hh;
#else
    (void)proj, (void)w_packed, (void)w_ih, (void)ih_trans, (void)w_hh, (void)hh_trans, (void)G, (void)H, (void)D;
#endif
    return 0;
}

/* Pack W_hh (G*H, H) by columns for a backward pass: dh = da @ W_hh. */
static int packs_backward(packs_t *P, const void **w_packed, const void *w_hh, Py_ssize_t G, Py_ssize_t H)
{
    P->used = 0;
#if RNNKIT_PACKED
    P->ih.p = NULL;
    if (packed_alloc(&P->hh, G * H, H, 4, 0) < 0) return -1;
    pack_cols_f32(&P->hh, w_hh, H);
    P->used = 1;
    *w_packed = &P->hh;
#else
    (void)w_packed, (void)w_hh, (void)G, (void)H;
#endif
    return 0;
}

/* -- arguments ------------------------------------------------------------------------------------ */

static int as_flag(PyObject *o, int *out)
{
    int v = PyObject_IsTrue(o);
    if (v < 0) return -1;
    *out = v;
    return 0;
}

#define MAX_BUFS 16

/* The buffers of one call, released together. */
typedef struct {
    Py_buffer v[MAX_BUFS];
    int n;
    char kind;                      /* 'f' or 'd', set by the first array */
    const char *fn;
} bufs_t;

static void release(bufs_t *bs)
{
    for (int i = 0; i < bs->n; i++) PyBuffer_Release(&bs->v[i]);
    bs->n = 0;
}

static char format_kind(const char *fmt)
{
    if (fmt == NULL) return 'B';
    if (*fmt == '<' || *fmt == '=' || *fmt == '@') fmt++;
    return (fmt[0] == 'f' || fmt[0] == 'd') && fmt[1] == '\0' ? fmt[0] : '?';
}

/* A C-contiguous float array of ndim dims whose shape matches want (-1: any; -2: 1 or the
 * matching entry of alt). Returns its data, or NULL for None when optional (sets *err on failure). */
static void *get(bufs_t *bs, PyObject *o, const char *name, int writable, int optional, int ndim,
                 const Py_ssize_t *want, const Py_ssize_t *alt, Py_ssize_t *shape_out, int *err)
{
    if (*err) return NULL;
    if (o == Py_None) {
        if (optional) return NULL;
        PyErr_Format(PyExc_TypeError, "%s: %s must be an array, got None", bs->fn, name);
        *err = 1;
        return NULL;
    }
    if (bs->n == MAX_BUFS) {
        PyErr_Format(PyExc_RuntimeError, "%s: too many arrays", bs->fn);
        *err = 1;
        return NULL;
    }
    Py_buffer *v = &bs->v[bs->n];
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, v, flags) < 0) {
        *err = 1;
        return NULL;
    }
    bs->n++;
    char k = format_kind(v->format);
    if (k != 'f' && k != 'd') {
        PyErr_Format(PyExc_TypeError, "%s: %s must be float32 or float64, got format '%s'", bs->fn, name,
                     v->format ? v->format : "B");
        *err = 1;
        return NULL;
    }
    if (bs->kind == 0) bs->kind = k;
    if (k != bs->kind) {
        PyErr_Format(PyExc_TypeError, "%s: %s must have the dtype of the other arrays", bs->fn, name);
        *err = 1;
        return NULL;
    }
    int ok = v->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) {
        if (want[i] == -1) continue;
        if (want[i] == -2) ok = v->shape[i] == 1 || v->shape[i] == alt[i];
        else ok = v->shape[i] == want[i];
    }
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s: %s has the wrong shape", bs->fn, name);
        *err = 1;
        return NULL;
    }
    if (shape_out)
        for (int i = 0; i < ndim; i++) shape_out[i] = v->shape[i];
    return v->buf;
}

/* A step mask (T, B, 1|W) (recurrent=0) or (T|1, B, W) (recurrent=1), or None. */
static mask_t get_mask(bufs_t *bs, PyObject *o, const char *name, Py_ssize_t T, Py_ssize_t B, Py_ssize_t W,
                       int recurrent, int *err)
{
    mask_t m = {NULL, 0, 0, 0};
    Py_ssize_t shape[3];
    Py_ssize_t want[3] = {recurrent ? -2 : T, B, recurrent ? W : -2}, alt[3] = {T, B, W};
    m.p = get(bs, o, name, 0, 1, 3, want, alt, shape, err);
    if (m.p) {
        m.sj = shape[2] == 1 ? 0 : 1;
        m.sb = shape[2];
        m.st = shape[0] == 1 ? 0 : B * shape[2];
    }
    return m;
}

/* Steps held by a ring-or-history array: n == full, or n == ring; anything else is an error. */
static int steps_of(bufs_t *bs, const char *name, Py_ssize_t n, Py_ssize_t full, Py_ssize_t ring, int *out,
                    int *err)
{
    if (*err) return 0;
    if (n != full && n != ring) {
        PyErr_Format(PyExc_ValueError, "%s: %s must hold %zd or %zd steps, got %zd", bs->fn, name, full, ring, n);
        *err = 1;
        return 0;
    }
    *out = (int)(n == full ? full : ring);
    return 1;
}

/* x (T, B, D), w_ih, trans, b_ih, b_hh, fold: the input projection's arguments, from args[0..5]. */
static void get_proj(bufs_t *bs, PyObject *const *args, Py_ssize_t T, Py_ssize_t B, Py_ssize_t GH, proj_t *P,
                     int *err)
{
    Py_ssize_t s[3];
    if (*err) return;
    if (as_flag(args[2], &P->trans) < 0) { *err = 1; return; }
    P->fold = PyLong_AsSsize_t(args[5]);
    if (P->fold == -1 && PyErr_Occurred()) { *err = 1; return; }
    if (P->fold < 0 || P->fold > GH) {
        PyErr_Format(PyExc_ValueError, "%s: fold must be in [0, %zd], got %zd", bs->fn, GH, P->fold);
        *err = 1;
        return;
    }
    P->packed = NULL;
    P->x = get(bs, args[0], "x", 0, 0, 3, (Py_ssize_t[]){T, B, -1}, NULL, s, err);
    if (*err) return;
    P->D = s[2];
    Py_ssize_t ws[2] = {P->trans ? P->D : GH, P->trans ? GH : P->D};
    P->w = get(bs, args[1], "w_ih", 0, 0, 2, ws, NULL, NULL, err);
    P->b_ih = get(bs, args[3], "b_ih", 0, 1, 1, (Py_ssize_t[]){GH}, NULL, NULL, err);
    P->b_hh = get(bs, args[4], "b_hh", 0, 1, 1, (Py_ssize_t[]){GH}, NULL, NULL, err);
}

/* T, B, H from the states h (T+1, B, H). */
static void get_states(bufs_t *bs, PyObject *o, Py_ssize_t *T, Py_ssize_t *B, Py_ssize_t *H, void **h, int *err)
{
    Py_ssize_t s[3];
    *h = get(bs, o, "h", 1, 0, 3, (Py_ssize_t[]){-1, -1, -1}, NULL, s, err);
    if (*err) return;
    *T = s[0] - 1, *B = s[1], *H = s[2];
    if (*T < 1 || *B < 1 || *H < 1) {
        PyErr_Format(PyExc_ValueError, "%s: h must be (T+1, B, H) with T, B, H >= 1", bs->fn);
        *err = 1;
    }
}

static int check_blas(const char *fn, char kind)
{
    if ((kind == 'f' && !blas.sgemm) || (kind == 'd' && !blas.dgemm)) {
        PyErr_Format(PyExc_RuntimeError, "%s: no BLAS; call set_blas first", fn);
        return -1;
    }
    return 0;
}

#define NARGS(fn_name, n)                                                                                        \
    if (nargs != (n)) {                                                                                          \
        PyErr_Format(PyExc_TypeError, "%s: expected %d arguments, got %zd", fn_name, (int)(n), nargs);           \
        return NULL;                                                                                             \
    }

#define FAIL_IF_ERR                                                                                              \
    if (err || check_blas(bs.fn, bs.kind) < 0) {                                                                 \
        release(&bs);                                                                                            \
        return NULL;                                                                                             \
    }

/* Pack (when it pays), project all inputs at once (BLAS with a cache), run the job on the pool. */
#define RUN_FORWARD(JOB, A, PRE, G, D)                                                                           \
    do {                                                                                                         \
        packs_t packs = {.used = 0, .w_t = NULL};                                                                \
        job_t job = {&(A), 0};                                                                                   \
        int nthreads = 1, rc = 0;                                                                                \
        Py_BEGIN_ALLOW_THREADS                                                                                   \
        if (packing_pays(bs.kind, (A).T, (A).B))                                                                 \
            rc = packs_forward(&packs, &(A).proj, &(A).packed, (A).proj.w, (A).proj.trans, (A).w, (A).w_trans,   \
                               G, (A).H, D);                                                                     \
        if (rc == 0 && !packs.used)                                                                              \
            rc = blas_layout(&packs, bs.kind, &(A).w, &(A).w_trans, (A).T, (A).B, (G) * (A).H, (A).H);          \
        if (rc == 0) {                                                                                           \
            if (!(A).proj.packed && (PRE)) project_all(&(A).proj, bs.kind, (A).T * (A).B, (G) * (A).H, (PRE));  \
            nthreads = threads_for((A).T, (A).B, G, (A).H, D, packs.used);                                       \
            pool_run(bs.kind == 'f' ? JOB##_f32 : JOB##_f64, &job, nthreads);                                   \
        }                                                                                                        \
        packs_free(&packs);                                                                                      \
        Py_END_ALLOW_THREADS                                                                                     \
        release(&bs);                                                                                            \
        if (rc < 0 || job.failed) return PyErr_NoMemory();                                                       \
    } while (0)

#define RUN_BACKWARD(JOB, A, G)                                                                                  \
    do {                                                                                                         \
        packs_t packs = {.used = 0, .w_t = NULL};                                                                \
        job_t job = {&(A), 0};                                                                                   \
        int rc = 0;                                                                                              \
        Py_BEGIN_ALLOW_THREADS                                                                                   \
        if (packing_pays(bs.kind, (A).T, (A).B)) rc = packs_backward(&packs, &(A).packed, (A).w, G, (A).H);      \
        if (rc == 0)                                                                                             \
            pool_run(bs.kind == 'f' ? JOB##_f32 : JOB##_f64, &job, threads_for((A).T, (A).B, G, (A).H, 0,        \
                                                                               packs.used));                     \
        packs_free(&packs);                                                                                      \
        Py_END_ALLOW_THREADS                                                                                     \
        release(&bs);                                                                                            \
        if (rc < 0 || job.failed) return PyErr_NoMemory();                                                       \
    } while (0)

/* rnn_forward(x, w_ih, ih_trans, b_ih, b_hh, fold, xw (T,B,H) or None, w_hh, hh_trans, h (T+1,B,H),
 *             f (T|1,B,H) or None, relu, u, r) */
static PyObject *py_rnn_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("rnn_forward", 14);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "rnn_forward"};
    rnn_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    if (as_flag(args[8], &A.w_trans) < 0 || as_flag(args[11], &A.relu) < 0) return NULL;
    get_states(&bs, args[9], &A.T, &A.B, &A.H, &A.h, &err);
    A.xw = get(&bs, args[6], "xw", 1, 1, 3, (Py_ssize_t[]){A.T, A.B, A.H}, NULL, NULL, &err);
    get_proj(&bs, args, A.T, A.B, A.H, &A.proj, &err);
    A.w = get(&bs, args[7], "w_hh", 0, 0, 2, (Py_ssize_t[]){A.H, A.H}, NULL, NULL, &err);
    A.f = get(&bs, args[10], "f", 1, 1, 3, (Py_ssize_t[]){-1, A.B, A.H}, NULL, s, &err);
    if (A.f) steps_of(&bs, "f", s[0], A.T, 1, &A.nf, &err);
    A.u = get_mask(&bs, args[12], "u", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[13], "r", A.T, A.B, A.H, 1, &err);
    if (!err && A.u.p && !A.f) { PyErr_SetString(PyExc_ValueError, "rnn_forward: an update mask needs f"); err = 1; }
    FAIL_IF_ERR;
    RUN_FORWARD(rnn_forward_job, A, A.xw, 1, A.proj.D);
    Py_RETURN_NONE;
}

/* rnn_backward(f (T,B,H), w (H,H), dout or None, dh (B,H) in/out, da (T,B,H) out, relu, u, r) */
static PyObject *py_rnn_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("rnn_backward", 8);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "rnn_backward"};
    rnn_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    if (as_flag(args[5], &A.relu) < 0) return NULL;
    A.f = get(&bs, args[0], "f", 0, 0, 3, (Py_ssize_t[]){-1, -1, -1}, NULL, s, &err);
    if (err) { release(&bs); return NULL; }
    A.T = s[0], A.B = s[1], A.H = s[2];
    Py_ssize_t tbh[3] = {A.T, A.B, A.H};
    A.w = get(&bs, args[1], "w", 0, 0, 2, (Py_ssize_t[]){A.H, A.H}, NULL, NULL, &err);
    A.dout = get(&bs, args[2], "dout", 0, 1, 3, tbh, NULL, NULL, &err);
    A.dh = get(&bs, args[3], "dh", 1, 0, 2, (Py_ssize_t[]){A.B, A.H}, NULL, NULL, &err);
    A.da = get(&bs, args[4], "da", 1, 0, 3, tbh, NULL, NULL, &err);
    A.u = get_mask(&bs, args[6], "u", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[7], "r", A.T, A.B, A.H, 1, &err);
    FAIL_IF_ERR;
    RUN_BACKWARD(rnn_backward_job, A, 1);
    Py_RETURN_NONE;
}

/* gru_forward(x, w_ih, ih_trans, b_ih, b_hh, fold, act (T,B,3H) or None, w_hh, hh_trans, b_hn (H,) or None,
 *             h (T+1,B,H), extra (T|1,B,H), u, r); fold = 2H: b_hn stays in the step */
static PyObject *py_gru_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("gru_forward", 14);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "gru_forward"};
    gru_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    if (as_flag(args[8], &A.w_trans) < 0) return NULL;
    get_states(&bs, args[10], &A.T, &A.B, &A.H, &A.h, &err);
    A.act = get(&bs, args[6], "act", 1, 1, 3, (Py_ssize_t[]){A.T, A.B, 3 * A.H}, NULL, NULL, &err);
    get_proj(&bs, args, A.T, A.B, 3 * A.H, &A.proj, &err);
    Py_ssize_t ws[2] = {A.w_trans ? A.H : 3 * A.H, A.w_trans ? 3 * A.H : A.H};
    A.w = get(&bs, args[7], "w_hh", 0, 0, 2, ws, NULL, NULL, &err);
    A.b_hn = get(&bs, args[9], "b_hn", 0, 1, 1, (Py_ssize_t[]){A.H}, NULL, NULL, &err);
    A.extra = get(&bs, args[11], "extra", 1, 0, 3, (Py_ssize_t[]){-1, A.B, A.H}, NULL, s, &err);
    if (!err) steps_of(&bs, "extra", s[0], A.T, 1, &A.ne, &err);
    A.u = get_mask(&bs, args[12], "u", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[13], "r", A.T, A.B, A.H, 1, &err);
    FAIL_IF_ERR;
    RUN_FORWARD(gru_forward_job, A, A.act, 3, A.proj.D);
    Py_RETURN_NONE;
}

/* gru_backward(act, h, extra, w (3H,H), dout or None, dh (B,H) in/out, dxw (T,B,3H) out, dhwn (T,B,H) out, u, r) */
static PyObject *py_gru_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("gru_backward", 10);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "gru_backward"};
    gru_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    A.act = get(&bs, args[0], "act", 0, 0, 3, (Py_ssize_t[]){-1, -1, -1}, NULL, s, &err);
    if (err) { release(&bs); return NULL; }
    if (s[2] % 3) { release(&bs); PyErr_SetString(PyExc_ValueError, "gru_backward: act must be (T, B, 3H)"); return NULL; }
    A.T = s[0], A.B = s[1], A.H = s[2] / 3;
    Py_ssize_t tbh[3] = {A.T, A.B, A.H};
    A.h = get(&bs, args[1], "h", 0, 0, 3, (Py_ssize_t[]){A.T + 1, A.B, A.H}, NULL, NULL, &err);
    A.extra = get(&bs, args[2], "extra", 0, 0, 3, tbh, NULL, NULL, &err);
    A.w = get(&bs, args[3], "w", 0, 0, 2, (Py_ssize_t[]){3 * A.H, A.H}, NULL, NULL, &err);
    A.dout = get(&bs, args[4], "dout", 0, 1, 3, tbh, NULL, NULL, &err);
    A.dh = get(&bs, args[5], "dh", 1, 0, 2, (Py_ssize_t[]){A.B, A.H}, NULL, NULL, &err);
    A.dxw = get(&bs, args[6], "dxw", 1, 0, 3, (Py_ssize_t[]){A.T, A.B, 3 * A.H}, NULL, NULL, &err);
    A.dhwn = get(&bs, args[7], "dhwn", 1, 0, 3, tbh, NULL, NULL, &err);
    A.u = get_mask(&bs, args[8], "u", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[9], "r", A.T, A.B, A.H, 1, &err);
    FAIL_IF_ERR;
    RUN_BACKWARD(gru_backward_job, A, 3);
    Py_RETURN_NONE;
}

/* lstm_forward(x, w_ih, ih_trans, b_ih, b_hh, fold, gates (T,B,4H) or None, w_hh, hh_trans, h (T+1,B,H),
 *              c (T+1|2,B,H), c_new (T|1,B,H) or None, tanh_c (T|1,B,H), u, uc, r) */
static PyObject *py_lstm_forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("lstm_forward", 16);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "lstm_forward"};
    lstm_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    if (as_flag(args[8], &A.w_trans) < 0) return NULL;
    get_states(&bs, args[9], &A.T, &A.B, &A.H, &A.h, &err);
    A.gates = get(&bs, args[6], "gates", 1, 1, 3, (Py_ssize_t[]){A.T, A.B, 4 * A.H}, NULL, NULL, &err);
    get_proj(&bs, args, A.T, A.B, 4 * A.H, &A.proj, &err);
    Py_ssize_t ws[2] = {A.w_trans ? A.H : 4 * A.H, A.w_trans ? 4 * A.H : A.H};
    A.w = get(&bs, args[7], "w_hh", 0, 0, 2, ws, NULL, NULL, &err);
    A.c = get(&bs, args[10], "c", 1, 0, 3, (Py_ssize_t[]){-1, A.B, A.H}, NULL, s, &err);
    if (!err) steps_of(&bs, "c", s[0], A.T + 1, 2, &A.nc, &err);
    A.c_new = get(&bs, args[11], "c_new", 1, 1, 3, (Py_ssize_t[]){-1, A.B, A.H}, NULL, s, &err);
    if (A.c_new) steps_of(&bs, "c_new", s[0], A.T, 1, &A.ncn, &err);
    A.tanh_c = get(&bs, args[12], "tanh_c", 1, 0, 3, (Py_ssize_t[]){-1, A.B, A.H}, NULL, s, &err);
    if (!err) steps_of(&bs, "tanh_c", s[0], A.T, 1, &A.ntc, &err);
    A.u = get_mask(&bs, args[13], "u", A.T, A.B, A.H, 0, &err);
    A.uc = get_mask(&bs, args[14], "uc", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[15], "r", A.T, A.B, A.H, 1, &err);
    if (!err && A.uc.p && !A.c_new) { PyErr_SetString(PyExc_ValueError, "lstm_forward: a cell update mask needs c_new"); err = 1; }
    FAIL_IF_ERR;
    RUN_FORWARD(lstm_forward_job, A, A.gates, 4, A.proj.D);
    Py_RETURN_NONE;
}

/* lstm_backward(gates, c (T+1,B,H), tanh_c, w (4H,H), dout or None, dh, dc (B,H) in/out, da (T,B,4H) out, u, uc, r) */
static PyObject *py_lstm_backward(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("lstm_backward", 11);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "lstm_backward"};
    lstm_args A = {0};
    int err = 0;
    Py_ssize_t s[3];
    A.gates = get(&bs, args[0], "gates", 0, 0, 3, (Py_ssize_t[]){-1, -1, -1}, NULL, s, &err);
    if (err) { release(&bs); return NULL; }
    if (s[2] % 4) { release(&bs); PyErr_SetString(PyExc_ValueError, "lstm_backward: gates must be (T, B, 4H)"); return NULL; }
    A.T = s[0], A.B = s[1], A.H = s[2] / 4;
    Py_ssize_t tbh[3] = {A.T, A.B, A.H};
    A.c = get(&bs, args[1], "c", 0, 0, 3, (Py_ssize_t[]){A.T + 1, A.B, A.H}, NULL, NULL, &err);
    A.tanh_c = get(&bs, args[2], "tanh_c", 0, 0, 3, tbh, NULL, NULL, &err);
    A.w = get(&bs, args[3], "w", 0, 0, 2, (Py_ssize_t[]){4 * A.H, A.H}, NULL, NULL, &err);
    A.dout = get(&bs, args[4], "dout", 0, 1, 3, tbh, NULL, NULL, &err);
    A.dh = get(&bs, args[5], "dh", 1, 0, 2, (Py_ssize_t[]){A.B, A.H}, NULL, NULL, &err);
    A.dc = get(&bs, args[6], "dc", 1, 0, 2, (Py_ssize_t[]){A.B, A.H}, NULL, NULL, &err);
    A.da = get(&bs, args[7], "da", 1, 0, 3, (Py_ssize_t[]){A.T, A.B, 4 * A.H}, NULL, NULL, &err);
    A.u = get_mask(&bs, args[8], "u", A.T, A.B, A.H, 0, &err);
    A.uc = get_mask(&bs, args[9], "uc", A.T, A.B, A.H, 0, &err);
    A.r = get_mask(&bs, args[10], "r", A.T, A.B, A.H, 1, &err);
    FAIL_IF_ERR;
    RUN_BACKWARD(lstm_backward_job, A, 4);
    Py_RETURN_NONE;
}

/* A 2-D float array whose rows may be spaced (a column block of a wider array): data, shape, row stride. */
static void *get_rows(bufs_t *bs, PyObject *o, const char *name, int writable, Py_ssize_t *shape, Py_ssize_t *ld,
                      int *err)
{
    if (*err) return NULL;
    Py_buffer *v = &bs->v[bs->n];
    if (PyObject_GetBuffer(o, v, PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        *err = 1;
        return NULL;
    }
    bs->n++;
    const char k = format_kind(v->format);
    if ((k != 'f' && k != 'd') || (bs->kind && k != bs->kind)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be float32 or float64 like the other arrays", bs->fn, name);
        *err = 1;
        return NULL;
    }
    bs->kind = k;
    if (v->ndim != 2 || v->strides[1] != v->itemsize || v->strides[0] % v->itemsize ||
        v->strides[0] < v->shape[1] * v->itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be 2-D with contiguous rows", bs->fn, name);
        *err = 1;
        return NULL;
    }
    shape[0] = v->shape[0], shape[1] = v->shape[1], *ld = v->strides[0] / v->itemsize;
    return v->buf;
}

/* -- the products around the loops: weight gradients and dx ---------------------------------------- */

/* They run on the thread pool, like the loops, so that a training step never wakes BLAS's own
 * threads (which, waiting for more work after a call, would compete with the pool's on the same
 * cores): BLAS single-threaded on each thread's block where the library lets rnnkit set its thread
 * count (OpenBLAS, pool_mm), else the packed kernels (float32 and AVX-512), else BLAS itself. */

#define KC 256                      /* rows of B packed at a time for A^T @ B */

static int packed_on(char kind)
{
#if RNNKIT_PACKED
    return kind == 'f' && use_packed_products;
#else
    (void)kind;
    return 0;
#endif
}

typedef struct {
    const float *a, *b;
    float *c, *cb;
    Py_ssize_t M, N, K, lda, ldb, ldc;
    const void *packed;             /* nn: B packed once for every thread */
    int failed;
} product_job;

/* c (M, N) += a^T @ b and cb (M) += the column sums of a; a (K, M), b (K, N); a thread takes rows of c. */
static void tn_job(void *ctx, int tid, int nthreads)
{
#if RNNKIT_PACKED
    product_job *J = ctx;
    const Py_ssize_t r0 = J->M * tid / nthreads, r1 = J->M * (tid + 1) / nthreads;
    if (r1 <= r0) return;
    packed_t P;
    float *scratch = malloc(sizeof(float) * KC * 8);
    if (!scratch || packed_alloc(&P, KC, J->N, 4, 0) < 0) {
        free(scratch);
        J->failed = 1;
        return;
    }
    for (Py_ssize_t k0 = 0; k0 < J->K; k0 += KC) {
        P.K = J->K - k0 < KC ? J->K - k0 : KC;
        pack_cols_f32(&P, J->b + k0 * J->ldb, J->ldb);
        packed_gemm_at_f32(&P, J->a + k0 * J->lda + r0, J->lda, r1 - r0, J->c + r0 * J->ldc, J->ldc, scratch);
    }
    free(P.p);
    free(scratch);
    if (J->cb) column_sums_f32(J->a + r0, J->lda, J->K, r1 - r0, J->cb + r0);
#else
    (void)ctx, (void)tid, (void)nthreads;
#endif
}

/* c (M, N) = a @ b; a (M, K); b packed; a thread takes rows of c. */
static void nn_job(void *ctx, int tid, int nthreads)
{
#if RNNKIT_PACKED
    product_job *J = ctx;
    const Py_ssize_t r0 = J->M * tid / nthreads, r1 = J->M * (tid + 1) / nthreads;
    if (r1 > r0)
        packed_gemm_f32(J->packed, J->a + r0 * J->lda, J->lda, 1, r1 - r0, J->c + r0 * J->ldc, J->ldc, 0);
#else
    (void)ctx, (void)tid, (void)nthreads;
#endif
}

/* gemm(a, b, c, trans_a, trans_b, alpha, beta): c = alpha op(a) @ op(b) + beta c, 2-D arrays whose rows
 * are contiguous (they may be column blocks of wider arrays). */
static PyObject *py_gemm(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("gemm", 7);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "gemm"};
    int err = 0, ta, tb;
    Py_ssize_t sa[2], sb[2], sc[2], lda, ldb, ldc;
    if (as_flag(args[3], &ta) < 0 || as_flag(args[4], &tb) < 0) return NULL;
    double alpha = PyFloat_AsDouble(args[5]), beta = PyFloat_AsDouble(args[6]);
    if (PyErr_Occurred()) return NULL;
    const void *a = get_rows(&bs, args[0], "a", 0, sa, &lda, &err);
    const void *b = get_rows(&bs, args[1], "b", 0, sb, &ldb, &err);
    void *c = get_rows(&bs, args[2], "c", 1, sc, &ldc, &err);
    if (err) { release(&bs); return NULL; }
    Py_ssize_t M = ta ? sa[1] : sa[0], K = ta ? sa[0] : sa[1], Kb = tb ? sb[1] : sb[0], N = tb ? sb[0] : sb[1];
    if (K != Kb || sc[0] != M || sc[1] != N) {
        release(&bs);
        PyErr_SetString(PyExc_ValueError, "gemm: the shapes do not chain");
        return NULL;
    }
    FAIL_IF_ERR;
    mm_job_t J = {bs.kind, ta, tb, 0, M, N, K, lda, ldb, ldc, alpha, beta, a, b, c, NULL};
    Py_BEGIN_ALLOW_THREADS
    pool_mm(&J);
    Py_END_ALLOW_THREADS
    release(&bs);
    Py_RETURN_NONE;
}

/* Which weight-gradient products take the packed kernels on the pool (float32, AVX-512) rather
 * than BLAS (on the pool where blas_on_pool(), else with its own threads). With BLAS threading
 * itself: alone, BLAS was as fast or faster for every shape measured, but inside a training step
 * of the larger layers (bench_layers "wide-batch", "large": 0.2-2 G multiply-adds per product)
 * BLAS's threads, spinning after each call, slowed the loops' own pool, while the products of the
 * PTB language model (0.064 G) gained from BLAS (docs/performance.md). With BLAS on the pool, BLAS
 * won for char-lm's products (0.1-0.2 G, a 3% faster training step) and the packed kernels for the
 * wide batch's (0.8-1.7 G, 4%). */
#define TN_PACKED_MIN_WORK 1e8
#define TN_PACKED_MIN_WORK_ON_POOL 4e8     /* char-lm's 0.1-0.2 G: BLAS; wide-batch's 0.8-1.7 G: packed */

/* tn(a, b, c, cb): c (M, N) += a^T @ b, and cb (M,) += column sums of a unless cb is None;
 * a (K, M) and b (K, N) with contiguous rows (a may be a column block of a wider array). */
static PyObject *py_tn(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("tn", 4);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "tn"};
    int err = 0;
    Py_ssize_t sa[2], sb[2], sc[2], lda, ldb, ldc;
    const void *a = get_rows(&bs, args[0], "a", 0, sa, &lda, &err);
    const void *b = get_rows(&bs, args[1], "b", 0, sb, &ldb, &err);
    void *c = get_rows(&bs, args[2], "c", 1, sc, &ldc, &err);
    if (!err && (sb[0] != sa[0] || sc[0] != sa[1] || sc[1] != sb[1])) {
        PyErr_SetString(PyExc_ValueError, "tn: the shapes do not chain");
        err = 1;
    }
    void *cb = get(&bs, args[3], "cb", 1, 1, 1, (Py_ssize_t[]){sa[1]}, NULL, NULL, &err);
    FAIL_IF_ERR;
    const Py_ssize_t K = sa[0], M = sa[1], N = sb[1];
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    const double packed_from = blas_on_pool() ? TN_PACKED_MIN_WORK_ON_POOL : TN_PACKED_MIN_WORK;
    if (packed_on(bs.kind) && (double)M * N * K >= packed_from) {
        product_job J = {a, b, c, cb, M, N, K, lda, ldb, ldc, NULL, 0};
        pool_run(tn_job, &J, product_threads(M, N, K));
        failed = J.failed;
    } else {
        mm_job_t J = {bs.kind, 1, 0, 0, M, N, K, lda, ldb, ldc, 1.0, 1.0, a, b, c, cb};
        pool_mm(&J);
    }
    Py_END_ALLOW_THREADS
    release(&bs);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* nn(a, b, c): c (M, N) = a @ b; a (M, K), b (K, N), c with contiguous rows. */
static PyObject *py_nn(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("nn", 3);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "nn"};
    int err = 0;
    Py_ssize_t sa[2], sb[2], sc[2], lda, ldb, ldc;
    const void *a = get_rows(&bs, args[0], "a", 0, sa, &lda, &err);
    const void *b = get_rows(&bs, args[1], "b", 0, sb, &ldb, &err);
    void *c = get_rows(&bs, args[2], "c", 1, sc, &ldc, &err);
    if (!err && (sb[0] != sa[1] || sc[0] != sa[0] || sc[1] != sb[1])) {
        PyErr_SetString(PyExc_ValueError, "nn: the shapes do not chain");
        err = 1;
    }
    FAIL_IF_ERR;
    const Py_ssize_t M = sa[0], K = sa[1], N = sb[1];
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
#if RNNKIT_PACKED
    if (packed_on(bs.kind) && !blas_on_pool()) {
        packed_t P;
        if (packed_alloc(&P, K, N, 4, 0) < 0) {
            failed = 1;
        } else {
            pack_cols_f32(&P, b, ldb);
            product_job J = {a, b, c, NULL, M, N, K, lda, ldb, ldc, &P, 0};
            pool_run(nn_job, &J, product_threads(M, N, K));
            free(P.p);
        }
    } else
#endif
    {
        mm_job_t J = {bs.kind, 0, 0, 0, M, N, K, lda, ldb, ldc, 1.0, 0.0, a, b, c, NULL};
        pool_mm(&J);
    }
    Py_END_ALLOW_THREADS
    release(&bs);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* transpose(src (R, C), dst (C, R)): dst = src^T, in cache-sized tiles (NumPy's strided copy of a
 * transposed view walks one side a whole row apart). */
#define DEFINE_TRANSPOSE(NAME, REAL)                                                                               \
    static void NAME(const REAL *restrict src, REAL *restrict dst, Py_ssize_t R, Py_ssize_t C)                     \
    {                                                                                                              \
        const Py_ssize_t tile = 32;                                                                                \
        for (Py_ssize_t i0 = 0; i0 < R; i0 += tile)                                                                \
            for (Py_ssize_t j0 = 0; j0 < C; j0 += tile) {                                                          \
                const Py_ssize_t i1 = i0 + tile < R ? i0 + tile : R, j1 = j0 + tile < C ? j0 + tile : C;           \
                for (Py_ssize_t j = j0; j < j1; j++)                                                               \
                    for (Py_ssize_t i = i0; i < i1; i++) dst[j * R + i] = src[i * C + j];                          \
            }                                                                                                      \
    }
DEFINE_TRANSPOSE(transpose_f32, float)
DEFINE_TRANSPOSE(transpose_f64, double)

static PyObject *py_transpose(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("transpose", 2);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "transpose"};
    int err = 0;
    Py_ssize_t s[2];
    const void *src = get(&bs, args[0], "src", 0, 0, 2, (Py_ssize_t[]){-1, -1}, NULL, s, &err);
    void *dst = err ? NULL : get(&bs, args[1], "dst", 1, 0, 2, (Py_ssize_t[]){s[1], s[0]}, NULL, NULL, &err);
    if (err) { release(&bs); return NULL; }
    Py_BEGIN_ALLOW_THREADS
    if (bs.kind == 'f')
        transpose_f32(src, dst, s[0], s[1]);
    else
        transpose_f64(src, dst, s[0], s[1]);
    Py_END_ALLOW_THREADS
    release(&bs);
    Py_RETURN_NONE;
}

static int cpu_has_avx512(void)
{
#if RNNKIT_PACKED
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* set_options(packed, threads, work, blas_on_pool): use the packed products where they apply (1, if
 * the CPU can; 0; -1: keep), run on up to `threads` threads (0: keep), give each thread at least
 * `work` multiply-adds (0: keep), run BLAS single-threaded on the pool where the library allows it
 * (1, 0; -1: keep). Returns (packed, threads, work, blas_on_pool) in effect. */
static PyObject *py_set_options(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("set_options", 4);
    long packed = PyLong_AsLong(args[0]);        /* 1, 0, or -1: keep */
    if (packed == -1 && PyErr_Occurred()) return NULL;
    long threads = PyLong_AsLong(args[1]);       /* >= 1, or 0: keep */
    if (threads == -1 && PyErr_Occurred()) return NULL;
    double work = PyFloat_AsDouble(args[2]);    /* multiply-adds per thread, or 0: keep */
    if (work == -1.0 && PyErr_Occurred()) return NULL;
    long on_pool = PyLong_AsLong(args[3]);       /* 1, 0, or -1: keep */
    if (on_pool == -1 && PyErr_Occurred()) return NULL;
    if (packed >= 0) use_packed_products = packed && cpu_has_avx512();
    if (on_pool >= 0) blas_on_pool_wanted = on_pool != 0;
    if (work > 0) work_per_thread = work;
#if RNNKIT_THREADS
    if (threads > 0) pool.wanted = threads < POOL_MAX ? (int)threads : POOL_MAX;
#endif
    return Py_BuildValue("(iidi)", use_packed_products, pool.wanted, work_per_thread, blas_on_pool());
}

/* set_blas(sgemm, dgemm, sgemv, dgemv, ilp64, set_threads, get_threads): addresses (ints) of the
 * CBLAS functions and of the library's thread-count setter and getter (OpenBLAS); 0 = absent. */
static PyObject *py_set_blas(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("set_blas", 7);
    void *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = PyLong_AsVoidPtr(args[i < 4 ? i : i + 1]);
        if (PyErr_Occurred()) return NULL;
    }
    int ilp64;
    if (as_flag(args[4], &ilp64) < 0) return NULL;
    blas.sgemm = p[0], blas.dgemm = p[1], blas.sgemv = p[2], blas.dgemv = p[3], blas.ilp64 = ilp64;
    blas.set_threads = NULL, blas.get_threads = NULL;
    if (p[4] && p[5]) {
        blas.set_threads = (void (*)(int))p[4];
        blas.get_threads = (int (*)(void))p[5];
    }
    Py_RETURN_NONE;
}

/* -- the output layer ------------------------------------------------------------------------------ */

#include "output.h"

/* A C-contiguous 1-D array of n items of the given struct format characters and size, or NULL for
 * None when optional (sets *err on failure). */
static void *get_items(bufs_t *bs, PyObject *o, const char *name, const char *formats, Py_ssize_t size,
                       Py_ssize_t n, int optional, int *err)
{
    if (*err) return NULL;
    if (o == Py_None) {
        if (optional) return NULL;
        PyErr_Format(PyExc_TypeError, "%s: %s must be an array, got None", bs->fn, name);
        *err = 1;
        return NULL;
    }
    Py_buffer *v = &bs->v[bs->n];
    if (PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        *err = 1;
        return NULL;
    }
    bs->n++;
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (f[0] == '\0' || f[1] != '\0' || !strchr(formats, f[0]) || v->itemsize != size || v->ndim != 1 ||
        v->shape[0] != n) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a contiguous (%zd,) array of %zd-byte items '%s'", bs->fn,
                     name, n, size, formats);
        *err = 1;
        return NULL;
    }
    return v->buf;
}

/* softmax_xent(z, bias, targets, real, scale, eps, per): output.h, for float32 logits z (N, V).
 * bias (V,) or None; targets (N,) int64; real (N,) bool or None; scale None (no gradient), a number
 * (every row's gradient weight) or (N,) float32; per (N,) float32 receives the rows' losses. */
static PyObject *py_softmax_xent(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("softmax_xent", 7);
    bufs_t bs = {.n = 0, .kind = 'f', .fn = "softmax_xent"};
    int err = 0;
    Py_ssize_t sz[2];
    xent_job_t J = {0};
    J.z = get(&bs, args[0], "z", 1, 0, 2, (Py_ssize_t[]){-1, -1}, NULL, sz, &err);
    if (err) { release(&bs); return NULL; }
    J.N = sz[0], J.V = sz[1], J.ldz = sz[1];
    J.bias = get(&bs, args[1], "bias", 0, 1, 1, (Py_ssize_t[]){J.V}, NULL, NULL, &err);
    J.t = get_items(&bs, args[2], "targets", "qlL", 8, J.N, 0, &err);
    J.real = get_items(&bs, args[3], "real", "?bB", 1, J.N, 1, &err);
    J.grad = args[4] != Py_None;
    if (J.grad && !err) {
        if (PyFloat_Check(args[4]) || PyLong_Check(args[4])) {
            J.scale0 = (float)PyFloat_AsDouble(args[4]);
            if (PyErr_Occurred()) err = 1;
        } else {
            J.scale = get(&bs, args[4], "scale", 0, 0, 1, (Py_ssize_t[]){J.N}, NULL, NULL, &err);
        }
    }
    if (!err) {
        J.eps = (float)PyFloat_AsDouble(args[5]);
        if (PyErr_Occurred()) err = 1;
    }
    J.per = get(&bs, args[6], "per", 1, 0, 1, (Py_ssize_t[]){J.N}, NULL, NULL, &err);
    if (err) { release(&bs); return NULL; }
    if (J.V == 0) {
        release(&bs);
        PyErr_SetString(PyExc_ValueError, "softmax_xent: z must have at least one column");
        return NULL;
    }
    /* a thread per 256k logits: below that, waking one costs more than it saves */
    int n = (int)((double)J.N * J.V / 262144.0);
    if (n > pool.wanted) n = pool.wanted;
    if (n > J.N) n = (int)J.N;
    Py_BEGIN_ALLOW_THREADS
    pool_run(xent_job, &J, n < 1 ? 1 : n);
    Py_END_ALLOW_THREADS
    release(&bs);
    if (J.bad_target) {
        PyErr_Format(PyExc_IndexError, "softmax_xent: targets must be in [0, %zd) on real rows", J.V);
        return NULL;
    }
    Py_RETURN_NONE;
}

#include "update.h"

/* sgd_step(p, g, s, lr) -> sum of squares of the new p: p -= (g * s) * lr over two 1-D contiguous
 * arrays of one dtype (update.h), split over the thread pool above a million weights. */
static PyObject *py_sgd_step(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    NARGS("sgd_step", 4);
    bufs_t bs = {.n = 0, .kind = 0, .fn = "sgd_step"};
    int err = 0;
    Py_ssize_t n;
    sgd_job_t J = {0};
    J.p = get(&bs, args[0], "p", 1, 0, 1, (Py_ssize_t[]){-1}, NULL, &n, &err);
    J.g = err ? NULL : get(&bs, args[1], "g", 0, 0, 1, (Py_ssize_t[]){n}, NULL, NULL, &err);
    if (!err) {
        J.s = PyFloat_AsDouble(args[2]);
        if (PyErr_Occurred()) err = 1;
    }
    if (!err) {
        J.lr = PyFloat_AsDouble(args[3]);
        if (PyErr_Occurred()) err = 1;
    }
    if (err) { release(&bs); return NULL; }
    J.n = n;
    /* a thread per million weights: below that, the pass is shorter than waking one */
    int nt = (int)(n >> 20);
    if (nt > pool.wanted) nt = pool.wanted;
    if (nt < 1) nt = 1;
    Py_BEGIN_ALLOW_THREADS
    pool_run(bs.kind == 'f' ? sgd_job_f32 : sgd_job_f64, &J, nt);
    Py_END_ALLOW_THREADS
    release(&bs);
    double total = 0.0;
    for (int t = 0; t < nt; t++) total += J.part[t];
    return PyFloat_FromDouble(total);
}

static PyMethodDef methods[] = {
    {"rnn_forward", (PyCFunction)(void (*)(void))py_rnn_forward, METH_FASTCALL, "Elman RNN forward loop."},
    {"rnn_backward", (PyCFunction)(void (*)(void))py_rnn_backward, METH_FASTCALL, "Elman RNN backward loop."},
    {"gru_forward", (PyCFunction)(void (*)(void))py_gru_forward, METH_FASTCALL, "GRU (reset_after) forward loop."},
    {"gru_backward", (PyCFunction)(void (*)(void))py_gru_backward, METH_FASTCALL, "GRU (reset_after) backward loop."},
    {"lstm_forward", (PyCFunction)(void (*)(void))py_lstm_forward, METH_FASTCALL, "LSTM forward loop."},
    {"lstm_backward", (PyCFunction)(void (*)(void))py_lstm_backward, METH_FASTCALL, "LSTM backward loop."},
    {"gemm", (PyCFunction)(void (*)(void))py_gemm, METH_FASTCALL, "c = alpha op(a) @ op(b) + beta c."},
    {"transpose", (PyCFunction)(void (*)(void))py_transpose, METH_FASTCALL, "dst = src^T (2-D, contiguous)."},
    {"tn", (PyCFunction)(void (*)(void))py_tn, METH_FASTCALL, "c += a^T @ b (and cb += column sums of a), through BLAS."},
    {"nn", (PyCFunction)(void (*)(void))py_nn, METH_FASTCALL, "c = a @ b."},
    {"softmax_xent", (PyCFunction)(void (*)(void))py_softmax_xent, METH_FASTCALL,
     "Softmax cross-entropy of float32 logit rows, dz written over them."},
    {"sgd_step", (PyCFunction)(void (*)(void))py_sgd_step, METH_FASTCALL,
     "p -= (g * s) * lr in one pass; returns the sum of squares of the new p."},
    {"set_blas", (PyCFunction)(void (*)(void))py_set_blas, METH_FASTCALL, "Install the CBLAS entry points."},
    {"set_options", (PyCFunction)(void (*)(void))py_set_options, METH_FASTCALL,
     "set_options(packed, threads, work_per_thread, blas_on_pool) -> the settings in effect."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_ckernels", "rnnkit's compiled recurrence loops.",
                                       -1, methods};

PyMODINIT_FUNC PyInit__ckernels(void)
{
    pool_init();
    use_packed_products = cpu_has_avx512();
    return PyModule_Create(&moduledef);
}
