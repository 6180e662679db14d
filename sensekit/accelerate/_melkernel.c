/* Fused log-mel front end for sensekit.accelerate.dsp: per frame, window -> real FFT
 * (float64) -> magnitude -> sparse mel projection -> log(mel + offset), in one pass with
 * the frame's data in L1 cache.
 *
 * Several frames run side by side, one per lane of a float64 vector (_melkernel_body.h,
 * compiled for AVX2 + FMA with 4 lanes and for the baseline instruction set with 2; the
 * CPU picks at run time). The n_fft-point real FFT is an n_fft/2-point complex FFT (in
 * place, decimation in frequency, radix 4, bit-reversed output) plus the usual split step.
 * The FFT runs in float64: a float32 FFT's rounding is relative to the frame's peak, and
 * log(mel + 0.001) magnifies it to ~5e-3 in quiet bins. Magnitude, mel and log run in
 * float32.
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32)
#define HAVE_AVX2 1
#endif

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
    /* scratch for up to MAX_LANES frames, lane-interleaved: re[m * lanes + lane] */
    double *re, *im;
    float *mag, *mel;
} job;

#define MAX_LANES 4

/* (r + i m)(c - i s), the decimation-in-frequency twiddle */
#define TWIDDLE(r, m, c, s, out_r, out_i)                                 \
    do {                                                                  \
        __typeof__(r) r_ = (r), m_ = (m);                                 \
        out_r = r_ * (c) + m_ * (s);                                      \
        out_i = m_ * (c) - r_ * (s);                                      \
    } while (0)

#ifdef HAVE_AVX2
#define LANES 4
#define SFX avx2
#define TARGET __attribute__((target("avx2,fma")))
#include "_melkernel_body.h"
#undef LANES
#undef SFX
#undef TARGET
#endif

#define LANES 2
#define SFX base
#define TARGET
#include "_melkernel_body.h"
#undef LANES
#undef SFX
#undef TARGET

/* "avx2" or "base": the kernel this CPU runs. */
static const char *isa(void)
{
#ifdef HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "avx2";
#endif
    return "base";
}

static void run(job *j, int portable)
{
#ifdef HAVE_AVX2
    if (!portable && isa()[0] == 'a') {
        run_avx2(j);
        return;
    }
#endif
    run_base(j);
}

/* 32-byte aligned memory (whole AVX vectors); aligned_alloc wants a multiple of 32. */
static void *alloc32(size_t bytes)
{
    return aligned_alloc(32, (bytes + 31) & ~(size_t)31);
}

/* value's lowest bits, mirrored */
static int32_t reverse_bits(Py_ssize_t value, int bits)
{
    int32_t reversed = 0;
    for (int bit = 0; bit < bits; bit++)
        reversed |= (int32_t)((value >> bit) & 1) << (bits - 1 - bit);
    return reversed;
}

static int build_tables(job *j)
{
    Py_ssize_t bins = j->hi - j->lo;
    j->cos_t = malloc(sizeof(double) * j->half * 2);
    j->cos_r = malloc(sizeof(double) * bins * 2);
    j->at = malloc(sizeof(int32_t) * bins * 2);
    j->re = alloc32(sizeof(double) * MAX_LANES * j->half * 2);
    j->mag = alloc32(sizeof(float) * MAX_LANES * (bins + j->n_mels + 1));
    if (!j->cos_t || !j->cos_r || !j->at || !j->re || !j->mag)
        return -1;
    j->sin_t = j->cos_t + j->half;
    j->sin_r = j->cos_r + bins;
    j->mirror = j->at + bins;
    j->im = j->re + MAX_LANES * j->half;
    j->mel = j->mag + MAX_LANES * bins;
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
        j->at[k - j->lo] = reverse_bits(k & (j->half - 1), bits);
        j->mirror[k - j->lo] = reverse_bits((j->half - k) & (j->half - 1), bits);
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
    int portable = 0;
    if (!PyArg_ParseTuple(args, "y*y*nnnny*y*y*fw*|p", &audio, &window, &j.n_fft, &j.hop,
                          &j.lo, &j.hi, &starts, &lens, &weights, &j.offset, &out, &portable))
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
            run(&j, portable);
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

static PyObject *isa_name(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(isa());
}

static PyMethodDef methods[] = {
    {"isa", isa_name, METH_NOARGS, "isa() -> 'avx2' or 'base': the kernel this CPU runs."},
    {"log_mel", log_mel, METH_VARARGS,
     "log_mel(audio, window, n_fft, hop, lo, hi, band_start, band_len, weights, offset, out,"
     " portable=False) -> frames written.\n\nlog(mel + offset) of float32 audio framed "
     "every hop samples: window (float64) -> |rfft(n_fft)| over bins [lo, hi) -> bands "
     "given as int32 starts (relative to lo) and lengths with their float32 weights back to "
     "back -> float32 out [frames, bands]. portable runs the baseline kernel even where AVX2 "
     "is there. Releases the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_melkernel",
                                    "Fused float64 log-mel kernel (see dsp.log_mel_frames).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__melkernel(void)
{
    return PyModule_Create(&module);
}
