/* Prototype fused kernels for bench/bench_kinetic.py (not used by the solver).
 *
 * They compute exactly what hpcml.kinetic.transport.transport_step (MC limiter)
 * and the update of hpcml.kinetic.bgk.bgk_step compute, but in one sweep over
 * memory: each x-cell's velocity block is read once while its neighbours are
 * still in cache, and every temporary is one cell's block (in L2).  The bench
 * compiles this file with the system C compiler and measures how close such a
 * kernel comes to the triad roofline, next to the numpy kernels.
 *
 * Layout: f is (cells, dof) row-major float64; the dof of one cell is a sequence
 * of `rows` rows of `inner` values whose x-velocity has one sign per row
 * (full mode: row = v_x index, inner = n*n, one velocity per row; Chu mode: rows
 * are the halves of g and h with v < 0 and v > 0, one velocity per value).
 */
#include <math.h>
#include <stddef.h>

/* MC slope minmod(2a, 2b, (a + b)/2), written with plain comparisons (not fmin,
 * whose NaN rules keep the compiler from vectorizing); same values as numpy's. */
static inline double mc(double a, double b) {
    double aa = fabs(a), ab = fabs(b), c = 0.5 * fabs(a + b);
    double m = 2.0 * (aa < ab ? aa : ab);
    m = c < m ? c : m;
    return (a * b > 0.0) ? copysign(m, a) : 0.0;
}

/* Upwind MUSCL flux of one row through the face between ghosted cells c-1|c;
 * v: one velocity for the row (per_value 0) or one per value (per_value 1). */
static void face_row(const double *restrict fm2, const double *restrict fm1,
                     const double *restrict f0, const double *restrict fp1,
                     const double *restrict v, int per_value, int inner,
                     double *restrict flux) {
    double v0 = v[0];
    if (v0 > 0.0 && per_value) {
        for (int k = 0; k < inner; k++)
            flux[k] = v[k] * (fm1[k] + 0.5 * mc(fm1[k] - fm2[k], f0[k] - fm1[k]));
    } else if (v0 > 0.0) {
        for (int k = 0; k < inner; k++)
            flux[k] = v0 * (fm1[k] + 0.5 * mc(fm1[k] - fm2[k], f0[k] - fm1[k]));
    } else if (per_value) {
        for (int k = 0; k < inner; k++)
            flux[k] = v[k] * (f0[k] - 0.5 * mc(f0[k] - fm1[k], fp1[k] - f0[k]));
    } else {
        for (int k = 0; k < inner; k++)
            flux[k] = v0 * (f0[k] - 0.5 * mc(f0[k] - fm1[k], fp1[k] - f0[k]));
    }
}

/* One forward-Euler stage: out (nx, dof) from the ghosted f (nx + 4, dof).
 * v: per row (per_value = 0, `rows` values) or per value (per_value = 1, dof values).
 * flux: scratch (2, dof). */
void transport_mc(const double *f, const double *v, int per_value, int rows, int inner,
                  int nx, double nu, double *out, double *flux) {
    size_t dof = (size_t)rows * inner;
    for (int i = 0; i <= nx; i++) {            /* face i: left face of interior cell i */
        const double *fm2 = f + (size_t)i * dof;
        double *face = flux + (size_t)(i & 1) * dof;
        const double *prev = flux + (size_t)((i + 1) & 1) * dof;
        for (int r = 0; r < rows; r++) {
            size_t o = (size_t)r * inner;
            const double *vr = per_value ? v + o : v + r;
            face_row(fm2 + o, fm2 + dof + o, fm2 + 2 * dof + o, fm2 + 3 * dof + o, vr,
                     per_value, inner, face + o);
        }
        if (i > 0) {
            const double *fc = fm2 + dof;      /* interior cell i - 1 */
            double *oc = out + (size_t)(i - 1) * dof;
            for (size_t k = 0; k < dof; k++) oc[k] = fc[k] - nu * (face[k] - prev[k]);
        }
    }
}

/* Conserved moments (rho, rho u_x, rho u_y, rho u_z, E) of nc cells of n^3 values. */
void moments_full(const double *f, const double *v, int n, int nc, double w, double *cons) {
    size_t dof = (size_t)n * n * n;
    for (int c = 0; c < nc; c++) {
        const double *fc = f + c * dof;
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

/* out = M + keep (f - M), M = ea[c] ex[c,i] ey[c,j] ez[c,k] (the separable discrete Maxwellian). */
void relax_full(const double *f, const double *ea, const double *ex, const double *ey,
                const double *ez, int n, int nc, double keep, double *out) {
    size_t dof = (size_t)n * n * n;
    for (int c = 0; c < nc; c++) {
        const double *x = ex + (size_t)c * n, *y = ey + (size_t)c * n, *z = ez + (size_t)c * n;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double axy = ea[c] * x[i] * y[j];
                size_t o = c * dof + ((size_t)i * n + j) * n;
                for (int k = 0; k < n; k++) {
                    double m = axy * z[k];
                    out[o + k] = m + keep * (f[o + k] - m);
                }
            }
        }
    }
}

