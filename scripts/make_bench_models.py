"""Writes the random-weight benchmark pipeline (NOT run by CI; the output is never committed).

A diffusers folder with the real architectures and configs of the EdgeFusion job, random
weights, fixed seed, fp32 safetensors:
    <out>/bk-sdm-tiny-lcm/            LatentConsistencyModelPipeline
        tokenizer/                    CLIP BPE (copied from tests/fixtures/clip-tokenizer)
        text_encoder/                 CLIP ViT-L/14 text model, SD-1.x config (123,060,480 params)
        unet/                         BK-SDM-Tiny (SD-1.x UNet with blocks removed) with the LCM
                                      w-embedding, time_cond_proj_dim 256 (323,466,884 params)
        vae/                          SD VAE, AutoencoderKL (83,653,863 params)
        scheduler/                    LCMScheduler
        taesd/                        TAESD, AutoencoderTiny (pass it as --taesd; not in model_index.json)
It is the pipeline of scripts/check_full_pipeline.py (imported, not copied), written to a
fixed place so that bench_pipeline and scripts/peers.py time the same weights.

Usage, from the repo root (~2 GB of disk, ~4 GB of RAM, a minute or two):
    /opt/efgold/bin/python scripts/make_bench_models.py [--out build/bench-models] [--seed 42] [--force]
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_full_pipeline import ROOT, build  # noqa: E402

NAME = "bk-sdm-tiny-lcm"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-models"),
                    help="folder to write into (default: build/bench-models)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--force", action="store_true", help="rewrite the pipeline when it exists")
    args = ap.parse_args()
    folder = os.path.join(os.path.abspath(args.out), NAME)
    if os.path.exists(os.path.join(folder, "model_index.json")) and os.path.isdir(os.path.join(folder, "taesd")):
        if not args.force:
            print(f"{folder} exists (--force rewrites it)")
            return 0
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    build(folder, args.seed, taesd=True)
    print(f"wrote {folder} (TAESD: {os.path.join(folder, 'taesd')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
