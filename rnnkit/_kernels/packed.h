/* Recurrent products with W_hh packed once per call: float32, AVX-512.
 *
 * A step multiplies a few rows of h (B of them) by the same W_hh, T times. A
 * general GEMM repacks W_hh into its internal panel layout at every call: for
 * the per-step shapes that is 10-20% of the time (measured: docs/performance.md).
 * Here W_hh is packed once per forward or backward call into panels of NV
 * 16-float vectors,
 *
 *     panel q = [K][NV][16]: column c of vector v holds output column off(q, v) + c,
 *
 * and a micro-kernel keeps an MR x NV block of the output in registers while it
 * runs over K: per k, NV aligned loads of the panel and MR broadcasts of h.
 *
 * Output columns are placed by a map: gate-major for the forward products
 * (vector v of panel q is gate v, units 16q..16q+15: all gates of a unit come
 * out of one panel), or contiguous (vector v of panel q is columns 16(NV q + v)..).
 * Lanes past the last column are zero in the panel and masked at the store.
 */

#if RNNKIT_PACKED

#include <immintrin.h>

#define PV 16                       /* floats per vector */

typedef struct {
    float *p;                       /* npanel panels of K * NV * PV floats, 64-byte aligned */
    Py_ssize_t K, npanel, N;        /* N: output columns (per gate when gate-major) */
    int NV, gate_major;
} packed_t;

static Py_ssize_t packed_col(const packed_t *P, Py_ssize_t q, int v)
{
    return P->gate_major ? v * P->N + q * PV : (q * P->NV + v) * PV;
}

static int packed_lanes(const packed_t *P, Py_ssize_t q, int v)
{
    Py_ssize_t left = P->gate_major ? P->N - q * PV : P->N - (q * P->NV + v) * PV;
    return left <= 0 ? 0 : (left >= PV ? PV : (int)left);
}

static int packed_alloc(packed_t *P, Py_ssize_t K, Py_ssize_t N, int NV, int gate_major)
{
    P->K = K, P->N = N, P->NV = NV, P->gate_major = gate_major;
    P->npanel = gate_major ? (N + PV - 1) / PV : (N + NV * PV - 1) / (NV * PV);
    size_t bytes = sizeof(float) * (size_t)(P->npanel * K * NV * PV);
    P->p = NULL;
    if (posix_memalign((void **)&P->p, 64, bytes ? bytes : 64) != 0) P->p = NULL;
    return P->p ? 0 : -1;
}

/* dst[j * ldd + c] = src[c * lds + j] for the 16 x 16 block at src (rows c, columns j), reading the
 * columns j < nk only (a masked load: nothing past a row's end is touched) and writing the first nk
 * rows of dst, 64-byte aligned. Three rounds of shuffles: pairs of rows interleaved (unpack), then
 * pairs of pairs (shuffle_ps): within each 128-bit lane L, u[4a + i] holds element 4L + i of rows
 * 4a .. 4a+3; the last round gathers the four lanes that make one output row (shuffle_f32x4). */
__attribute__((target("avx512f"))) static void transpose16_f32(const float *src, Py_ssize_t lds, float *dst,
                                                               Py_ssize_t ldd, int nk)
{
    const __mmask16 m = (__mmask16)(nk >= PV ? 0xFFFFu : (1u << nk) - 1u);
    __m512 r[PV], t[PV], u[PV];
    for (int c = 0; c < PV; c++) r[c] = _mm512_maskz_loadu_ps(m, src + c * lds);
    for (int c = 0; c < PV; c += 2) {
        t[c] = _mm512_unpacklo_ps(r[c], r[c + 1]);      /* lane: r_c[0] r_c+1[0] r_c[1] r_c+1[1] */
        t[c + 1] = _mm512_unpackhi_ps(r[c], r[c + 1]);  /* lane: r_c[2] r_c+1[2] r_c[3] r_c+1[3] */
    }
    for (int a = 0; a < 4; a++) {
        const __m512 lo0 = t[4 * a], hi0 = t[4 * a + 1], lo1 = t[4 * a + 2], hi1 = t[4 * a + 3];
        u[4 * a + 0] = _mm512_shuffle_ps(lo0, lo1, 0x44);  /* element 0 of rows 4a .. 4a+3 */
        u[4 * a + 1] = _mm512_shuffle_ps(lo0, lo1, 0xEE);  /* element 1 */
        u[4 * a + 2] = _mm512_shuffle_ps(hi0, hi1, 0x44);  /* element 2 */
        u[4 * a + 3] = _mm512_shuffle_ps(hi0, hi1, 0xEE);  /* element 3 */
    }
    for (int i = 0; i < 4; i++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);  /* lanes 0, 2 of rows 0-3, 4-7 */
        const __m512 v1 = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xDD);  /* lanes 1, 3 */
        const __m512 w0 = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
        const __m512 w1 = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xDD);
        const __m512 out[4] = {_mm512_shuffle_f32x4(v0, w0, 0x88), _mm512_shuffle_f32x4(v1, w1, 0x88),
                               _mm512_shuffle_f32x4(v0, w0, 0xDD), _mm512_shuffle_f32x4(v1, w1, 0xDD)};
        for (int L = 0; L < 4; L++)  /* output row 4L + i */
            if (4 * L + i < nk) _mm512_store_ps(dst + (4 * L + i) * ldd, out[L]);
    }
}

