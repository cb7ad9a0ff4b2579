/* Fused kernels of the kinetic solver (hpcml.kinetic.native), pure C, no Python API.
 *
 * They compute what the numpy reference kernels compute
 * (hpcml.kinetic.transport.transport_step, hpcml.kinetic.bgk.bgk_step) in one
 * sweep over memory: each x-cell's velocity block is read once while its
 * neighbours are still in cache, and every temporary is one cell's block.
 * Compiled without FMA contraction (-ffp-contract=off), the transport stage is
 * bit-identical to numpy's; the BGK moments sum in another order (round-off).
 *
 * Layout: f is (cells, dof) row-major float64; the dof of one cell is a sequence
 * of `rows` rows of `inner` values whose x-velocity has one sign per row
 * (full mode: row = v_x index, inner = n*n, one velocity per row; Chu mode: rows
 * are the halves of g and h with v < 0 and v > 0, one velocity per value).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* MC slope minmod(2a, 2b, (a + b)/2), written with plain comparisons (not fmin,
 * whose NaN rules keep the compiler from vectorizing); same values as numpy's. */
static inline double mc(double a, double b) {
    double aa = fabs(a), ab = fabs(b), c = 0.5 * fabs(a + b);
    double m = 2.0 * (aa < ab ? aa : ab);
    m = c < m ? c : m;
    return (a * b > 0.0) ? copysign(m, a) : 0.0;
}

/* minmod slope: the smaller of a, b in modulus when they agree in sign, else 0. */
static inline double mm(double a, double b) {
    double aa = fabs(a), ab = fabs(b);
    double m = aa < ab ? aa : ab;
    return (a * b > 0.0) ? copysign(m, a) : 0.0;
}

/* Upwind MUSCL flux of one row through the face between ghosted cells c-1|c;
 * v: one velocity for the row (per_value 0) or one per value (per_value 1). */
#define FACE_ROW(NAME, SLOPE)                                                          \
static void NAME(const double *restrict fm2, const double *restrict fm1,               \
                 const double *restrict f0, const double *restrict fp1,                \
                 const double *restrict v, int per_value, int inner,                   \
                 double *restrict flux) {                                              \
    double v0 = v[0];                                                                  \
    if (v0 > 0.0 && per_value) {                                                       \
        for (int k = 0; k < inner; k++)                                                \
            flux[k] = v[k] * (fm1[k] + 0.5 * SLOPE(fm1[k] - fm2[k], f0[k] - fm1[k]));  \
    } else if (v0 > 0.0) {                                                             \
        for (int k = 0; k < inner; k++)                                                \
            flux[k] = v0 * (fm1[k] + 0.5 * SLOPE(fm1[k] - fm2[k], f0[k] - fm1[k]));    \
    } else if (per_value) {                                                            \
        for (int k = 0; k < inner; k++)                                                \
            flux[k] = v[k] * (f0[k] - 0.5 * SLOPE(f0[k] - fm1[k], fp1[k] - f0[k]));    \
    } else {                                                                           \
        for (int k = 0; k < inner; k++)                                                \
            flux[k] = v0 * (f0[k] - 0.5 * SLOPE(f0[k] - fm1[k], fp1[k] - f0[k]));      \
    }                                                                                  \
}
FACE_ROW(face_row_mc, mc)
FACE_ROW(face_row_minmod, mm)

/* One forward-Euler stage: out (nx, dof) from the ghosted f (nx + 4, dof).
 * v: per row (per_value = 0, `rows` values) or per value (per_value = 1, dof values).
 * limiter: 0 = MC, 1 = minmod.  flux: scratch (2, dof).  edge: NULL, or (2, dof)
 * receiving the fluxes through the block's left and right faces. */
void hpcml_transport(const double *f, const double *v, int per_value, int rows, int inner,
                     int nx, double nu, int limiter, double *out, double *flux, double *edge) {
    size_t dof = (size_t)rows * inner;
    for (int i = 0; i <= nx; i++) {            /* face i: left face of interior cell i */
        const double *fm2 = f + (size_t)i * dof;
        double *face = flux + (size_t)(i & 1) * dof;
        const double *prev = flux + (size_t)((i + 1) & 1) * dof;
        for (int r = 0; r < rows; r++) {
            size_t o = (size_t)r * inner;
            const double *vr = per_value ? v + o : v + r;
            if (limiter == 0)
                face_row_mc(fm2 + o, fm2 + dof + o, fm2 + 2 * dof + o, fm2 + 3 * dof + o, vr,
                            per_value, inner, face + o);
            else
                face_row_minmod(fm2 + o, fm2 + dof + o, fm2 + 2 * dof + o,
                                fm2 + 3 * dof + o, vr, per_value, inner, face + o);
        }
        if (edge != NULL && i == 0) memcpy(edge, face, dof * sizeof(double));
        if (edge != NULL && i == nx) memcpy(edge + dof, face, dof * sizeof(double));
        if (i > 0) {
            const double *fc = fm2 + dof;      /* interior cell i - 1 */
            double *oc = out + (size_t)(i - 1) * dof;
            for (size_t k = 0; k < dof; k++) oc[k] = fc[k] - nu * (face[k] - prev[k]);
        }
    }
}

