"""Full-size check of the C VAE decoders/encoders against diffusers (NOT run by CI).

Builds random-weight copies of
  * the SD-1.x VAE: AutoencoderKL, block_out_channels [128, 256, 512, 512],
    layers_per_block 2, norm_num_groups 32, latent 4, scaling 0.18215
    (83,653,863 parameters), saved as a diffusers vae/ folder, and
  * TAESD: AutoencoderTiny with the defaults (1,222,532 encoder + 1,222,531 decoder
    parameters), saved in madebyollin's naming (taesd_{encoder,decoder}.safetensors,
    loaded the way the CLI's --taesd PATH does),
compiles tools/check/vae_run.c against the engine library, and at 512x512 compares
decode and encode with diffusers (max abs error, NMSE, parameters loaded, seconds).
With --tiled-1024 it also decodes a 1024x1024 SD-VAE latent with tiling
(ef_vae_tiling_default: 32-latent tiles, overlap 8) under /usr/bin/time -v, reports
the peak RSS, compares with diffusers' enable_tiling() (same settings) and reports
the max pixel difference (/255 after quantization) of tiled vs untiled.

Usage, from the repo root (needs ~1 GB of disk in $TMPDIR and a few GB of RAM):
    make BUILD=build build/libedgefusion.a        # any BUILD=...; pass it as --build
    /opt/efgold/bin/python scripts/check_full_vae.py [--build build] [--threads N]
        [--skip-kl] [--skip-taesd] [--tiled-1024] [--keep]

The SD-VAE decode at 512 is ~1.26 TMAC: with the reference conv kernel expect many
minutes. Exit status 1 if a comparison exceeds NMSE 1e-6 or max abs 1e-3 * max|want|.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_common import compile_driver  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
N_PARAMS_SD_VAE = 83_653_863
N_PARAMS_TAESD_DEC = 1_222_531
N_PARAMS_TAESD_ENC = 1_222_532


def randomize(model, seed):
    """Every parameter redrawn (norm scales 1 + 0.2 r, biases 0.1 r, weights r/sqrt(fan_in))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                p.copy_(r / p[0].numel() ** 0.5)
    return model.eval()


def build_sd_vae(seed):
    from diffusers import AutoencoderKL

    cfg = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
               up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
               act_fn="silu", latent_channels=4, norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
    return randomize(AutoencoderKL(**cfg), seed)


def build_taesd(seed):
    from diffusers import AutoencoderTiny

    return randomize(AutoencoderTiny(), seed)


def save_taesd_original(vae, folder):
    """madebyollin's files: encoder indices as diffusers', decoder indices + 1 (Clamp)."""
    from safetensors.torch import save_file

    os.makedirs(folder)
    sd = vae.state_dict()
    enc = {k[len("encoder.layers."):]: v for k, v in sd.items() if k.startswith("encoder.layers.")}
    dec = {}
    for k, v in sd.items():
        if k.startswith("decoder.layers."):
            idx, rest = k[len("decoder.layers."):].split(".", 1)
            dec[f"{int(idx) + 1}.{rest}"] = v
    save_file(enc, os.path.join(folder, "taesd_encoder.safetensors"))
    save_file(dec, os.path.join(folder, "taesd_decoder.safetensors"))


class Runner:
    def __init__(self, driver, tmp, threads):
        self.driver, self.tmp, self.threads = driver, tmp, threads
        self.bad = False

    def run(self, mode, source, path, x, extra=(), time_v=False):
        """Runs the driver on x (C, H, W); returns (output array, info dict)."""
        inp, out = os.path.join(self.tmp, "in.f32"), os.path.join(self.tmp, "out.f32")
        x.astype(np.float32).tofile(inp)
        cmd = [self.driver, mode, source, path, inp, *map(str, x.shape), out, str(self.threads), *map(str, extra)]
        if time_v:
            cmd = ["/usr/bin/time", "-v"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"vae_run failed ({r.returncode}):\n{r.stderr}")
        info = dict(kv.split("=") for kv in r.stdout.split())
        if time_v:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
            info["peak_rss_kb"] = int(m.group(1)) if m else -1
        shape = tuple(int(s) for s in info["out"].split(","))
        return np.fromfile(out, dtype=np.float32).reshape(shape), info

    def compare(self, label, got, want, info, t_torch):
        want = want.astype(np.float64)
        d = got.astype(np.float64) - want
        max_abs = np.abs(d).max()
        nmse = (d ** 2).sum() / (want ** 2).sum()
        bad = not (nmse <= 1e-6 and max_abs <= 1e-3 * max(1.0, np.abs(want).max()))
        self.bad |= bad
        print(f"{label}: params {int(info['params']):,}  max_abs {max_abs:.3g}  nmse {nmse:.3g}  "
              f"(C {float(info['run_s']):.1f}s on {info['threads']} threads, {info['kernels']}, load "
              f"{float(info['load_s']):.2f}s; torch {t_torch:.1f}s){'  FAIL' if bad else ''}", flush=True)


