/*
** rng.h -- seeded noise that is bit-identical to PyTorch's CPU generator, so the same
** seed gives the same initial latents (and the same per-step noise) as diffusers with
** `torch.Generator("cpu").manual_seed(seed)`.
**
** What it reproduces (torch 2.x, ATen sources named in rng.c):
**   - at::mt19937 seeded from the 64-bit seed exactly as torch does: ONLY THE LOW 32 BITS
**     of the seed reach the state (state[0] = seed & 0xffffffff), so seeds s and
**     s + k*2^32 give identical streams. Python's manual_seed accepts
**     [-2^63, 2^64-1]; a negative seed is taken as its two's complement uint64
**     (manual_seed(-1) == manual_seed(2^64-1)). Callers pass that uint64 here.
**   - CPUGeneratorImpl::random() (one tempered 32-bit word) and random64()
**     ((first word << 32) | second word).
**   - torch.randn(n, generator=g, dtype=float32) for a contiguous tensor of n elements,
**     both paths of ATen's CPU normal kernel (numel >= 16: uniform fill + Box-Muller in
**     blocks of 16 with the tail recomputed; numel < 16: per-element
**     normal_distribution<double> with the generator's cached second sample).
**   - the generator state across successive calls (diffusers draws the latents, then the
**     per-step noise of LCM / Euler ancestral, from one generator).
** Not reproduced: CUDA/MPS generators (different algorithms), fp16/bf16 randn, and
** a *list* of generators (diffusers then draws each batch item as shape (1, ...) from
** its own generator: call ef_rng_randn once per item).
**
** An ef_rng is a plain value (about 2.5 KB), owned by the caller; no global state.
*/
#ifndef EF_CORE_RNG_H
#define EF_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#define EF_RNG_MT_N 624

/* Which of ATen's two Box-Muller kernels (numel >= 16) to reproduce. torch picks one
** from the CPU it runs on; the numel < 16 path is the same for both. */
typedef enum ef_rng_flavor {
    /* x86-64 with AVX2 (also AVX-512 CPUs: normal_stub is not built for AVX-512 and falls
    ** back to AVX2): NormalFill16<float> with avx_mathfun.h's log256_ps/sincos256_ps
    ** (Cephes polynomials), as compiled by GCC with FMA contraction. Reproduced in
    ** portable scalar C, bit-exactly. The default: it is what diffusers gives on a PC. */
    EF_RNG_TORCH_AVX2 = 0,
    /* Every other CPU (aarch64, x86 without AVX2, ATEN_CPU_CAPABILITY=default): the
    ** scalar NormalFill16 on libm logf/cosf/sinf. Bit-exact when this process's libm is
    ** the one torch used (glibc on Linux); another libm may differ by an ulp. */
    EF_RNG_TORCH_SCALAR = 1
} ef_rng_flavor;

typedef struct ef_rng {
    uint32_t      state[EF_RNG_MT_N];  /* mt19937 state words */
    int           left;                /* words left before the next twist (1..624) */
    uint32_t      next;                /* index of the next word in state */
    uint64_t      seed;                /* the seed as given (torch's initial_seed()) */
    int           has_normal;          /* torch's next_double_normal_sample_ is set */
    double        normal;              /* that cached sample (the sin half of Box-Muller) */
    ef_rng_flavor flavor;
} ef_rng;

/* torch.Generator("cpu").manual_seed(seed): resets the state and drops any cached
** normal sample. flavor selects the Box-Muller kernel (see ef_rng_flavor). */
void ef_rng_init(ef_rng *r, uint64_t seed, ef_rng_flavor flavor);

/* CPUGeneratorImpl::random(): the next tempered 32-bit word. */
uint32_t ef_rng_u32(ef_rng *r);

/* CPUGeneratorImpl::random64(): two words, the first in the high half. */
uint64_t ef_rng_u64(ef_rng *r);

/* torch.randn(shape, generator=g, dtype=torch.float32) for a contiguous tensor of
** n = prod(shape) elements, written to out (n,). The shape itself does not matter, only
** n. Advances r exactly as torch advances the generator (n >= 16: n uniform words, plus
** 16 more when n % 16 != 0; n < 16: two 64-bit draws per pair of outputs, with the odd
** one cached in r for the next call of any size < 16). n == 0 draws nothing. */
void ef_rng_randn(ef_rng *r, float *out, size_t n);

#endif /* EF_CORE_RNG_H */