/* Chu-mode BGK step of nc cells, each (2, n): g then h, fused per cell: moments,
 * Newton for g_M = exp(a + b v + c v^2) matching mass, momentum and the x-share
 * of the energy (as hpcml.kinetic.bgk does), h_M = T g_M, and the update
 * out = M + keep (f - M).  Returns the number of cells whose Newton did not
 * reach the tolerance.  e: scratch of n values. */
int bgk_chu(const double *f, const double *v, int n, int nc, double hv, double keep,
            double *out, double *e) {
    int failed = 0;
    for (int c = 0; c < nc; c++) {
        const double *g = f + (size_t)c * 2 * n, *hh = g + n;
        double m0 = 0, m1 = 0, m2 = 0, eh = 0;
        for (int j = 0; j < n; j++) {
            m0 += g[j];
            m1 += g[j] * v[j];
            m2 += g[j] * v[j] * v[j];
            eh += hh[j];
        }
        double rho = hv * m0, u = hv * m1 / rho;
        double T = (2.0 * (0.5 * hv * m2 + hv * eh) / rho - u * u) / 3.0;
        double t0 = rho, t1 = rho * u, t2 = 0.5 * rho * (u * u + T);
        double a = log(rho) - 0.5 * log(2.0 * M_PI * T) - u * u / (2.0 * T);
        double b = u / T, q = -0.5 / T;
        int ok = 0;
        for (int it = 0; it < 40; it++) {
            /* exp(a + b v_j + q v_j^2) on the uniform grid by its recurrence
             * E_{j+1} = E_j R_j, R_{j+1} = R_j Q: two exp per 16 points, not 16;
             * restarted every 16 points to bound the round-off growth */
            double s[5] = {0, 0, 0, 0, 0};
            double Q = exp(2.0 * q * hv * hv), E = 0.0, R = 0.0;
            for (int j = 0; j < n; j++) {
                double x = v[j];
                if ((j & 15) == 0) {
                    E = exp(a + b * x + q * x * x);
                    R = exp(b * hv + q * (2.0 * x * hv + hv * hv));
                } else {
                    E *= R;
                    R *= Q;
                }
                double ej = hv * E;
                e[j] = E;
                s[0] += ej;
                s[1] += ej * x;
                s[2] += ej * x * x;
                s[3] += ej * x * x * x;
                s[4] += ej * x * x * x * x;
            }
            double F0 = s[0] - t0, F1 = s[1] - t1, F2 = 0.5 * s[2] - t2;
            double err = fmax(fabs(F0), fmax(fabs(F1), fabs(F2))) / (rho * (1.0 + T));
            if (err < 1e-14) { ok = 1; break; }
            /* solve J d = F, J = [[s0 s1 s2] [s1 s2 s3] [s2/2 s3/2 s4/2]] (Cramer) */
            double J[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]},
                              {0.5 * s[2], 0.5 * s[3], 0.5 * s[4]}};
            double det = J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1])
                       - J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0])
                       + J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]);
            double d0 = (F0 * (J[1][1] * J[2][2] - J[1][2] * J[2][1])
                       - J[0][1] * (F1 * J[2][2] - J[1][2] * F2)
                       + J[0][2] * (F1 * J[2][1] - J[1][1] * F2)) / det;
            double d1 = (J[0][0] * (F1 * J[2][2] - J[1][2] * F2)
                       - F0 * (J[1][0] * J[2][2] - J[1][2] * J[2][0])
                       + J[0][2] * (J[1][0] * F2 - F1 * J[2][0])) / det;
            double d2 = (J[0][0] * (J[1][1] * F2 - F1 * J[2][1])
                       - J[0][1] * (J[1][0] * F2 - F1 * J[2][0])
                       + F0 * (J[1][0] * J[2][1] - J[1][1] * J[2][0])) / det;
            a -= d0;
            b -= d1;
            q -= d2;
        }
        failed += !ok;
        double *og = out + (size_t)c * 2 * n, *oh = og + n;
        for (int j = 0; j < n; j++) {
            og[j] = e[j] + keep * (g[j] - e[j]);
            oh[j] = T * e[j] + keep * (hh[j] - T * e[j]);
        }
    }
    return failed;
}
