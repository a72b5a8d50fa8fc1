"""Full-size check of the C CLIP text encoder against transformers (NOT run by CI).

Builds a random-weight CLIPTextModel with the SD 1.x text-encoder config
(openai/clip-vit-large-patch14: vocab 49408, hidden 768, intermediate 3072, 12 layers,
12 heads, 77 positions, quick_gelu, eps 1e-5; 123,060,480 parameters), saves it with
the CLIP tokenizer into a temporary pipeline-like folder, compiles
tools/check/clip_encode.c against the engine library, encodes a few prompts (ids from
transformers' CLIPTokenizer) with both, and prints max abs error and NMSE per prompt.

Usage, from the repo root (needs ~1.5 GB of disk in $TMPDIR and a few GB of RAM):
    make build/libedgefusion.a        # or any BUILD=...; pass it as --build
    /opt/efgold/bin/python scripts/check_full_clip.py [--build build] [--threads N] [--keep]

The tokenizer comes from tests/fixtures/clip-tokenizer when that exists; otherwise it
is rebuilt from open_clip's copy of the CLIP BPE file (the same vocab and merges).
Expect max abs ~1e-5..1e-4 and NMSE ~1e-12..1e-10. Exit status 1 if a prompt exceeds
max abs 1e-3 or NMSE 1e-6.
"""
import argparse
import gzip
import json
import os
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
TOKENIZER_FIXTURE = os.path.join(ROOT, "tests", "fixtures", "clip-tokenizer")
N_PARAMS_SD1 = 123_060_480

PROMPTS = [
    "a photo of a cat",
    "A watercolor painting of a fox in a snowy forest, highly detailed, trending on artstation",
    "",
    "an astronaut riding a horse on the moon, 4k, cinematic lighting; (masterpiece:1.2) ### ü ñ 日本",
    " ".join(["a very long prompt that will be truncated"] * 20),
]


def build_model(seed):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                         num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
                         projection_dim=768)
    model = CLIPTextModel(cfg).eval()
    # transformers' default init leaves biases at 0 and LayerNorms at (1, 0); nudge them so
    # every parameter takes part, at roughly the scale of trained weights.
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.02 * torch.randn(p.shape, generator=g))
            elif "layer_norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def save_text_encoder(model, folder):
    """save_pretrained with the "text_model." prefix real SD checkpoints have (transformers
    5 writes a freshly built model without it; it restores it after a load)."""
    from safetensors.torch import load_file, save_file
    from transformers import CLIPTextModel

    with tempfile.TemporaryDirectory(dir=os.path.dirname(folder)) as tmp:
        model.save_pretrained(tmp)
        f = os.path.join(tmp, "model.safetensors")
        sd = load_file(f)
        save_file({"text_model." + k: v for k, v in sd.items()}, f, metadata={"format": "pt"})
        CLIPTextModel.from_pretrained(tmp, dtype=torch.float32).save_pretrained(folder)


def make_tokenizer(folder):
    from transformers import CLIPTokenizer

    if os.path.isdir(TOKENIZER_FIXTURE):
        shutil.copytree(TOKENIZER_FIXTURE, folder)
        return CLIPTokenizer.from_pretrained(folder), "tests/fixtures/clip-tokenizer"
    # CLIP's vocab is derived from its merges file (as in CLIP's simple_tokenizer.py).
    import open_clip.tokenizer as oct

    merges = gzip.open(oct.default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    bs = list(oct.bytes_to_unicode().values())
    vocab = bs + [v + "</w>" for v in bs] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(folder)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"),
                        pad_token="<|endoftext|>")
    tok.save_pretrained(folder)
    return tok, "rebuilt from open_clip's bpe_simple_vocab_16e6.txt.gz"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding libedgefusion.a (default: build)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all CPUs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    model = build_model(args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"CLIPTextModel (SD 1.x config): {n_params:,} parameters")
    assert n_params == N_PARAMS_SD1, n_params

    tmp = tempfile.mkdtemp(prefix="ef_full_clip_")
    try:
        te = os.path.join(tmp, "text_encoder")
        save_text_encoder(model, te)
        tok, tok_src = make_tokenizer(os.path.join(tmp, "tokenizer"))
        print(f"saved to {tmp} (tokenizer: {tok_src})")
        driver = os.path.join(tmp, "clip_encode")
        compile_driver(args.build, "clip_encode.c", driver)

        worst_bad = False
        for i, prompt in enumerate(PROMPTS):
            ids = tok(prompt, padding="max_length", max_length=77, truncation=True).input_ids
            assert len(ids) == 77
            for skip in ((0, 2) if i == 1 else (0,)):
                ids_file, out_file = os.path.join(tmp, "ids.txt"), os.path.join(tmp, "out.f32")
                with open(ids_file, "w") as f:
                    f.write(" ".join(map(str, ids)) + "\n")
                r = subprocess.run([driver, te, ids_file, out_file, str(args.threads), str(skip)],
                                   check=True, capture_output=True, text=True)
                info = dict(kv.split("=") for kv in r.stdout.split())
                assert int(info["params"]) == N_PARAMS_SD1, info
                got = np.fromfile(out_file, dtype=np.float32).reshape(77, 768)
                t0 = time.time()
                with torch.no_grad():
                    o = model(input_ids=torch.tensor([ids]), output_hidden_states=skip >= 2)
                    want = (o.last_hidden_state if skip < 2 else model.final_layer_norm(o.hidden_states[-skip]))[0]
                t_torch = time.time() - t0
                want = want.numpy().astype(np.float64)
                d = got.astype(np.float64) - want
                max_abs = np.abs(d).max()
                nmse = (d ** 2).sum() / (want ** 2).sum()
                bad = not (max_abs <= 1e-3 and nmse <= 1e-6)
                worst_bad |= bad
                n_real = ids.index(49407) + 1 if 49407 in ids else 77
                print(f"prompt {i} ({n_real:2d} real tokens){' clip_skip=2' if skip else ''}: "
                      f"max_abs {max_abs:.3g}  nmse {nmse:.3g}  "
                      f"(C forward {float(info['forward_s']):.2f}s on {info['threads']} threads, {info['kernels']}; "
                      f"torch {t_torch:.2f}s){'  FAIL' if bad else ''}")
        sys.exit(1 if worst_bad else 0)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