/* Forward products h @ W^T with W (rows = output columns, K) row-major: panel[k][v][c] = W[off(q, v) + c][k].
 * A vector of 16 whole rows goes 16 columns at a time through transpose16_f32; a last, partial
 * vector is copied element by element, its lanes past the last row set to zero. */
__attribute__((target("avx512f"))) static void pack_rows_f32(packed_t *P, const float *W)
{
    const Py_ssize_t K = P->K;
    const int NV = P->NV;
    for (Py_ssize_t q = 0; q < P->npanel; q++)
        for (int v = 0; v < NV; v++) {
            const int lanes = packed_lanes(P, q, v);
            const float *rows = W + (size_t)packed_col(P, q, v) * K;
            float *dst = P->p + (size_t)q * K * NV * PV + v * PV;
            if (lanes == PV) {
                for (Py_ssize_t k = 0; k < K; k += PV)
                    transpose16_f32(rows + k, K, dst + k * NV * PV, NV * PV, K - k >= PV ? PV : (int)(K - k));
                continue;
            }
            for (Py_ssize_t k = 0; k < K; k++, dst += NV * PV) {
                int c = 0;
                for (; c < lanes; c++) dst[c] = rows[(size_t)c * K + k];
                for (; c < PV; c++) dst[c] = 0.0f;
            }
        }
}

/* Products d @ W with W (K, N) row-major (row stride ldw), contiguous columns:
 * panel[k][v][c] = W[k][16(NV q + v) + c]. */
static void pack_cols_f32(packed_t *P, const float *W, Py_ssize_t ldw)
{
    const Py_ssize_t K = P->K, N = P->N;
    const int NV = P->NV;
    for (Py_ssize_t q = 0; q < P->npanel; q++)
        for (Py_ssize_t k = 0; k < K; k++) {
            float *dst = P->p + ((size_t)q * K + k) * NV * PV;
            const float *src = W + (size_t)k * ldw + q * NV * PV;
            const Py_ssize_t left = N - q * NV * PV;
            const int n = left >= NV * PV ? NV * PV : (int)left;
            memcpy(dst, src, sizeof(float) * n);
            memset(dst + n, 0, sizeof(float) * (NV * PV - n));
        }
}

/* C[r, off(q, v) + c] (+)= sum_k A(r, k) panel_q[k][v][c] for the m <= MR rows of A, whose
 * element (r, k) sits at A + r sr + k sk (rows of a matrix: sr = its row stride, sk = 1; columns of
 * one, for a product with its transpose: sr = 1, sk = its row stride; rows past m are never read),
 * and every lane that maps to a column. */
