"""Writes the tiny CLIP text-encoder fixtures and their reference outputs.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/clip_text.py
Deterministic (seeded); the output is committed, `make test` never runs this.

  tests/fixtures/tiny-pipe/text_encoder/{config.json, model.safetensors}
      random-weight CLIPTextModel (vocab 49408 so it works with the real CLIP tokenizer,
      hidden 32, intermediate 37, 2 layers, 4 heads, 77 positions, quick_gelu), fp32,
      written by transformers' save_pretrained with the "text_model." prefix of real
      SD checkpoints (see save_hub_layout).
  tests/fixtures/tiny-pipe/text_encoder_reference.safetensors
  tests/fixtures/tiny-clip-gelu-fp16/text_encoder/{config.json, model.fp16.safetensors}
      hidden_act "gelu", 3 layers, vocab 1000, 40 positions, saved in fp16 as diffusers'
      "fp16" variant, in transformers 5's own layout (no "text_model." prefix).
  tests/fixtures/tiny-clip-gelu-fp16/text_encoder_reference.safetensors

Reference files: for each case N, "caseN.ids" I32 (T,), "caseN.last_hidden_state" F32
(T, D) and "caseN.clip_skipK" F32 (T, D) for 2 <= K <= n_layers (hidden state after
layer n_layers-(K-1), then the final LayerNorm: diffusers' clip_skip=K-1);
__metadata__ {"format_version": "1"}. The reference is the fp32 output of transformers
(for the fp16 fixture: fp32 compute on the fp16-rounded weights, which is what the C
engine does after converting at load). A float64 run of the same model is compared
and its max abs difference printed as a sanity check.
"""
import json
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
BOS, EOS = 49406, 49407


