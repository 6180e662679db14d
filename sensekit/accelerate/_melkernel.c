/* Fused log-mel front end for sensekit.accelerate.dsp: per frame, window -> real FFT
 * (float64) -> magnitude -> sparse mel projection -> log(mel + offset), in one pass with
 * the frame's data in L1 cache.
 *
 * Four frames run side by side, one per lane of a 4 x float64 vector ("vertical"
 * vectorization: every butterfly works on the same bin of four frames, so no shuffles).
 * The n_fft-point real FFT is an n_fft/2-point complex FFT (in place, decimation in
 * frequency, radix 4, bit-reversed output) plus the usual split step. The FFT runs in
 * float64: a float32 FFT's rounding is relative to the frame's peak, and log(mel + 0.001)
 * magnifies it to ~5e-3 in quiet bins. Magnitude, mel and log run in float32.
 *
 * Optional: when this extension did not build, dsp falls back to its numpy path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 4
typedef double vd __attribute__((vector_size(LANES * sizeof(double))));
typedef float vf __attribute__((vector_size(LANES * sizeof(float))));
typedef float vf8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t vi8 __attribute__((vector_size(8 * sizeof(int32_t))));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(_WIN32)
/* AVX2 + FMA where the CPU has them, chosen at load time; plain SSE2 otherwise. */
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif
#define INLINE static inline __attribute__((always_inline))

#define MAX_N_FFT (1 << 16)

typedef struct {
    Py_ssize_t n_fft, half, width, hop, lo, hi, n_mels, count;
    const float *audio;
    const double *window;
    const int32_t *band_start, *band_len;
    const float *weights;
    float offset;
    float *out;
    /* tables, built once per call */
    double *cos_t, *sin_t;  /* exp(-2 pi i q / half) = cos_t[q] - i sin_t[q], q < half */
    double *cos_r, *sin_r;  /* exp(-2 pi i k / n_fft) for k in [lo, hi) */
    int32_t *at, *mirror;   /* where Z[k] and Z[half - k] are in the bit-reversed output */
    /* scratch, LANES frames wide */
    vd *re, *im;
    vf *mag, *mel;
} job;

/* Loads LANES windowed frames as z[m] = x[2m] + i x[2m+1] (natural order). */
INLINE void load(const job *restrict j, Py_ssize_t first)
{
    const float *x[LANES];
    for (int lane = 0; lane < LANES; lane++) {
        Py_ssize_t index = first + lane < j->count ? first + lane : j->count - 1;
        x[lane] = j->audio + index * j->hop;
    }
    const double *restrict w = j->window;
    vd *restrict re = j->re, *restrict im = j->im;
    Py_ssize_t pairs = j->width / 2;
    for (Py_ssize_t m = 0; m < pairs; m++) {
        Py_ssize_t n = 2 * m;
        vd even = {x[0][n], x[1][n], x[2][n], x[3][n]};
        vd odd = {x[0][n + 1], x[1][n + 1], x[2][n + 1], x[3][n + 1]};
        re[m] = even * w[n];
        im[m] = odd * w[n + 1];
    }
    vd zero = {0.0, 0.0, 0.0, 0.0};
    for (Py_ssize_t m = pairs; m < j->half; m++)
        re[m] = im[m] = zero;
    if (j->width & 1) {
        Py_ssize_t n = j->width - 1;
        vd last = {x[0][n], x[1][n], x[2][n], x[3][n]};
        re[pairs] = last * w[n];
    }
}

/* (r + i m) * (c - i s), the DIF twiddle. */
#define TWIDDLE(r, m, c, s, out_r, out_i)                                 \
    do {                                                                  \
        vd r_ = (r), m_ = (m);                                            \
        out_r = r_ * (c) + m_ * (s);                                      \
        out_i = m_ * (c) - r_ * (s);                                      \
    } while (0)

/* One radix-4 decimation-in-frequency butterfly over z[k + t * quarter], t = 0..3, equal to
 * two radix-2 stages: the output stays in bit-reversed order. */
