/*
** peak_none.c -- the peak loop of a build with no SIMD FMA loop for its ISA (the
** Makefile links it instead of peak_avx2.c off x86-64): bench_kernels then prints
** GFLOP/s without a "% of peak" column.
*/
#include "peak.h"

const char *ef_bench_peak_name(void) { return "none for this ISA"; }

double ef_bench_peak_fma(int64_t n_iter, float *sink) {
    (void)n_iter;
    *sink = 0.0f;
    return 0.0;
}

double ef_bench_peak_i16(int64_t n_iter, float *sink) {
    (void)n_iter;
    *sink = 0.0f;
    return 0.0;
}