def make_model(seed, **cfg):
    """A CLIPTextModel with every parameter re-randomised (LayerNorms and biases too),
    at scales that keep activations O(1) and attention far from uniform."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(**cfg)
    model = CLIPTextModel(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "layer_norm" in name and name.endswith("weight"):
                v = 1.0 + 0.2 * r
            elif name.endswith("bias"):
                v = 0.1 * r
            elif "embedding" in name:
                v = 0.5 * r
            else:  # Linear weight (out, in)
                v = r * (1.5 / p.shape[1] ** 0.5)
            p.copy_(v.to(p.dtype))
    return model


def run(model, ids):
    """last_hidden_state and {K: clip-skip-K output} for one id sequence (T,)."""
    n_layers = model.config.num_hidden_layers
    with torch.no_grad():
        x = torch.tensor([ids], dtype=torch.long)
        out = model(input_ids=x, output_hidden_states=True)
        hs = out.hidden_states
        assert len(hs) == n_layers + 1, len(hs)
        # hidden_states[-1] is the last layer before the final LayerNorm
        assert torch.allclose(model.final_layer_norm(hs[-1]), out.last_hidden_state)
        skips = {}
        for k in range(2, n_layers + 1):
            skips[k] = model.final_layer_norm(hs[-k])[0]  # diffusers: hs[-(clip_skip + 1)]
    return out.last_hidden_state[0], skips


def write_reference(model, cases, path):
    model64 = make_copy_f64(model)
    tensors = {}
    worst = 0.0
    for i, ids in enumerate(cases):
        last, skips = run(model, ids)
        last64, skips64 = run(model64, ids)
        worst = max(worst, (last.double() - last64).abs().max().item())
        tensors[f"case{i}.ids"] = torch.tensor(ids, dtype=torch.int32)
        tensors[f"case{i}.last_hidden_state"] = last.float().contiguous()
        for k, v in skips.items():
            worst = max(worst, (v.double() - skips64[k]).abs().max().item())
            tensors[f"case{i}.clip_skip{k}"] = v.float().contiguous()
    save_file(tensors, path, metadata={"format_version": "1"})
    print(f"{os.path.relpath(path, ROOT)}: {len(cases)} cases; fp32 vs fp64 max abs {worst:.3g}")


def make_copy_f64(model):
    import copy

    return copy.deepcopy(model).double()


def check_saved(model, folder, variant=None):
    """Reload what save_pretrained wrote and make sure it is the model we ran."""
    from transformers import CLIPTextModel

    back = CLIPTextModel.from_pretrained(folder, variant=variant, dtype=torch.float32).eval()
    a, b = model.state_dict(), back.state_dict()
    for k in a:
        assert torch.equal(a[k].float(), b[k].float()), k


def save_hub_layout(model, folder):
    """save_pretrained with the "text_model." tensor prefix that every real SD
    text_encoder has. transformers 5 writes a freshly built CLIPTextModel without it
    and restores it only for a model it loaded from that layout, so: save, add the
    prefix, load, and let transformers write the final file."""
    import tempfile

    from safetensors.torch import load_file
    from transformers import CLIPTextModel

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        f = os.path.join(tmp, "model.safetensors")
        sd = load_file(f)
        save_file({"text_model." + k: v for k, v in sd.items()}, f, metadata={"format": "pt"})
        CLIPTextModel.from_pretrained(tmp, dtype=torch.float32).save_pretrained(folder)
    from safetensors import safe_open

    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        assert all(k.startswith("text_model.") for k in f.keys())


def tiny_pipe():
    te = os.path.join(FIX, "tiny-pipe", "text_encoder")
    os.makedirs(te, exist_ok=True)
    model = make_model(
        1234, vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=1)
    save_hub_layout(model, te)
    check_saved(model, te)
    g = torch.Generator().manual_seed(99)
    rand = lambda n, hi: torch.randint(0, hi, (n,), generator=g).tolist()  # noqa: E731
    cases = [
        # "a photo of a cat" as CLIP tokenizes it, padded with EOS to 77 (SD 1.x)
        [BOS, 320, 1125, 539, 320, 2368, EOS] + [EOS] * 70,
        # 77 random ids, BOS first, EOS last: no padding
        [BOS] + rand(75, 49406) + [EOS],
        # a short unpadded sequence (T < max_position_embeddings)
        [BOS, 0, 49405, 12, EOS],
        # the id range edges, then padding
        [BOS, 0, 1, 49405, 49406, 49407, 0] + rand(10, 49408) + [EOS] * 60,
    ]
    write_reference(model, cases, os.path.join(FIX, "tiny-pipe", "text_encoder_reference.safetensors"))


def tiny_gelu_fp16():
    base = os.path.join(FIX, "tiny-clip-gelu-fp16")
    te = os.path.join(base, "text_encoder")
    os.makedirs(te, exist_ok=True)
    model = make_model(
        777, vocab_size=1000, hidden_size=24, intermediate_size=40, num_hidden_layers=3,
        num_attention_heads=3, max_position_embeddings=40, hidden_act="gelu", layer_norm_eps=1e-5,
        bos_token_id=998, eos_token_id=999, pad_token_id=999)
    model = model.half()
    model.save_pretrained(te, variant="fp16")
    names = sorted(os.listdir(te))
    assert names == ["config.json", "model.fp16.safetensors"], names
    model = model.float()   # fp32 compute on the fp16 weights, as the engine does
    check_saved(model, te, variant="fp16")
    g = torch.Generator().manual_seed(7)
    cases = [
        [998] + torch.randint(0, 998, (38,), generator=g).tolist() + [999],   # full 40
        [998, 5, 17, 999] + [999] * 36,                                       # padded
        [998, 0, 997, 999],                                                    # short
    ]
    write_reference(model, cases, os.path.join(base, "text_encoder_reference.safetensors"))


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    tiny_pipe()
    tiny_gelu_fp16()
    for d in ("tiny-pipe/text_encoder", "tiny-clip-gelu-fp16/text_encoder"):
        for sub in (os.path.join(FIX, d), os.path.dirname(os.path.join(FIX, d))):
            for name in os.listdir(sub):   # safetensors writes 0600; fixtures are plain 0644
                if os.path.isfile(os.path.join(sub, name)):
                    os.chmod(os.path.join(sub, name), 0o644)
        with open(os.path.join(FIX, d, "config.json")) as f:
            cfg = json.load(f)
        print(d, {k: cfg[k] for k in ("hidden_act", "hidden_size", "num_hidden_layers")})


if __name__ == "__main__":
    main()