#define DEFINE_PANEL_KERNEL(NAME, NV, MR)                                                                          \
    __attribute__((target("avx512f"))) static void NAME(const float *A, Py_ssize_t sr, Py_ssize_t sk, int m,        \
                                                        const packed_t *P, Py_ssize_t q, float *C, Py_ssize_t ldc,  \
                                                        int beta)                                                  \
    {                                                                                                              \
        __m512 acc[MR][NV];                                                                                        \
        Py_ssize_t off[MR];                                                                                        \
        for (int r = 0; r < MR; r++) {                                                                             \
            off[r] = (r < m ? r : 0) * sr;                                                                         \
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();                                          \
        }                                                                                                          \
        const float *p = P->p + (size_t)q * P->K * NV * PV, *a = A;                                                \
        for (Py_ssize_t k = 0; k < P->K; k++, p += NV * PV, a += sk) {                                             \
            __m512 b[NV];                                                                                          \
            for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(p + v * PV);                                        \
            for (int r = 0; r < MR; r++) {                                                                         \
                const __m512 x = _mm512_set1_ps(a[off[r]]);                                                        \
                for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);                      \
            }                                                                                                      \
        }                                                                                                          \
        for (int v = 0; v < NV; v++) {                                                                             \
            const int lanes = packed_lanes(P, q, v);                                                               \
            if (!lanes) continue;                                                                                  \
            const __mmask16 mask = (__mmask16)((1u << lanes) - 1u);                                                \
            float *c = C + packed_col(P, q, v);                                                                    \
            for (int r = 0; r < m; r++) {                                                                          \
                __m512 y = acc[r][v];                                                                              \
                if (beta) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, c + r * ldc));                          \
                _mm512_mask_storeu_ps(c + r * ldc, mask, y);                                                       \
            }                                                                                                      \
        }                                                                                                          \
    }

/* One kernel per row count, so that a batch of 20 runs as 4 x 5 rows, not 6 + 6 + 6 + 2. */
DEFINE_PANEL_KERNEL(panel_kernel_4x2, 4, 2)
DEFINE_PANEL_KERNEL(panel_kernel_4x3, 4, 3)
DEFINE_PANEL_KERNEL(panel_kernel_4x4, 4, 4)
DEFINE_PANEL_KERNEL(panel_kernel_4x5, 4, 5)
DEFINE_PANEL_KERNEL(panel_kernel_4x6, 4, 6)
DEFINE_PANEL_KERNEL(panel_kernel_3x2, 3, 2)
DEFINE_PANEL_KERNEL(panel_kernel_3x3, 3, 3)
DEFINE_PANEL_KERNEL(panel_kernel_3x4, 3, 4)
DEFINE_PANEL_KERNEL(panel_kernel_3x5, 3, 5)
DEFINE_PANEL_KERNEL(panel_kernel_3x6, 3, 6)
DEFINE_PANEL_KERNEL(panel_kernel_3x7, 3, 7)
DEFINE_PANEL_KERNEL(panel_kernel_3x8, 3, 8)

/* One row (a single sequence): NV chains of fused multiply-adds would wait on each other's
 * latency, so even and odd k accumulate apart and meet at the end. */
#define DEFINE_ROW_KERNEL(NAME, NV)                                                                                \
    __attribute__((target("avx512f"))) static void NAME(const float *a, Py_ssize_t sk, const packed_t *P,           \
                                                        Py_ssize_t q, float *C, int beta)                          \
    {                                                                                                              \
        __m512 even[NV], odd[NV];                                                                                  \
        for (int v = 0; v < NV; v++) even[v] = odd[v] = _mm512_setzero_ps();                                      \
        const float *p = P->p + (size_t)q * P->K * NV * PV;                                                        \
        Py_ssize_t k = 0;                                                                                          \
        for (; k + 1 < P->K; k += 2, p += 2 * NV * PV) {                                                           \
            const __m512 x0 = _mm512_set1_ps(a[k * sk]), x1 = _mm512_set1_ps(a[(k + 1) * sk]);                     \
            for (int v = 0; v < NV; v++) {                                                                         \
                even[v] = _mm512_fmadd_ps(x0, _mm512_load_ps(p + v * PV), even[v]);                                \
                odd[v] = _mm512_fmadd_ps(x1, _mm512_load_ps(p + (NV + v) * PV), odd[v]);                           \
            }                                                                                                      \
        }                                                                                                          \
        if (k < P->K) {                                                                                            \
            const __m512 x0 = _mm512_set1_ps(a[k * sk]);                                                           \
            for (int v = 0; v < NV; v++) even[v] = _mm512_fmadd_ps(x0, _mm512_load_ps(p + v * PV), even[v]);       \
        }                                                                                                          \
        for (int v = 0; v < NV; v++) {                                                                             \
            const int lanes = packed_lanes(P, q, v);                                                               \
            if (!lanes) continue;                                                                                  \
            const __mmask16 mask = (__mmask16)((1u << lanes) - 1u);                                                \
            float *c = C + packed_col(P, q, v);                                                                    \
            __m512 y = _mm512_add_ps(even[v], odd[v]);                                                             \
            if (beta) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, c));                                        \
            _mm512_mask_storeu_ps(c, mask, y);                                                                     \
        }                                                                                                          \
    }

