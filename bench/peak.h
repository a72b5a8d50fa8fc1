/*
** peak.h -- the machine's measured fp32 peak, for bench_kernels' "% of peak" column.
**
** A peak is measured, never taken from a data sheet: an FMA-throughput loop with
** independent accumulators, one per pool thread, timed on the wall clock.
*/
#ifndef EF_BENCH_PEAK_H
#define EF_BENCH_PEAK_H

#include <stdint.h>

/* Runs n_iter iterations of the widest FMA loop this build has on the calling thread
** and returns the floating-point operations it did (2 per FMA lane), or 0 when this
** build has no such loop for the CPU. The sum of the accumulators goes to *sink so
** the loop cannot be dropped. */
double ef_bench_peak_fma(int64_t n_iter, float *sink);

/* The same for 16-bit integer multiply-adds into 32-bit sums (AVX2 vpmaddwd + vpaddd:
** 16 products per instruction, what an int8-weight x int16-activation GEMM would run
** on): returns the operations done, 2 per product, or 0 without such a loop. */
double ef_bench_peak_i16(int64_t n_iter, float *sink);

/* Name of the loop, e.g. "avx2 fma, 12 x 8 lanes". */
const char *ef_bench_peak_name(void);

#endif /* EF_BENCH_PEAK_H */
