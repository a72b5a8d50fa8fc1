#!/usr/bin/env python3
"""Regenerates every golden fixture under tests/fixtures (run by `make golden`).

Tooling only: `make test` reads the committed outputs and never runs Python. Needs the
pinned packages of scripts/requirements-golden.txt:
    python3 -m venv /opt/efgold && /opt/efgold/bin/pip install -r scripts/requirements-golden.txt
    /opt/efgold/bin/python scripts/gen_golden.py [module ...]
Modules (scripts/golden/*.py), run in this order unless named:
    tokenizer   real CLIP tokenizer folder + tokens.json (ids from transformers CLIPTokenizer)
    clip_text   tiny random CLIPTextModel folders + reference hidden states
    rng         torch.randn draws for several seeds and shapes
    sched       scheduler timesteps, sigmas and step outputs for every scheduler
    unet        tiny random UNet2DConditionModel variants + per-block references
    vae         tiny AutoencoderKL / AutoencoderTiny (+ single-file TAESD) + references
    pipeline    the bundled tiny-pipe / tiny-sd pipelines and end-to-end images
Every fixture file carries format_version 1 (JSON field or safetensors __metadata__).
"""
import importlib
import os
import sys

ORDER = ["tokenizer", "clip_text", "rng", "sched", "unet", "vae", "pipeline"]


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "golden"))
    names = argv[1:] or ORDER
    for name in names:
        if name not in ORDER:
            sys.exit(f"gen_golden: unknown module '{name}' (have: {', '.join(ORDER)})")
        print(f"== {name}", flush=True)
        importlib.import_module(name).main()


if __name__ == "__main__":
    main(sys.argv)
