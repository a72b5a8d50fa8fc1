"""Full-size check of the C UNet against diffusers (NOT run by CI).

Builds random-weight UNet2DConditionModels with the real configs:
  tiny      BK-SDM-Tiny (nota-ai/bk-sdm-tiny unet/config.json): 323,384,964 parameters
  tiny-lcm  the same with time_cond_proj_dim 256 (LCM w-embedding): 323,466,884
  sd15      SD-1.5 (runwayml/stable-diffusion-v1-5 unet): 859,520,964
saves each with save_pretrained (fp32) into a temporary folder, compiles
tools/check/unet_forward.c against the engine library, runs one forward per latent
size with both, and prints max abs error, NMSE, the parameter count the engine loaded,
its seconds per step and the peak RSS of the C process (/usr/bin/time -v when
present, else the driver's VmHWM).

Weights: diffusers' default init, with every bias and norm affine nudged by seeded noise
so all of them take part. Inputs: sample ~ N(0, 1), timestep 999 (and 500 at 256x256),
encoder_hidden_states ~ N(0, 1) of 77 x 768, timestep_cond ~ N(0, 1) for tiny-lcm.

Usage, from the repo root (needs ~3.5 GB of disk in $TMPDIR and ~12 GB of RAM for sd15):
    make build/libedgefusion.a        # or any BUILD=...; pass it as --build
    /opt/efgold/bin/python scripts/check_full_unet.py [--build build] [--threads N]
        [--models tiny,tiny-lcm,sd15] [--sizes 256,512] [--keep]
The ref kernels are slow (SD-1.5 at 512x512 takes many minutes on 2 cores). Exit
status 1 if any run exceeds NMSE 1e-6.
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

SD_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
SD_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
COMMON = dict(sample_size=64, in_channels=4, out_channels=4, act_fn="silu", norm_num_groups=32, norm_eps=1e-5,
              flip_sin_to_cos=True, freq_shift=0, attention_head_dim=8, cross_attention_dim=768,
              center_input_sample=False, downsample_padding=1, mid_block_scale_factor=1, use_linear_projection=False,
              upcast_attention=False, dual_cross_attention=False, only_cross_attention=False)
MODELS = {
    "tiny": (dict(COMMON, block_out_channels=[320, 640, 1280], layers_per_block=1, down_block_types=SD_DOWN[:3],
                  up_block_types=SD_UP[1:], mid_block_type=None), 323_384_964),
    "tiny-lcm": (dict(COMMON, block_out_channels=[320, 640, 1280], layers_per_block=1, down_block_types=SD_DOWN[:3],
                      up_block_types=SD_UP[1:], mid_block_type=None, time_cond_proj_dim=256), 323_466_884),
    "sd15": (dict(COMMON, block_out_channels=[320, 640, 1280, 1280], layers_per_block=2, down_block_types=SD_DOWN,
                  up_block_types=SD_UP, mid_block_type="UNetMidBlock2DCrossAttn"), 859_520_964),
}


def build_model(cfg, seed):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    model = UNet2DConditionModel(**cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.02 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:   # GroupNorm / LayerNorm scale
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def run_driver(driver, unet_dir, inputs, out_file, threads):
    """Runs the C forward; returns (info dict, peak RSS in KiB or None)."""
    cmd = [driver, unet_dir, "--inputs", inputs, "--out", out_file, "--threads", str(threads)]
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if timer:
        cmd = [timer, "-v"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"unet_forward failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("params=")][0]
    info = dict(kv.split("=") for kv in line.split())
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    rss = int(m.group(1)) if m else (int(info["hwm_kib"]) if int(info["hwm_kib"]) > 0 else None)
    return info, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding libedgefusion.a (default: build)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all CPUs)")
    ap.add_argument("--models", default="tiny,tiny-lcm,sd15")
    ap.add_argument("--sizes", default="256,512", help="image sizes (latent = size / 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    from safetensors.torch import save_file

    torch.set_num_threads(os.cpu_count() or 1)
    tmp = tempfile.mkdtemp(prefix="ef_full_unet_")
    bad = False
    try:
        driver = os.path.join(tmp, "unet_forward")
        compile_driver(args.build, "unet_forward.c", driver)
        for name in args.models.split(","):
            cfg, want_params = MODELS[name]
            model = build_model(cfg, args.seed)
            n_params = sum(p.numel() for p in model.parameters())
            print(f"{name}: diffusers UNet2DConditionModel, {n_params:,} parameters", flush=True)
            assert n_params == want_params, (n_params, want_params)
            unet_dir = os.path.join(tmp, name, "unet")
            model.save_pretrained(unet_dir, safe_serialization=True)
            for size in map(int, args.sizes.split(",")):
                lat = size // 8
                for timestep in ((999.0, 500.0) if size <= 256 else (999.0,)):
                    g = torch.Generator().manual_seed(args.seed + size + int(timestep))
                    inp = {
                        "sample": torch.randn((4, lat, lat), generator=g),
                        "timestep": torch.tensor([timestep]),
                        "encoder_hidden_states": torch.randn((77, 768), generator=g),
                    }
                    if cfg.get("time_cond_proj_dim"):
                        inp["timestep_cond"] = torch.randn((cfg["time_cond_proj_dim"],), generator=g)
                    in_file, out_file = os.path.join(tmp, "inputs.safetensors"), os.path.join(tmp, "out.f32")
                    save_file({k: v.contiguous() for k, v in inp.items()}, in_file)
                    t0 = time.time()
                    with torch.no_grad():
                        want = model(inp["sample"][None], inp["timestep"], encoder_hidden_states=inp["encoder_hidden_states"][None],
                                     timestep_cond=inp["timestep_cond"][None] if "timestep_cond" in inp else None).sample[0]
                    t_torch = time.time() - t0
                    info, rss = run_driver(driver, unet_dir, in_file, out_file, args.threads)
                    assert int(info["params"]) == want_params, info
                    got = np.fromfile(out_file, dtype=np.float32).reshape(want.shape)
                    w64 = want.numpy().astype(np.float64)
                    d = got.astype(np.float64) - w64
                    max_abs = np.abs(d).max()
                    nmse = (d ** 2).sum() / (w64 ** 2).sum()
                    fail = not (nmse <= 1e-6)
                    bad |= fail
                    print(f"  {size}x{size} (latent {lat}) t={timestep:g}: params {int(info['params']):,}  "
                          f"max_abs {max_abs:.3g}  nmse {nmse:.3g}  |out| max {np.abs(w64).max():.3g}  "
                          f"C {float(info['forward_s']):.1f} s/step on {info['threads']} threads ({info['kernels']}), "
                          f"load {float(info['load_s']):.1f} s, activations {int(info['activation_bytes']) / 2**20:.1f} MiB, "
                          f"peak RSS {rss / 1024 if rss else float('nan'):.0f} MiB; torch {t_torch:.1f} s"
                          f"{'  FAIL' if fail else ''}", flush=True)
            del model
            if not args.keep:
                shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
        sys.exit(1 if bad else 0)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
