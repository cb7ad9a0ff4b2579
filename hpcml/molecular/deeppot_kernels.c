/* C kernels of the DeepPot-SE fast path (loaded by hpcml.molecular.slots), pure C.
 *
 * 1. Table-slot products (hpcml.molecular.slots).  One section of the environment matrix: n centre atoms times w neighbour
 * slots of one neighbour type.  Slot s = i * w + j of atom i reads row
 * inv[s] of an embedding table (nu, m) (the nets evaluated once per distinct
 * s~), and has a normalised environment row R[s] (4 values, data).  The
 * kernels compute, without materialising the gathered (n, w, m) rows:
 *
 *   section_t          TT[i,c,:] = sum_j R[i,j,c] G[inv[i,j],:]           (n, 4, m)
 *   section_t_grad     dG[u,:]   = sum_{s: inv[s]=u} sum_c R[s,c] dTT[i(s),c,:]
 *   contract           a[i,j,c]  = inv_std[i,c] (G[u].gtt[i,c,:]
 *                                  + [c=0] sum_c' R[i,j,c'] dG[u].gtt[i,c',:])
 *   contract_grad_gtt  gradient of contract w.r.t. gtt (n, 4, m)
 *   contract_grad_tab  gradients of contract w.r.t. the tables G and dG
 *
 * Atom-side outputs are parallel over atoms; table-side outputs are parallel
 * over table rows, each row visiting its slots in a fixed order (ptr/slots:
 * the slots sorted by row, CSR).  Every output element is summed by one
 * thread in one order, so results do not depend on the number of threads.
 *
 * 2. Embedding-layer activations (hpcml.molecular.fast._embed_forward and
 * _embed_backward): every elementwise step of one layer in one pass, on
 * either layout (features as rows: (H, N); or as columns: (N, H)).
 *
 * Built with -fopenmp: loaded after torch, the library shares torch's OpenMP
 * runtime (same soname), so its threads follow torch.set_num_threads.
 */
#include <math.h>  /* rint */
#include <stdint.h>
#include <string.h>