DEFINE_ROW_KERNEL(row_kernel_4, 4)
DEFINE_ROW_KERNEL(row_kernel_3, 3)

typedef void (*panel_kernel)(const float *, Py_ssize_t, Py_ssize_t, int, const packed_t *, Py_ssize_t, float *,
                             Py_ssize_t, int);
typedef void (*row_kernel)(const float *, Py_ssize_t, const packed_t *, Py_ssize_t, float *, int);

static const panel_kernel kernels4[7] = {NULL, NULL, panel_kernel_4x2, panel_kernel_4x3, panel_kernel_4x4,
                                         panel_kernel_4x5, panel_kernel_4x6};
static const panel_kernel kernels3[9] = {NULL, NULL, panel_kernel_3x2, panel_kernel_3x3, panel_kernel_3x4,
                                         panel_kernel_3x5, panel_kernel_3x6, panel_kernel_3x7, panel_kernel_3x8};

/* C (m, .) (+)= A (m, K) @ packed W, A's element (r, k) at A + r sr + k sk: every panel, in tiles
 * of at most MR rows (24 accumulators), the rows spread evenly over the tiles. */
static void packed_gemm_f32(const packed_t *P, const float *A, Py_ssize_t sr, Py_ssize_t sk, Py_ssize_t m,
                            float *C, Py_ssize_t ldc, int beta)
{
    const int four = P->NV == 4, MR = four ? 6 : 8;
    const panel_kernel *kernels = four ? kernels4 : kernels3;
    const row_kernel one = four ? row_kernel_4 : row_kernel_3;
    const Py_ssize_t tiles = (m + MR - 1) / MR;
    for (Py_ssize_t q = 0; q < P->npanel; q++)
        for (Py_ssize_t i = 0, r0 = 0; i < tiles; i++) {
            const int rows = (int)((m - r0) / (tiles - i) + ((m - r0) % (tiles - i) != 0));
            const float *a = A + r0 * sr;
            float *c = C + r0 * ldc;
            if (rows == 1)          /* one sequence: no idle accumulator rows */
                one(a, sk, P, q, c, beta);
            else
                kernels[rows](a, sr, sk, rows, P, q, c, ldc, beta);
            r0 += rows;
        }
}

/* C (m, .) += A^T @ packed W, with A (K, m) row stride lda: the weight gradients, whose rows run
 * over the columns of A. Each tile of rows is first copied to scratch as (K, rows), so the kernel
 * reads it along lines instead of a whole row of A (one page) apart per k. scratch: K * 8 floats. */
static void packed_gemm_at_f32(const packed_t *P, const float *A, Py_ssize_t lda, Py_ssize_t m, float *C,
                               Py_ssize_t ldc, float *scratch)
{
    const int four = P->NV == 4, MR = four ? 6 : 8;
    const panel_kernel *kernels = four ? kernels4 : kernels3;
    const row_kernel one = four ? row_kernel_4 : row_kernel_3;
    const Py_ssize_t tiles = (m + MR - 1) / MR, K = P->K;
    for (Py_ssize_t i = 0, r0 = 0; i < tiles; i++) {
        const int rows = (int)((m - r0) / (tiles - i) + ((m - r0) % (tiles - i) != 0));
        for (Py_ssize_t k = 0; k < K; k++)
            for (int r = 0; r < rows; r++) scratch[k * rows + r] = A[k * lda + r0 + r];
        for (Py_ssize_t q = 0; q < P->npanel; q++) {
            if (rows == 1)
                one(scratch, 1, P, q, C + r0 * ldc, 1);
            else
                kernels[rows](scratch, 1, rows, rows, P, q, C + r0 * ldc, ldc, 1);
        }
        r0 += rows;
    }
}

#endif /* RNNKIT_PACKED */
