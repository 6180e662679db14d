/* The log-mel kernel for one instruction set, included by _melkernel.c once per set with
 * LANES (frames per vector), SFX (name suffix) and TARGET (function attribute) defined.
 *
 * Four frames per vector where AVX2 has 4 x float64 registers, two where SSE2 and NEON have
 * 2: a vector wider than the machine's is split by the compiler through the stack, and that
 * ran 6x slower than numpy here. Every butterfly works on the same bin of LANES frames, so
 * nothing is shuffled. */

#define CAT2_(a, b) a##_##b
#define CAT2(a, b) CAT2_(a, b)
#define F(name) CAT2(name, SFX)
#define VD F(vd)
#define VF F(vf)
#define VF2 F(vf2)
#define VI2 F(vi2)
#define BODY static inline __attribute__((always_inline)) TARGET

typedef double VD __attribute__((vector_size(LANES * sizeof(double))));
typedef float VF __attribute__((vector_size(LANES * sizeof(float))));
typedef float VF2 __attribute__((vector_size(2 * LANES * sizeof(float))));
typedef int32_t VI2 __attribute__((vector_size(2 * LANES * sizeof(int32_t))));

/* Loads LANES windowed frames (frame first + lane; past the end, the last frame again) as
 * z[m] = x[2m] w[2m] + i x[2m+1] w[2m+1], natural order, zero past the window. */
BODY void F(load)(const job *restrict j, Py_ssize_t first)
{
    const float *x[LANES];
    for (int lane = 0; lane < LANES; lane++) {
        Py_ssize_t index = first + lane < j->count ? first + lane : j->count - 1;
        x[lane] = j->audio + index * j->hop;
    }
    const double *restrict w = j->window;
    Py_ssize_t pairs = j->width / 2;
#if LANES == 4
    /* a vector from four loads: one insert each with AVX */
    VD *restrict re = (VD *)j->re, *restrict im = (VD *)j->im;
    for (Py_ssize_t m = 0; m < pairs; m++) {
        Py_ssize_t n = 2 * m;
        VD even = {x[0][n], x[1][n], x[2][n], x[3][n]};
        VD odd = {x[0][n + 1], x[1][n + 1], x[2][n + 1], x[3][n + 1]};
        re[m] = even * w[n];
        im[m] = odd * w[n + 1];
    }
#else
    /* lane by lane with scalar stores: building vectors from loads goes through the stack
     * on SSE2; the FFT reads these long after the stores retire */
    double *restrict re = j->re, *restrict im = j->im;
    for (int lane = 0; lane < LANES; lane++)
        for (Py_ssize_t m = 0; m < pairs; m++) {
            re[m * LANES + lane] = x[lane][2 * m] * w[2 * m];
            im[m * LANES + lane] = x[lane][2 * m + 1] * w[2 * m + 1];
        }
#endif
    double *restrict flat_re = j->re, *restrict flat_im = j->im;
    for (Py_ssize_t i = pairs * LANES; i < j->half * LANES; i++)
        flat_re[i] = flat_im[i] = 0.0;
    if (j->width & 1)
        for (int lane = 0; lane < LANES; lane++)
            flat_re[pairs * LANES + lane] = x[lane][j->width - 1] * w[j->width - 1];
}

/* One radix-4 decimation-in-frequency butterfly over z[k + t * quarter], t = 0..3, equal to
 * two radix-2 stages, so the output stays in bit-reversed order. step indexes the twiddle
 * table; 0 means all twiddles are 1. */
BODY void F(butterfly4)(VD *restrict re, VD *restrict im, Py_ssize_t k, Py_ssize_t quarter,
                        const double *restrict cos_t, const double *restrict sin_t,
                        Py_ssize_t step)
{
    VD a0r = re[k], a0i = im[k], a1r = re[k + quarter], a1i = im[k + quarter];
    VD a2r = re[k + 2 * quarter], a2i = im[k + 2 * quarter];
    VD a3r = re[k + 3 * quarter], a3i = im[k + 3 * quarter];
    VD b0r = a0r + a2r, b0i = a0i + a2i, b1r = a0r - a2r, b1i = a0i - a2i;
    VD b2r = a1r + a3r, b2i = a1i + a3i;
    VD b3r = a1i - a3i, b3i = a3r - a1r;  /* -i (a1 - a3) */
    re[k] = b0r + b2r;
    im[k] = b0i + b2i;
    if (step == 0) {
        re[k + quarter] = b0r - b2r; im[k + quarter] = b0i - b2i;
        re[k + 2 * quarter] = b1r + b3r; im[k + 2 * quarter] = b1i + b3i;
        re[k + 3 * quarter] = b1r - b3r; im[k + 3 * quarter] = b1i - b3i;
        return;
    }
    TWIDDLE(b0r - b2r, b0i - b2i, cos_t[2 * step], sin_t[2 * step],
            re[k + quarter], im[k + quarter]);
    TWIDDLE(b1r + b3r, b1i + b3i, cos_t[step], sin_t[step],
            re[k + 2 * quarter], im[k + 2 * quarter]);
    TWIDDLE(b1r - b3r, b1i - b3i, cos_t[3 * step], sin_t[3 * step],
            re[k + 3 * quarter], im[k + 3 * quarter]);
}