#define SLOT_KERNELS(T, SUF)                                                           \
void hpcml_dp_section_t_##SUF(int64_t n, int64_t w, int64_t m, const T *G,             \
                              const int64_t *inv, const T *R, T *TT) {                \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t i = 0; i < n; i++) {                                                  \
        T *o0 = TT + i * 4 * m, *o1 = o0 + m, *o2 = o1 + m, *o3 = o2 + m;              \
        memset(o0, 0, 4 * m * sizeof(T));                                              \
        for (int64_t j = 0; j < w; j++) {                                              \
            const T *g = G + inv[i * w + j] * m, *r = R + (i * w + j) * 4;             \
            const T r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];                        \
            _Pragma("omp simd")                                                        \
            for (int64_t k = 0; k < m; k++) {                                          \
                const T x = g[k];                                                      \
                o0[k] += r0 * x; o1[k] += r1 * x; o2[k] += r2 * x; o3[k] += r3 * x;    \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
void hpcml_dp_section_t_grad_##SUF(int64_t nu, int64_t w, int64_t m,                   \
                                   const int64_t *ptr, const int64_t *slots,           \
                                   const T *R, const T *dTT, T *dG) {                  \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t u = 0; u < nu; u++) {                                                 \
        T *o = dG + u * m;                                                             \
        memset(o, 0, m * sizeof(T));                                                   \
        for (int64_t p = ptr[u]; p < ptr[u + 1]; p++) {                                \
            const int64_t s = slots[p];                                                \
            const T *d = dTT + (s / w) * 4 * m, *r = R + s * 4;                        \
            const T r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];                        \
            _Pragma("omp simd")                                                        \
            for (int64_t k = 0; k < m; k++)                                            \
                o[k] += r0 * d[k] + r1 * d[m + k] + r2 * d[2 * m + k] + r3 * d[3 * m + k]; \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
void hpcml_dp_contract_##SUF(int64_t n, int64_t w, int64_t m, const T *G, const T *dG, \
                             const int64_t *inv, const T *R, const T *gtt,             \
                             const T *inv_std, T *a) {                                 \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t i = 0; i < n; i++) {                                                  \
        const T *t0 = gtt + i * 4 * m, *t1 = t0 + m, *t2 = t1 + m, *t3 = t2 + m;       \
        const T *is = inv_std + i * 4;                                                 \
        for (int64_t j = 0; j < w; j++) {                                              \
            const int64_t s = i * w + j;                                               \
            const T *g = G + inv[s] * m, *dg = dG + inv[s] * m, *r = R + s * 4;        \
            T a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;          \
            _Pragma("omp simd reduction(+:a0,a1,a2,a3,b0,b1,b2,b3)")                   \
            for (int64_t k = 0; k < m; k++) {                                          \
                a0 += g[k] * t0[k]; a1 += g[k] * t1[k];                                \
                a2 += g[k] * t2[k]; a3 += g[k] * t3[k];                                \
                b0 += dg[k] * t0[k]; b1 += dg[k] * t1[k];                              \
                b2 += dg[k] * t2[k]; b3 += dg[k] * t3[k];                              \
            }                                                                          \
            a0 += b0 * r[0] + b1 * r[1] + b2 * r[2] + b3 * r[3];                       \
            T *o = a + s * 4;                                                          \
            o[0] = a0 * is[0]; o[1] = a1 * is[1]; o[2] = a2 * is[2]; o[3] = a3 * is[3]; \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
/* q = grad * inv_std is the gradient of the products with G, p = q0 R that of dG */    \
void hpcml_dp_contract_grad_gtt_##SUF(int64_t n, int64_t w, int64_t m, const T *G,     \
                                      const T *dG, const int64_t *inv, const T *R,     \
                                      const T *inv_std, const T *grad, T *dgtt) {      \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t i = 0; i < n; i++) {                                                  \
        T *o0 = dgtt + i * 4 * m, *o1 = o0 + m, *o2 = o1 + m, *o3 = o2 + m;            \
        const T *is = inv_std + i * 4;                                                 \
        memset(o0, 0, 4 * m * sizeof(T));                                              \
        for (int64_t j = 0; j < w; j++) {                                              \
            const int64_t s = i * w + j;                                               \
            const T *g = G + inv[s] * m, *dg = dG + inv[s] * m, *r = R + s * 4;        \
            const T *gr = grad + s * 4;                                                \
            const T q0 = gr[0] * is[0], q1 = gr[1] * is[1], q2 = gr[2] * is[2],        \
                    q3 = gr[3] * is[3];                                                \
            const T p0 = q0 * r[0], p1 = q0 * r[1], p2 = q0 * r[2], p3 = q0 * r[3];    \
            _Pragma("omp simd")                                                        \
            for (int64_t k = 0; k < m; k++) {                                          \
                const T x = g[k], y = dg[k];                                           \
                o0[k] += q0 * x + p0 * y; o1[k] += q1 * x + p1 * y;                    \
                o2[k] += q2 * x + p2 * y; o3[k] += q3 * x + p3 * y;                    \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
void hpcml_dp_contract_grad_tab_##SUF(int64_t nu, int64_t w, int64_t m,                \
                                      const int64_t *ptr, const int64_t *slots,        \
                                      const T *R, const T *gtt, const T *inv_std,      \
                                      const T *grad, T *gG, T *gdG) {                  \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t u = 0; u < nu; u++) {                                                 \
        T *o = gG + u * m, *od = gdG + u * m;                                          \
        memset(o, 0, m * sizeof(T));                                                   \
        memset(od, 0, m * sizeof(T));                                                  \
        for (int64_t p = ptr[u]; p < ptr[u + 1]; p++) {                                \
            const int64_t s = slots[p], i = s / w;                                     \
            const T *t = gtt + i * 4 * m, *is = inv_std + i * 4, *r = R + s * 4;       \
            const T *gr = grad + s * 4;                                                \
            const T q0 = gr[0] * is[0], q1 = gr[1] * is[1], q2 = gr[2] * is[2],        \
                    q3 = gr[3] * is[3];                                                \
            const T p0 = q0 * r[0], p1 = q0 * r[1], p2 = q0 * r[2], p3 = q0 * r[3];    \
            _Pragma("omp simd")                                                        \
            for (int64_t k = 0; k < m; k++) {                                          \
                const T x0 = t[k], x1 = t[m + k], x2 = t[2 * m + k], x3 = t[3 * m + k]; \
                o[k] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3;                         \
                od[k] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3;                        \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}

/* exp(x) to about 1 ulp in plain arithmetic, so that loops calling it vectorize (libm's exp
 * does not without -ffast-math): x = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite split of ln2),
 * exp(r) by its Taylor series to degree 13 (truncation < 2e-17 relative), times 2^n built
 * in the exponent bits.  x is clamped to [-708, 709] (finite, normal results). */
static inline double hp_exp(double x) {
    x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
    const double n = rint(x * 1.4426950408889634);
    const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    union { int64_t i; double d; } scale;
    scale.i = ((int64_t)n + 1023) << 52;
    return p * scale.d;
}

/* single-precision hp_exp: x clamped to [-87, 88], Taylor series to degree 8 */
static inline float hp_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = rintf(x * 1.44269504f);
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.0f / 40320.0f;
    p = p * r + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { int32_t i; float f; } scale;
    scale.i = ((int32_t)n + 127) << 23;
    return p * scale.f;
}

/* activations of samples [n0, n1) of feature h into ty, tdy (block-local), q_out, tdz4_out;
 * branch-free, so that the loop (and hp_exp) vectorizes */
#define ACT_CORE(T, EXP, DZ)                                                           \
    for (int64_t n = n0; n < n1; n++) {                                                \
        const int64_t i = h * N + n;                                                   \
        const T p = (T)1 / ((T)1 + EXP(-z2[i]));                                       \
        const T q = p - p * p, t = (T)2 * p - (T)1, dz = (DZ);                         \
        ty[n - n0] = t;                                                                \
        tdy[n - n0] = q * dz;                                                          \
        q_out[i] = q;                                                                  \
        tdz4_out[i] = t * dz;                                                          \
    }

/* Backward of the activations, in place: from the gradients g_y, g_dy of y, dy
 * (element (f, n) at f * g_f + n * g_s) and the saved q, t dz4 ((H, N)):
 *   q <- g_dz / 4 = g_dy q,   tdz4 <- g_z / 4 = (g_y - t dz4 g_dy / 2) q;
 * with res_y (k, N) also the adjoint of the residual: res_y = g_y (k == H) or
 * the sum of its two halves (2 k == H), and res_dy likewise from g_dy. */
#define ACT_GRAD_BODY(T, GIDX)                                                            \
    for (int64_t n = n0; n < n1; n++) {                                                \
        const int64_t i = h * N + n;                                                   \
        const T gy = g_y[GIDX], gdy = g_dy[GIDX], qi = q[i];                           \
        q[i] = gdy * qi;                                                               \
        tdz4[i] = (gy - (T)0.5 * tdz4[i] * gdy) * qi;                                  \
        if (first) { ry[n] = gy; rdy[n] = gdy; }                                       \
        else if (ry) { ry[n] += gy; rdy[n] += gdy; }                                   \
    }

#define ACT_BLOCK 64

/* Activations of one embedding layer (H features, N samples; see
 * hpcml.molecular.fast._embed_forward).  In: z2 = 2 z and dz4 = 4 dz/ds, (H, N)
 * contiguous (dz4 may hold one value per feature: dz4_per_feature).  With
 * p = sigmoid(z2), q = p - p^2 = (1 - tanh^2) / 4 and t = 2 p - 1 = tanh z:
 *   y = t + residual(x),  dy = q dz4 + residual(dx),  q_out = q,  tdz4_out = t dz4,
 * q_out and tdz4_out (H, N) contiguous (they may be z2 and dz4: updated in
 * place).  Element (f, n) of x, dx, y, dy is at f * (..)_f + n * (..)_s, so y
 * and dy may be written feature-major (y_f = N, y_s = 1) or transposed, as
 * (N, H) rows (y_f = 1, y_s = H).  The residual input x (k features) applies
 * when k == H or 2 k == H ([x; x]).  Work goes in blocks of samples, all
 * features of a block at once, so transposed writes stay in cache. */
#define ACT_KERNELS(T, SUF, EXP)                                                            \
void hpcml_dp_act_##SUF(int64_t H, int64_t N, T *z2, T *dz4, int dz4_per_feature,      \
                        const T *x, const T *dx, int64_t k, int64_t x_f, int64_t x_s,  \
                        int64_t dx_f, int64_t dx_s, T *y, T *dy, int64_t y_f,          \
                        int64_t y_s, T *q_out, T *tdz4_out) {                          \
    const int res = x != NULL && (k == H || 2 * k == H);                               \
    const int64_t nb = (N + ACT_BLOCK - 1) / ACT_BLOCK;                                \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t b = 0; b < nb; b++) {                                                 \
        const int64_t n0 = b * ACT_BLOCK, n1 = n0 + ACT_BLOCK < N ? n0 + ACT_BLOCK : N; \
        const int64_t nn = n1 - n0;                                                    \
        T ty[ACT_BLOCK], tdy[ACT_BLOCK];                                               \
        for (int64_t h = 0; h < H; h++) {                                              \
            if (dz4_per_feature) {                                                     \
                const T dzf = dz4[h];                                                  \
                _Pragma("omp simd")                                                    \
                ACT_CORE(T, EXP, dzf)                                                       \
            } else {                                                                   \
                _Pragma("omp simd")                                                    \
                ACT_CORE(T, EXP, dz4[i])                                                    \
            }                                                                          \
            if (res) {                                                                 \
                const T *xr = x + (h % k) * x_f + n0 * x_s;                            \
                const T *dxr = dx + (h % k) * dx_f + n0 * dx_s;                        \
                _Pragma("omp simd")                                                    \
                for (int64_t j = 0; j < nn; j++) {                                     \
                    ty[j] += xr[j * x_s];                                              \
                    tdy[j] += dxr[j * dx_s];                                           \
                }                                                                      \
            }                                                                          \
            T *yr = y + h * y_f + n0 * y_s, *dyr = dy + h * y_f + n0 * y_s;            \
            if (y_s == 1) {                                                            \
                memcpy(yr, ty, nn * sizeof(T));                                        \
                memcpy(dyr, tdy, nn * sizeof(T));                                      \
            } else {                                                                   \
                for (int64_t j = 0; j < nn; j++) {                                     \
                    yr[j * y_s] = ty[j];                                               \
                    dyr[j * y_s] = tdy[j];                                             \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}                                                                                      \
                                                                                       \
void hpcml_dp_act_grad_##SUF(int64_t H, int64_t N, const T *g_y, const T *g_dy,        \
                             int64_t g_f, int64_t g_s, T *q, T *tdz4, int64_t k,       \
                             T *res_y, T *res_dy) {                                    \
    const int res = res_y != NULL && (k == H || 2 * k == H);                           \
    const int64_t nb = (N + ACT_BLOCK - 1) / ACT_BLOCK;                                \
    _Pragma("omp parallel for schedule(static)")                                       \
    for (int64_t b = 0; b < nb; b++) {                                                 \
        const int64_t n0 = b * ACT_BLOCK, n1 = n0 + ACT_BLOCK < N ? n0 + ACT_BLOCK : N; \
        for (int64_t h = 0; h < H; h++) {                                              \
            const int first = res && h < k;                                            \
            T *ry = res ? res_y + (h % k) * N : NULL;                                  \
            T *rdy = res ? res_dy + (h % k) * N : NULL;                                \
            if (g_s == 1) {                                                            \
                _Pragma("omp simd")                                                    \
                ACT_GRAD_BODY(T, h * g_f + n)                                           \
            } else {                                                                   \
                _Pragma("omp simd")                                                    \
                ACT_GRAD_BODY(T, h * g_f + n * g_s)                                     \
            }                                                                          \
        }                                                                              \
    }                                                                                  \
}

SLOT_KERNELS(double, f64)
SLOT_KERNELS(float, f32)
ACT_KERNELS(double, f64, hp_exp)
ACT_KERNELS(float, f32, hp_expf)