def to_rgb8(img):
    """diffusers' VaeImageProcessor postprocess (float32, round half to even)."""
    x = np.clip(img.astype(np.float32) * np.float32(0.5) + np.float32(0.5), 0, 1)
    return np.round(x * np.float32(255)).astype(np.uint8)


def timed(fn):
    t0 = time.time()
    with torch.no_grad():
        r = fn()
    return r, time.time() - t0


def check_taesd(run, tmp, seed):
    vae = build_taesd(seed)
    n_dec = sum(p.numel() for p in vae.decoder.parameters())
    n_enc = sum(p.numel() for p in vae.encoder.parameters())
    print(f"TAESD (AutoencoderTiny defaults): decoder {n_dec:,} + encoder {n_enc:,} parameters", flush=True)
    assert n_dec == N_PARAMS_TAESD_DEC and n_enc == N_PARAMS_TAESD_ENC, (n_dec, n_enc)
    folder = os.path.join(tmp, "taesd")
    save_taesd_original(vae, folder)
    g = torch.Generator().manual_seed(seed + 10)
    z = torch.randn(1, 4, 64, 64, generator=g) * 2.5
    want, t = timed(lambda: vae.decode(z).sample[0].numpy())
    got, info = run.run("decode", "taesd", folder, z[0].numpy())
    assert int(info["params"]) == N_PARAMS_TAESD_DEC, info
    run.compare("TAESD decode 512x512 (--taesd taesd_decoder.safetensors)", got, want, info, t)
    x = torch.rand(1, 3, 512, 512, generator=g) * 2 - 1
    want, t = timed(lambda: vae.encode(x).latents[0].numpy())
    got, info = run.run("encode", "taesd", folder, x[0].numpy())
    assert int(info["params"]) == N_PARAMS_TAESD_ENC, info
    run.compare("TAESD encode 512x512", got, want, info, t)
    taesd_tiling_report(vae, g)


def taesd_tiled_decode(vae, z, tile, overlap):
    """diffusers' AutoencoderKL.tiled_decode run on the tiny decoder: the algorithm
    ef_vae_decode_tiled implements for both kinds (the fixtures check the C side)."""
    import types

    from diffusers import AutoencoderKL

    shim = types.SimpleNamespace(tile_latent_min_size=tile, tile_sample_min_size=8 * tile,
                                 tile_overlap_factor=overlap / tile,
                                 config=types.SimpleNamespace(use_post_quant_conv=False),
                                 decoder=lambda t: vae.decode(t).sample)
    shim.blend_v = lambda a, b, e: AutoencoderKL.blend_v(shim, a, b, e)
    shim.blend_h = lambda a, b, e: AutoencoderKL.blend_h(shim, a, b, e)
    return AutoencoderKL.tiled_decode(shim, z, return_dict=False)[0]


def taesd_tiling_report(vae, g):
    """Tiled (default 32/8 latents) vs whole decode of TAESD at 1024x1024, in torch."""
    z = torch.randn(1, 4, 128, 128, generator=g) * 2.5
    with torch.no_grad():
        whole = vae.decode(z).sample[0].numpy()
        tiled = taesd_tiled_decode(vae, z, 32, 8)[0].numpy()
    dq = np.abs(to_rgb8(tiled).astype(int) - to_rgb8(whole).astype(int))
    print(f"  TAESD 1024x1024 tiled (32/8) vs untiled (torch, same algorithm as C): max pixel diff {dq.max()}/255, "
          f"mean {dq.mean():.3f}/255, {(dq > 2).mean() * 100:.2f}% of values > 2/255 (random weights)", flush=True)


