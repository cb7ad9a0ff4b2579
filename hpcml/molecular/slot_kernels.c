/* Table-slot products of the DeepPot-SE fast path (hpcml.molecular.slots), pure C.
 *
 * One section of the environment matrix: n centre atoms times w neighbour
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
 * Built with -fopenmp: loaded after torch, the library shares torch's OpenMP
 * runtime (same soname), so its threads follow torch.set_num_threads.
 */
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

SLOT_KERNELS(double, f64)
SLOT_KERNELS(float, f32)
