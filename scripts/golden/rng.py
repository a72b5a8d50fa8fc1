"""Writes tests/fixtures/rng/reference.safetensors: torch's CPU generator outputs that
src/core/rng.c must reproduce bit for bit.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/rng.py
Deterministic; the output is committed, `make test` never runs this.

Seeds are given as the uint64 torch stores (manual_seed(-1) == manual_seed(2**64 - 1)).
Tensors (all little-endian; the seed label L is the decimal uint64, "m1" for -1):
  randn.sL.nN          F32 (N,)   torch.randn(N, generator=manual_seed(L)) for small N
  randn.sL.nN.head     F32 (64,)  first 64 values of a large draw (N = 16384 = 4x64x64)
  randn.sL.nN.tail     F32 (64,)  last 64 values
  randn.sL.nN.fnv      I64 (1,)   FNV-1a 64 of all N float32 values' little-endian bytes
                                  (as int64), so big draws are checked without storing them
  randn.s42.n16384     F32 (16384,) stored in full once
  seq.s7.K.nN[...]     the K-th of several successive draws from ONE generator (the
                       latents, then per-step noise, then small draws that use and
                       leave the cached normal sample), same naming as above
  u64.sL               I64 (8,)   random64() words, as int64 (torch.randint full range
                                  returns random64() % (2^64-1) - 2^63; stored here undone)
  mt.sL.after17        I64 (626,) mt19937 state words after randn(17), then left, next
  scalar.randn.sL.nN[...]  the same draws under ATEN_CPU_CAPABILITY=default (torch's
                       scalar Box-Muller on libm), for ef_rng's EF_RNG_TORCH_SCALAR
__metadata__: format_version "1", torch version, cpu capability of each section.
"""
import json
import os
import struct
import subprocess
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "rng", "reference.safetensors")

SEEDS = [0, 42, 2**32 + 5, 2**63 + 1, 2**64 - 1, 123456789]
SMALL = [1, 2, 3, 7, 15, 16, 17, 31, 33, 100]
BIG = 16384  # 4 x 64 x 64, one 512x512 SD latent
SEQ = [BIG, BIG, 1, 3, 17, 1, 2, 16, 5]


def save_sorted(tensors, path, metadata):
    """safetensors.torch.save_file, but byte-for-byte reproducible: save_file writes
    __metadata__ in hash order. Tensors in sorted name order, header padded to 8."""
    names = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}
    header, blobs, off = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for k in sorted(tensors):
        v = tensors[k].contiguous()
        b = v.numpy().astype(v.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.chmod(path, 0o644)


def fnv1a64(a):
    h = 0xCBF29CE484222325
    for b in a.astype("<f4").tobytes():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def as_i64(u):
    return u - (1 << 64) if u >= (1 << 63) else u


def label(seed):
    return "m1" if seed == -1 else str(seed)


def put_draw(t, name, x, full=False):
    x = x.contiguous()
    if x.numel() < 128 or full:
        t[name] = x.clone()
    else:
        a = x.numpy()
        t[name + ".head"] = x[:64].clone()
        t[name + ".tail"] = x[-64:].clone()
        t[name + ".fnv"] = torch.tensor([as_i64(fnv1a64(a))], dtype=torch.int64)


def gen(seed):
    return torch.Generator("cpu").manual_seed(seed)


def mt_state(g):
    """(state[624], left, next) from torch's CPUGeneratorImplState byte layout."""
    b = g.get_state().numpy().tobytes()
    left, _seeded = struct.unpack_from("<ii", b, 8)
    (nxt,) = struct.unpack_from("<Q", b, 16)
    state = struct.unpack_from("<624Q", b, 24)
    return list(state) + [left, nxt]


def draws(prefix, seeds, with_words):
    t = {}
    for seed in seeds:
        L = label(seed)
        for n in SMALL + [BIG]:
            put_draw(t, f"{prefix}randn.s{L}.n{n}", torch.randn(n, generator=gen(seed)), full=(seed == 42 and n == BIG))
        if with_words:
            g = gen(seed)
            r = torch.randint(-(2**63), 2**63 - 1, (8,), dtype=torch.int64, generator=g)
            # randint(lo, hi) = random64() % (hi - lo) + lo; hi - lo = 2^64 - 1
            words = [(int(v) + 2**63) % (2**64) for v in r]
            t[f"u64.s{L}"] = torch.tensor([as_i64(w) for w in words], dtype=torch.int64)
            g = gen(seed)
            torch.randn(17, generator=g)
            t[f"mt.s{L}.after17"] = torch.tensor(mt_state(g), dtype=torch.int64)
    g = gen(7)
    for k, n in enumerate(SEQ):
        put_draw(t, f"{prefix}seq.s7.{k}.n{n}", torch.randn(n, generator=g))
    return t


def child():
    """Runs under ATEN_CPU_CAPABILITY=default; prints the scalar-path tensors as JSON."""
    t = draws("scalar.", [0, 42], False)
    out = {k: {"dtype": str(v.dtype), "data": v.tolist()} for k, v in t.items()}
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "tensors": out}))


def main():
    if os.environ.get("EF_RNG_CHILD"):
        child()
        return
    cap = torch.backends.cpu.get_cpu_capability()
    assert cap in ("AVX2", "AVX512"), f"expected an AVX2/AVX512 CPU for the default path, got {cap}"
    torch.manual_seed(0)  # unused; keeps the global generator out of the picture
    t = draws("", SEEDS + [-1], True)
    env = dict(os.environ, EF_RNG_CHILD="1", ATEN_CPU_CAPABILITY="default")
    res = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env, check=True,
                         capture_output=True, text=True)
    child_out = json.loads(res.stdout)
    assert child_out["capability"] == "DEFAULT", child_out["capability"]
    for k, v in child_out["tensors"].items():
        dt = torch.float32 if v["dtype"] == "torch.float32" else torch.int64
        t[k] = torch.tensor(v["data"], dtype=dt)
    # seeds are equal modulo 2^32: a property the C test relies on, checked here
    assert torch.equal(torch.randn(33, generator=gen(5)), torch.randn(33, generator=gen(2**32 + 5)))
    meta = {"format_version": "1", "torch": torch.__version__, "capability": cap,
            "scalar_capability": child_out["capability"]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_sorted(t, OUT, meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes, {len(t)} tensors)")


if __name__ == "__main__":
    main()