def check_kl(run, tmp, seed, tiled_1024):
    vae = build_sd_vae(seed)
    n = sum(p.numel() for p in vae.parameters())
    n_dec = sum(p.numel() for p in vae.decoder.parameters()) + sum(p.numel() for p in vae.post_quant_conv.parameters())
    print(f"SD VAE (AutoencoderKL, SD-1.x config): {n:,} parameters ({n_dec:,} in the decoder half)", flush=True)
    assert n == N_PARAMS_SD_VAE, n
    folder = os.path.join(tmp, "vae")
    vae.save_pretrained(folder, safe_serialization=True)
    g = torch.Generator().manual_seed(seed + 20)
    z = torch.randn(1, 4, 64, 64, generator=g)
    want, t = timed(lambda: vae.decode(z).sample[0].numpy())
    got, info = run.run("decode", "dir", folder, z[0].numpy())
    assert int(info["params"]) == n_dec, info
    run.compare("SD VAE decode 512x512", got, want, info, t)
    print(f"  (decode workspace {int(info['ws_bytes']) / 2**20:.0f} MiB)", flush=True)
    x = torch.rand(1, 3, 512, 512, generator=g) * 2 - 1
    noise = torch.randn(1, 4, 64, 64, generator=g)

    def enc():
        d = vae.encode(x).latent_dist
        return (d.mean + d.std * noise)[0].numpy()

    # one C encode (the sample covers the mean and the logvar; the mean alone is in make test)
    want, t = timed(enc)
    noise_file = os.path.join(tmp, "noise.f32")
    noise[0].numpy().tofile(noise_file)
    got, info = run.run("encode", "dir", folder, x[0].numpy(), extra=(noise_file,))
    assert int(info["params"]) == n - n_dec, info
    run.compare("SD VAE encode 512x512 (sample = mean + std * noise)", got, want, info, t)
    if not tiled_1024:
        return
    z = torch.randn(1, 4, 128, 128, generator=g)
    tile, ov = 32, 8
    got, info = run.run("tiled", "dir", folder, z[0].numpy(), extra=(tile, ov), time_v=True)
    vae.enable_tiling()
    vae.tile_latent_min_size, vae.tile_sample_min_size, vae.tile_overlap_factor = tile, 8 * tile, ov / tile
    want, t = timed(lambda: vae.decode(z).sample[0].numpy())
    vae.disable_tiling()
    run.compare(f"SD VAE tiled decode 1024x1024 (tile {tile}, overlap {ov})", got, want, info, t)
    print(f"  peak RSS {info['peak_rss_kb'] / 1024:.0f} MiB (/usr/bin/time -v), workspace "
          f"{int(info['ws_bytes']) / 2**20:.0f} MiB", flush=True)
    whole, t = timed(lambda: vae.decode(z).sample[0].numpy())
    dq = np.abs(to_rgb8(got).astype(int) - to_rgb8(whole).astype(int))
    print(f"  tiled (C) vs untiled (diffusers, {t:.0f}s): max pixel diff {dq.max()}/255, mean {dq.mean():.3f}/255, "
          f"{(dq > 2).mean() * 100:.2f}% of values > 2/255 (random weights)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding libedgefusion.a (default: build)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-kl", action="store_true", help="TAESD only")
    ap.add_argument("--skip-taesd", action="store_true", help="SD VAE only")
    ap.add_argument("--tiled-1024", action="store_true", help="also the tiled 1024x1024 SD-VAE decode (peak RSS)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    tmp = tempfile.mkdtemp(prefix="ef_full_vae_")
    try:
        driver = os.path.join(tmp, "vae_run")
        compile_driver(args.build, "vae_run.c", driver)
        run = Runner(driver, tmp, args.threads)
        if not args.skip_taesd:
            check_taesd(run, tmp, args.seed)
        if not args.skip_kl:
            check_kl(run, tmp, args.seed + 1, args.tiled_1024)
        sys.exit(1 if run.bad else 0)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
