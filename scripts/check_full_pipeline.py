"""Full-size end-to-end check against diffusers (NOT run by CI): same seed, same image.

Builds a random-weight EdgeFusion-shaped pipeline at full size -- the SD-1.x CLIP text
encoder (123,060,480 params), a BK-SDM-Tiny UNet with the LCM guidance embedding
(time_cond_proj_dim 256: 323,466,884 params), the SD VAE (83,653,863 params) and
LCMScheduler -- saves it as a diffusers folder, then generates one 512x512 image with
diffusers' LatentConsistencyModelPipeline (CPU, torch.Generator("cpu").manual_seed)
and with `build/edgefusion` from the same folder, and prints the max pixel difference.
With --taesd it also builds a random TAESD and decodes with it on both sides.

Usage, from the repo root (needs ~2.5 GB of disk in $TMPDIR and ~8 GB of RAM; the
reference kernels take minutes at 512x512):
    make
    /opt/efgold/bin/python scripts/check_full_pipeline.py [--steps 2] [--size 512] [--taesd] [--keep]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BK_TINY = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=1, mid_block_type=None,
    block_out_channels=[320, 640, 1280], down_block_types=["CrossAttnDownBlock2D"] * 3,
    up_block_types=["CrossAttnUpBlock2D"] * 3, attention_head_dim=8, cross_attention_dim=768,
    time_cond_proj_dim=256,
)
SD_VAE = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[128, 256, 512, 512],
    layers_per_block=2, latent_channels=4, norm_num_groups=32, sample_size=512, scaling_factor=0.18215,
)
LCM_SCHED = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", original_inference_steps=50,
    set_alpha_to_one=True, steps_offset=1, timestep_scaling=10.0, timestep_spacing="leading",
)
PROMPT = "a golden retriever on the beach, sunset, highly detailed"


def build(folder, seed, taesd):
    from check_full_clip import build_model, make_tokenizer, save_text_encoder
    from diffusers import AutoencoderKL, AutoencoderTiny, LCMScheduler, UNet2DConditionModel

    os.makedirs(folder)
    make_tokenizer(os.path.join(folder, "tokenizer"))
    save_text_encoder(build_model(seed), os.path.join(folder, "text_encoder"))
    torch.manual_seed(seed + 10)
    unet = UNet2DConditionModel(**BK_TINY)
    print(f"unet: {sum(p.numel() for p in unet.parameters()):,} params")
    unet.save_pretrained(os.path.join(folder, "unet"))
    del unet
    vae = AutoencoderKL(**SD_VAE)
    print(f"vae: {sum(p.numel() for p in vae.parameters()):,} params")
    vae.save_pretrained(os.path.join(folder, "vae"))
    del vae
    LCMScheduler(**LCM_SCHED).save_pretrained(os.path.join(folder, "scheduler"))
    index = {"_class_name": "LatentConsistencyModelPipeline", "_diffusers_version": "0.42.1",
             "scheduler": ["diffusers", "LCMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "safety_checker": [None, None],
             "feature_extractor": [None, None], "requires_safety_checker": False}
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    if taesd:
        tiny = AutoencoderTiny()
        print(f"taesd: {sum(p.numel() for p in tiny.decoder.parameters()):,} decoder params")
        tiny.save_pretrained(os.path.join(folder, "taesd"))


def run_diffusers(folder, args):
    from diffusers import AutoencoderTiny, LatentConsistencyModelPipeline

    pipe = LatentConsistencyModelPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    if args.taesd:
        pipe.vae = AutoencoderTiny.from_pretrained(os.path.join(folder, "taesd"))
    pipe.set_progress_bar_config(disable=True)
    torch.set_num_threads(max(1, args.threads or os.cpu_count()))
    t0 = time.time()
    out = pipe(PROMPT, num_inference_steps=args.steps, guidance_scale=8.5, height=args.size, width=args.size,
               generator=torch.Generator("cpu").manual_seed(args.seed), output_type="np").images[0]
    print(f"diffusers: {time.time() - t0:.1f} s")
    return (out * 255).round().astype(np.uint8)


def run_edgefusion(folder, args, png):
    from PIL import Image

    cmd = [os.path.join(ROOT, args.build, "edgefusion"), "-m", folder, "-p", PROMPT, "-s", str(args.seed),
           "--steps", str(args.steps), "--cfg-scale", "8.5", "-W", str(args.size), "-H", str(args.size),
           "-t", str(args.threads), "-o", png]
    if args.taesd:
        cmd += ["--taesd", os.path.join(folder, "taesd")]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    print(f"edgefusion: {time.time() - t0:.1f} s")
    return np.asarray(Image.open(png).convert("RGB"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--taesd", action="store_true", help="decode with a random TAESD instead of the SD VAE")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ef_full_pipe_")
    folder = os.path.join(tmp, "pipe")
    try:
        build(folder, args.seed, args.taesd)
        ref = run_diffusers(folder, args)
        got = run_edgefusion(folder, args, os.path.join(tmp, "edgefusion.png"))
        d = np.abs(ref.astype(int) - got.astype(int))
        print(f"{args.size}x{args.size}, {args.steps} LCM steps, seed {args.seed}, "
              f"{'TAESD' if args.taesd else 'SD VAE'}: max pixel diff {d.max()}/255, "
              f"mean {d.mean():.4f}, {np.count_nonzero(d)} of {d.size} values differ")
        return 0 if d.max() <= 2 else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