/* Conserved moments (rho, rho u_x, rho u_y, rho u_z, E) of nc cells of n^3 values;
 * w: the quadrature weight h^3. */
void hpcml_moments_full(const double *f, const double *v, int n, int nc, double w,
                        double *cons) {
    size_t dof = (size_t)n * n * n;
    for (int c = 0; c < nc; c++) {
        const double *fc = f + (size_t)c * dof;
        double m = 0, px = 0, py = 0, pz = 0, e = 0;
        for (int i = 0; i < n; i++) {
            double sx = 0, sy = 0, sz = 0, ei = 0;
            for (int j = 0; j < n; j++) {
                const double *row = fc + ((size_t)i * n + j) * n;
                double s = 0, s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s, s1, s2)
                for (int k = 0; k < n; k++) {
                    s += row[k];
                    s1 += row[k] * v[k];
                    s2 += row[k] * v[k] * v[k];
                }
                sx += s;
                sy += s * v[j];
                sz += s1;
                ei += s2 + s * v[j] * v[j];
            }
            m += sx;
            px += sx * v[i];
            py += sy;
            pz += sz;
            e += ei + sx * v[i] * v[i];
        }
        cons[5 * c] = w * m;
        cons[5 * c + 1] = w * px;
        cons[5 * c + 2] = w * py;
        cons[5 * c + 3] = w * pz;
        cons[5 * c + 4] = 0.5 * w * e;
    }
}

/* out = M + keep (f - M), M = ea[c] ex[c,i] ey[c,j] ez[c,k] (the separable discrete
 * Maxwellian, the same product order as numpy's); out may be f. */
void hpcml_relax_full(const double *f, const double *ea, const double *ex, const double *ey,
                      const double *ez, int n, int nc, double keep, double *out) {
    size_t dof = (size_t)n * n * n;
    for (int c = 0; c < nc; c++) {
        const double *x = ex + (size_t)c * n, *y = ey + (size_t)c * n, *z = ez + (size_t)c * n;
        for (int i = 0; i < n; i++) {
            double ax = ea[c] * x[i];
            for (int j = 0; j < n; j++) {
                double axy = ax * y[j];
                size_t o = (size_t)c * dof + ((size_t)i * n + j) * n;
                for (int k = 0; k < n; k++) {
                    double m = axy * z[k];
                    out[o + k] = m + keep * (f[o + k] - m);
                }
            }
        }
    }
}

/* Solve [[s0 s1 s2] [s1 s2 s3] [s2/2 s3/2 s4/2]] d = F by Cramer's rule. */
static void solve3(const double *s, double F0, double F1, double F2, double *d) {
    double J00 = s[0], J01 = s[1], J02 = s[2], J10 = s[1], J11 = s[2], J12 = s[3];
    double J20 = 0.5 * s[2], J21 = 0.5 * s[3], J22 = 0.5 * s[4];
    double c0 = J11 * J22 - J12 * J21, c1 = J10 * J22 - J12 * J20, c2 = J10 * J21 - J11 * J20;
    double det = J00 * c0 - J01 * c1 + J02 * c2;
    d[0] = (F0 * c0 - J01 * (F1 * J22 - J12 * F2) + J02 * (F1 * J21 - J11 * F2)) / det;
    d[1] = (J00 * (F1 * J22 - J12 * F2) - F0 * c1 + J02 * (J10 * F2 - F1 * J20)) / det;
    d[2] = (J00 * (J11 * F2 - F1 * J21) - J01 * (J10 * F2 - F1 * J20) + F0 * c2) / det;
}

/* Chu-mode BGK step of nc cells, each (2, n): g then h, fused per cell: moments,
 * Newton for g_M = exp(a + b v + c v^2) matching mass, momentum and the x-share
 * of the energy (as hpcml.kinetic.bgk does), h_M = T g_M, and the update
 * out = M + keep (f - M) (out may be f).  v: the uniform grid of spacing hv.
 * tol: Newton tolerance of the scaled residual.  e: scratch of 5 n values.  info (2 ints): first bad cell, and 1 for a cell with
 * non-positive density or temperature, 2 for a Newton iteration that diverged;
 * info[1] = 0 when all went well.  Returns the number of cells whose Newton did
 * not reach the tolerance in 40 iterations (they keep the last iterate, as numpy's). */