INLINE void butterfly4(vd *restrict re, vd *restrict im, Py_ssize_t k, Py_ssize_t quarter,
                       const double *restrict cos_t, const double *restrict sin_t,
                       Py_ssize_t step)
{
    vd a0r = re[k], a0i = im[k], a1r = re[k + quarter], a1i = im[k + quarter];
    vd a2r = re[k + 2 * quarter], a2i = im[k + 2 * quarter];
    vd a3r = re[k + 3 * quarter], a3i = im[k + 3 * quarter];
    vd b0r = a0r + a2r, b0i = a0i + a2i, b1r = a0r - a2r, b1i = a0i - a2i;
    vd b2r = a1r + a3r, b2i = a1i + a3i;
    vd b3r = a1i - a3i, b3i = a3r - a1r;  /* -i (a1 - a3) */
    re[k] = b0r + b2r;
    im[k] = b0i + b2i;
    if (step == 0) {  /* q = 0: all twiddles are 1 */
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
INLINE void fft(const job *restrict j)
{
    vd *restrict re = j->re, *restrict im = j->im;
    Py_ssize_t half = j->half, size = half;
    for (; size >= 4; size >>= 2) {
        Py_ssize_t quarter = size >> 2, stride = half / size;
        for (Py_ssize_t q = 0; q < quarter; q++)
            for (Py_ssize_t k = q; k < half; k += size)
                butterfly4(re, im, k, quarter, j->cos_t, j->sin_t, q * stride);
    }
    if (size == 2) {
        for (Py_ssize_t k = 0; k < half; k += 2) {  /* twiddle 1 */
            vd ar = re[k], ai = im[k], br = re[k + 1], bi = im[k + 1];
            re[k] = ar + br; im[k] = ai + bi; re[k + 1] = ar - br; im[k + 1] = ai - bi;
        }
    }
}

/* |X[k]| for k in [lo, hi) from the half-length complex FFT (split step). The power is
 * exact enough in float64 and rounds to float32 with 6e-8 relative error, which a log
 * keeps as 6e-8 absolute: sqrt, mel and log run in float32. */
INLINE void magnitude(const job *restrict j)
{
    const vd *restrict re = j->re, *restrict im = j->im;
    vf *restrict mag = j->mag;
    for (Py_ssize_t k = 0; k < j->hi - j->lo; k++) {
        Py_ssize_t a = j->at[k], b = j->mirror[k];
        vd zr = re[a], zi = im[a], cr = re[b], ci = -im[b];  /* Z[k], conj(Z[half - k]) */
        vd er = (zr + cr) * 0.5, ei = (zi + ci) * 0.5;        /* even part */
        vd or_ = (zi - ci) * 0.5, oi = (cr - zr) * 0.5;       /* odd part: -i (Z - C) / 2 */
        double c = j->cos_r[k], s = j->sin_r[k];
        vd xr = er + or_ * c + oi * s, xi = ei + oi * c - or_ * s;
        mag[k] = __builtin_convertvector(xr * xr + xi * xi, vf);
    }
    float *restrict m = (float *)mag;
    Py_ssize_t total = (j->hi - j->lo) * LANES;
    for (Py_ssize_t i = 0; i < total; i++)
        m[i] = sqrtf(m[i]);
}

/* In place, the natural log of 8 floats: Cephes' logf polynomial (~1 ulp) for positive
 * normal values, the C library for the rest (0, inf, NaN, subnormals). */
INLINE void vlog(float *values)
{
    vf8 x;
    memcpy(&x, values, sizeof x);
    vi8 bits = (vi8)x;
    vi8 exponent = ((bits >> 23) & 0xff) - 126;
    vf8 m = (vf8)((bits & 0x007fffff) | 0x3f000000);  /* mantissa in [0.5, 1) */
    vi8 low = m < 0.70710678f;                           /* -1 where m < sqrt(1/2) */
    exponent += low;
    m = m + (vf8)(low & (vi8)m) - 1.0f;                  /* 2m - 1 where low, else m - 1 */
    vf8 e = __builtin_convertvector(exponent, vf8), z = m * m;
    vf8 y = m * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z + e * -2.12194440e-4f - 0.5f * z;
    vf8 result = m + y + e * 0.693359375f;
    for (int lane = 0; lane < 8; lane++)
        if (!(x[lane] >= FLT_MIN && x[lane] <= FLT_MAX))
            result[lane] = logf(x[lane]);
    memcpy(values, &result, sizeof result);
}

/* out[frame, band] = log(sum of weights * magnitude + offset) for the LANES frames. */
INLINE void project(const job *restrict j, Py_ssize_t first)
{
    const float *restrict w = j->weights;
    for (Py_ssize_t band = 0; band < j->n_mels; band++) {
        const vf *restrict m = j->mag + j->band_start[band];
        vf acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int32_t i = 0; i < j->band_len[band]; i++)
            acc += m[i] * w[i];
        w += j->band_len[band];
        j->mel[band] = acc + j->offset;
    }
    vf one = {1.0f, 1.0f, 1.0f, 1.0f};
    j->mel[j->n_mels] = one;  /* pads an odd band count to whole 8-float vectors */
    for (Py_ssize_t band = 0; band < j->n_mels; band += 2)
        vlog((float *)(j->mel + band));
    for (int lane = 0; lane < LANES && first + lane < j->count; lane++) {
        float *restrict row = j->out + (first + lane) * j->n_mels;
        for (Py_ssize_t band = 0; band < j->n_mels; band++)
            row[band] = j->mel[band][lane];
    }
}

MULTIVERSION static void run(job *j)
{
    for (Py_ssize_t first = 0; first < j->count; first += LANES) {
        load(j, first);
        fft(j);
        magnitude(j);
        project(j, first);
    }
}

static int build_tables(job *j)
{
    Py_ssize_t bins = j->hi - j->lo;
    j->cos_t = malloc(sizeof(double) * j->half * 2);
    j->cos_r = malloc(sizeof(double) * bins * 2);
    j->at = malloc(sizeof(int32_t) * bins * 2);
    j->re = aligned_alloc(32, sizeof(vd) * j->half * 2);
    j->mag = aligned_alloc(32, sizeof(vf) * (bins + j->n_mels + 1));
    if (!j->cos_t || !j->cos_r || !j->at || !j->re || !j->mag)
        return -1;
    j->sin_t = j->cos_t + j->half;
    j->sin_r = j->cos_r + bins;
    j->mirror = j->at + bins;
    j->im = j->re + j->half;
    j->mel = j->mag + bins;
    const double tau = 6.283185307179586476925286766559;
    for (Py_ssize_t q = 0; q < j->half; q++) {
        j->cos_t[q] = cos(tau * (double)q / (double)j->half);
        j->sin_t[q] = sin(tau * (double)q / (double)j->half);
    }
    int bits = 0;
    while (((Py_ssize_t)1 << bits) < j->half)
        bits++;
    for (Py_ssize_t k = j->lo; k < j->hi; k++) {
        j->cos_r[k - j->lo] = cos(tau * (double)k / (double)j->n_fft);
        j->sin_r[k - j->lo] = sin(tau * (double)k / (double)j->n_fft);
        Py_ssize_t a = k & (j->half - 1), b = (j->half - k) & (j->half - 1);
        int32_t ra = 0, rb = 0;
        for (int bit = 0; bit < bits; bit++) {
            ra |= (int32_t)((a >> bit) & 1) << (bits - 1 - bit);
            rb |= (int32_t)((b >> bit) & 1) << (bits - 1 - bit);
        }
        j->at[k - j->lo] = ra;
        j->mirror[k - j->lo] = rb;
    }
    return 0;
}

static void free_tables(job *j)
{
    free(j->cos_t);
    free(j->cos_r);
    free(j->at);
    free(j->re);
    free(j->mag);
}

static int check(int ok, const char *message)
{
    if (!ok)
        PyErr_SetString(PyExc_ValueError, message);
    return ok;
}

/* Validates every size and index against the buffers, so no input reads out of bounds. */
static int validate(job *j, Py_buffer *audio, Py_buffer *window, Py_buffer *starts,
                    Py_buffer *lens, Py_buffer *weights, Py_buffer *out)
{
    if (!check(j->n_fft >= 4 && j->n_fft <= MAX_N_FFT && (j->n_fft & (j->n_fft - 1)) == 0,
               "n_fft must be a power of two in [4, 65536]")
        || !check(window->len % sizeof(double) == 0 && audio->len % sizeof(float) == 0
                  && starts->len == lens->len && starts->len % sizeof(int32_t) == 0
                  && weights->len % sizeof(float) == 0 && out->len % sizeof(float) == 0,
                  "buffers of float32 audio and weights, float64 window, int32 bands needed")
        || !check(j->width >= 1 && j->width <= j->n_fft, "window longer than n_fft")
        || !check(j->hop >= 1, "hop must be positive")
        || !check(0 <= j->lo && j->lo < j->hi && j->hi <= j->n_fft / 2 + 1,
                  "bins outside [0, n_fft / 2 + 1)"))
        return 0;
    Py_ssize_t samples = audio->len / sizeof(float), total = 0;
    j->n_mels = starts->len / sizeof(int32_t);
    j->count = samples >= j->width ? 1 + (samples - j->width) / j->hop : 0;
    for (Py_ssize_t band = 0; band < j->n_mels; band++) {
        if (!check(j->band_start[band] >= 0 && j->band_len[band] >= 0
                   && j->band_start[band] + (Py_ssize_t)j->band_len[band] <= j->hi - j->lo,
                   "a band reaches outside the bins"))
            return 0;
        total += j->band_len[band];
    }
    return check(total == (Py_ssize_t)(weights->len / sizeof(float)),
                 "band lengths do not add up to the weights")
        && check(out->len / (Py_ssize_t)sizeof(float) >= j->count * j->n_mels,
                 "output buffer smaller than frames x bands");
}

static PyObject *log_mel(PyObject *self, PyObject *args)
{
    Py_buffer audio, window, starts, lens, weights, out;
    job j = {0};
    if (!PyArg_ParseTuple(args, "y*y*nnnny*y*y*fw*", &audio, &window, &j.n_fft, &j.hop,
                          &j.lo, &j.hi, &starts, &lens, &weights, &j.offset, &out))
        return NULL;
    j.width = window.len / sizeof(double);
    j.half = j.n_fft / 2;
    j.audio = audio.buf;
    j.window = window.buf;
    j.band_start = starts.buf;
    j.band_len = lens.buf;
    j.weights = weights.buf;
    j.out = out.buf;
    PyObject *result = NULL;
    if (validate(&j, &audio, &window, &starts, &lens, &weights, &out)) {
        if (j.count == 0) {
            result = PyLong_FromSsize_t(0);
        } else if (build_tables(&j) != 0) {
            PyErr_NoMemory();
        } else {
            Py_BEGIN_ALLOW_THREADS
            run(&j);
            Py_END_ALLOW_THREADS
            result = PyLong_FromSsize_t(j.count);
        }
        free_tables(&j);
    }
    PyBuffer_Release(&audio);
    PyBuffer_Release(&window);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&lens);
    PyBuffer_Release(&weights);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"log_mel", log_mel, METH_VARARGS,
     "log_mel(audio, window, n_fft, hop, lo, hi, band_start, band_len, weights, offset, out)"
     " -> frames written.\n\nlog(mel + offset) of float32 audio framed every hop samples: "
     "window (float64) -> |rfft(n_fft)| over bins [lo, hi) -> bands given as int32 starts "
     "(relative to lo) and lengths with their float32 weights back to back -> float32 out "
     "[frames, bands]. Releases the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_melkernel",
                                    "Fused float64 log-mel kernel (see dsp.log_mel_frames).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__melkernel(void)
{
    return PyModule_Create(&module);
}