/* In-place decimation-in-frequency FFT over half points: radix-4 stages, then one radix-2
 * stage when half is an odd power of two. Natural order in, bit-reversed order out. */
BODY void F(fft)(const job *restrict j)
{
    VD *restrict re = (VD *)j->re, *restrict im = (VD *)j->im;
    Py_ssize_t half = j->half, size = half;
    for (; size >= 4; size >>= 2) {
        Py_ssize_t quarter = size >> 2, stride = half / size;
        for (Py_ssize_t q = 0; q < quarter; q++)
            for (Py_ssize_t k = q; k < half; k += size)
                F(butterfly4)(re, im, k, quarter, j->cos_t, j->sin_t, q * stride);
    }
    if (size == 2) {
        for (Py_ssize_t k = 0; k < half; k += 2) {  /* twiddle 1 */
            VD ar = re[k], ai = im[k], br = re[k + 1], bi = im[k + 1];
            re[k] = ar + br; im[k] = ai + bi; re[k + 1] = ar - br; im[k + 1] = ai - bi;
        }
    }
}

/* |X[k]| for k in [lo, hi) from the half-length complex FFT (the split step). The power
 * is exact enough in float64 and rounds to float32 with 6e-8 relative error, which a log
 * keeps as 6e-8 absolute: sqrt, mel and log run in float32. */
BODY void F(magnitude)(const job *restrict j)
{
    const VD *restrict re = (const VD *)j->re, *restrict im = (const VD *)j->im;
    VF *restrict mag = (VF *)j->mag;
    for (Py_ssize_t k = 0; k < j->hi - j->lo; k++) {
        Py_ssize_t a = j->at[k], b = j->mirror[k];
        VD zr = re[a], zi = im[a], cr = re[b], ci = -im[b];  /* Z[k], conj(Z[half - k]) */
        VD er = (zr + cr) * 0.5, ei = (zi + ci) * 0.5;        /* even part */
        VD or_ = (zi - ci) * 0.5, oi = (cr - zr) * 0.5;       /* odd part: -i (Z - C) / 2 */
        double c = j->cos_r[k], s = j->sin_r[k];
        VD xr = er + or_ * c + oi * s, xi = ei + oi * c - or_ * s;
        mag[k] = __builtin_convertvector(xr * xr + xi * xi, VF);
    }
    float *restrict m = j->mag;
    Py_ssize_t total = (j->hi - j->lo) * LANES;
    for (Py_ssize_t i = 0; i < total; i++)
        m[i] = sqrtf(m[i]);
}

/* In place, the natural log of 2 * LANES floats: Cephes' logf polynomial (~1 ulp) for
 * positive normal values, the C library for the rest (0, inf, NaN, subnormals). */
BODY void F(vlog)(float *values)
{
    VF2 x;
    memcpy(&x, values, sizeof x);
    VI2 bits = (VI2)x;
    VI2 exponent = ((bits >> 23) & 0xff) - 126;
    VF2 m = (VF2)((bits & 0x007fffff) | 0x3f000000);  /* mantissa in [0.5, 1) */
    VI2 low = m < 0.70710678f;                           /* -1 where m < sqrt(1/2) */
    exponent += low;
    m = m + (VF2)(low & (VI2)m) - 1.0f;                  /* 2m - 1 where low, else m - 1 */
    VF2 e = __builtin_convertvector(exponent, VF2), z = m * m;
    VF2 y = m * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z + e * -2.12194440e-4f - 0.5f * z;
    VF2 result = m + y + e * 0.693359375f;
    for (int lane = 0; lane < 2 * LANES; lane++)
        if (!(x[lane] >= FLT_MIN && x[lane] <= FLT_MAX))
            result[lane] = logf(x[lane]);
    memcpy(values, &result, sizeof result);
}

/* out[frame, band] = log(sum of weights * magnitude + offset) for the LANES frames. */
BODY void F(project)(const job *restrict j, Py_ssize_t first)
{
    const float *restrict w = j->weights;
    const VF *restrict mag = (const VF *)j->mag;
    VF *restrict mel = (VF *)j->mel;
    for (Py_ssize_t band = 0; band < j->n_mels; band++) {
        const VF *restrict m = mag + j->band_start[band];
        VF acc = {0};
        for (int32_t i = 0; i < j->band_len[band]; i++)
            acc += m[i] * w[i];
        w += j->band_len[band];
        mel[band] = acc + j->offset;
    }
    VF one = {0};
    mel[j->n_mels] = one + 1.0f;  /* pads an odd band count to whole pairs */
    for (Py_ssize_t band = 0; band < j->n_mels; band += 2)
        F(vlog)((float *)(mel + band));
    for (int lane = 0; lane < LANES && first + lane < j->count; lane++) {
        float *restrict row = j->out + (first + lane) * j->n_mels;
        for (Py_ssize_t band = 0; band < j->n_mels; band++)
            row[band] = mel[band][lane];
    }
}

static TARGET void F(run)(job *j)
{
    for (Py_ssize_t first = 0; first < j->count; first += LANES) {
        F(load)(j, first);
        F(fft)(j);
        F(magnitude)(j);
        F(project)(j, first);
    }
}

#undef CAT2_
#undef CAT2
#undef F
#undef VD
#undef VF
#undef VF2
#undef VI2
#undef BODY