int hpcml_bgk_chu(const double *f, const double *v, int n, int nc, double hv, double keep,
                  double tol,
                  double *out, double *e, int *info) {
    int failed = 0;
    double *p1 = e + n, *p2 = e + 2 * n, *p3 = e + 3 * n, *p4 = e + 4 * n;
    for (int j = 0; j < n; j++) {              /* h v^p, the quadrature of the power sums */
        double x = v[j];
        p1[j] = hv * x;
        p2[j] = hv * x * x;
        p3[j] = hv * x * x * x;
        p4[j] = hv * x * x * x * x;
    }
    info[0] = -1;
    info[1] = 0;
    for (int c = 0; c < nc; c++) {
        const double *g = f + (size_t)c * 2 * n, *hh = g + n;
        double m0 = 0, m1 = 0, m2 = 0, eh = 0;
#pragma omp simd reduction(+ : m0, m1, m2, eh)
        for (int j = 0; j < n; j++) {
            m0 += g[j];
            m1 += g[j] * v[j];
            m2 += g[j] * v[j] * v[j];
            eh += hh[j];
        }
        double rho = hv * m0, u = hv * m1 / rho;
        double T = (2.0 * (0.5 * hv * m2 + hv * eh) / rho - u * u) / 3.0;
        if (!(rho > 0.0 && T > 0.0)) {
            info[0] = c;
            info[1] = 1;
            return failed;
        }
        double t0 = rho, t1 = rho * u, t2 = 0.5 * rho * (u * u + T), scale = rho * (1.0 + T);
        double a = log(rho) - 0.5 * log(2.0 * M_PI * T) - u * u / (2.0 * T);
        double b = u / T, q = -0.5 / T;
        int ok = 0;
        double d[3] = {0.0, 0.0, 0.0};
        for (int it = 0; it < 40; it++) {
            /* exp(a + b v_j + q v_j^2) on the uniform grid by its recurrence
             * E_{j+1} = E_j R_j, R_{j+1} = R_j Q: two exp per 16 points, not 16;
             * restarted every 16 points to bound the round-off growth */
            double Q = exp(2.0 * q * hv * hv);
            for (int j0 = 0; j0 < n; j0 += 16) {
                double x = v[j0];
                double E = exp(a + b * x + q * x * x);
                double R = exp(b * hv + q * (2.0 * x * hv + hv * hv));
                int j1 = j0 + 16 < n ? j0 + 16 : n;
                for (int j = j0; j < j1; j++) {
                    e[j] = E;
                    E *= R;
                    R *= Q;
                }
            }
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4)
            for (int j = 0; j < n; j++) {
                s0 += e[j];
                s1 += e[j] * p1[j];
                s2 += e[j] * p2[j];
                s3 += e[j] * p3[j];
                s4 += e[j] * p4[j];
            }
            s0 *= hv;
            double s[5] = {s0, s1, s2, s3, s4};
            double F0 = s0 - t0, F1 = s1 - t1, F2 = 0.5 * s2 - t2;
            double err = fmax(fabs(F0), fmax(fabs(F1), fabs(F2))) / scale;
            if (!isfinite(err)) {
                info[0] = c;
                info[1] = 2;
                return failed;
            }
            solve3(s, F0, F1, F2, d);
            if (err < tol) { ok = 1; break; }
            a -= d[0];
            b -= d[1];
            q -= d[2];
        }
        failed += !ok;
        /* the accepted iterate leaves a residual up to tol (and the recurrence a
         * small bias of one sign): one more Newton correction, linearized,
         * exp(x - d.phi) ~ exp(x) (1 - d.phi), without new exponentials.  The
         * moments are linear in M and J d = F, so those of the corrected M equal
         * the targets to round-off whatever the residual (mass, momentum and
         * energy conserved); it differs from exp(x - d.phi) by O((d.phi)^2). */
        double *og = out + (size_t)c * 2 * n, *oh = og + n;
        double d0 = 1.0 - d[0], d1 = d[1], d2 = d[2];
        for (int j = 0; j < n; j++) {
            double x = v[j];
            double mg = e[j] * (d0 - d1 * x - d2 * x * x), mh = T * mg;
            og[j] = mg + keep * (g[j] - mg);
            oh[j] = mh + keep * (hh[j] - mh);
        }
    }
    return failed;
}
