"""Writes the tiny UNet2DConditionModel fixtures and their per-block reference outputs.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/unet.py
Deterministic (seeded); the output is committed, `make test` never runs this.

For each variant V below:
  tests/fixtures/unet-V/unet/{config.json, diffusion_pytorch_model.safetensors}
      a random-weight UNet2DConditionModel written by diffusers' save_pretrained (fp32).
      Every parameter is re-randomised (GroupNorm/LayerNorm affines and biases too) so
      no block is an identity and attention is far from uniform.
  tests/fixtures/unet-V/reference.safetensors
      inputs:  "sample" (in_channels, h, w), "timestep" (1,), "encoder_hidden_states"
               (T, cross_attention_dim), "timestep_cond" (time_cond_proj_dim,) when used;
      outputs: "conv_in", "down_blocks.i" (each down block's hidden state after its
               downsampler), "mid_block" (when present), "up_blocks.i", and "out" (the
               final UNet output), all F32 without the batch dimension, captured with
               forward hooks; __metadata__ {"format_version": "1", "variant": V,
               "fp64_max_abs": max |fp32 - fp64| of the final output (the noise floor)}.

Variants (tiny channel counts, the block structure of the real models):
  sd15        4 stages (3x CrossAttnDownBlock2D + DownBlock2D), 2 layers, mid block
  bk-base     sd15 with layers_per_block 1
  bk-small    bk-base without mid block
  bk-tiny     3 stages, all cross-attention, layers_per_block 1, no mid block
  *-lcm       each of the above with time_cond_proj_dim (LCM's guidance w-embedding), at an
              8x8 latent (so the 4-stage ones reach 1x1 at the bottom)
  sd2         SD-2 style: use_linear_projection, per-stage head counts (asymmetric, so the
              reversed order of the up path is exercised), cross_attention_dim 1024,
              upcast_attention true, layers_per_block 1
  misc        supported but unusual options: non-square 16x8 latent, 9 input and 3 output
              channels, DownBlock2D/UpBlock2D in the middle, transformer_layers_per_block 2,
              flip_sin_to_cos false, freq_shift 1, norm_eps 1e-6, a fractional timestep

Token downsampling (ToDo, the engine's ef_unet_set_kv_downsample), for bk-tiny and misc:
  tests/fixtures/unet-V/reference-kv-down2.safetensors
      "out": the same model and inputs, with every self-attention of the top level (the
      latent's own size) taking its keys and values from the hidden states averaged over
      2x2 windows (an attention processor passing them as encoder_hidden_states; queries
      from all tokens); __metadata__ {"format_version": "1", "variant": V, "factor": "2"}.
"""
import copy
import json
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")

SD_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
SD_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]

COMMON = dict(in_channels=4, out_channels=4, norm_num_groups=4, cross_attention_dim=16, attention_head_dim=2,
              flip_sin_to_cos=True, freq_shift=0, act_fn="silu", norm_eps=1e-5)

SD15 = dict(COMMON, block_out_channels=[8, 8, 16, 16], down_block_types=SD_DOWN, up_block_types=SD_UP,
            layers_per_block=2, mid_block_type="UNetMidBlock2DCrossAttn", sample_size=16)
BK_BASE = dict(SD15, layers_per_block=1)
BK_SMALL = dict(BK_BASE, mid_block_type=None)
BK_TINY = dict(COMMON, block_out_channels=[8, 8, 16], down_block_types=SD_DOWN[:3], up_block_types=SD_UP[1:],
               layers_per_block=1, mid_block_type=None, sample_size=16)
SD2 = dict(COMMON, block_out_channels=[8, 8, 8, 8], down_block_types=SD_DOWN, up_block_types=SD_UP,
           layers_per_block=1, mid_block_type="UNetMidBlock2DCrossAttn", attention_head_dim=[2, 1, 4, 2],
           cross_attention_dim=1024, use_linear_projection=True, upcast_attention=True, sample_size=16)
MISC = dict(COMMON, in_channels=9, out_channels=3, block_out_channels=[8, 12, 16],
            down_block_types=["CrossAttnDownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D"],
            layers_per_block=1, transformer_layers_per_block=2, mid_block_type="UNetMidBlock2DCrossAttn",
            flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, sample_size=[16, 8])

LCM_W_DIM = 16

# name: (config, latent h, w, text tokens, timestep, seed)
VARIANTS = {
    "sd15": (SD15, 16, 16, 77, 999.0, 100),
    "bk-base": (BK_BASE, 16, 16, 77, 801.0, 200),
    "bk-small": (BK_SMALL, 16, 16, 20, 500.0, 300),
    "bk-tiny": (BK_TINY, 16, 16, 77, 1.0, 400),
    "sd2": (SD2, 16, 16, 12, 640.0, 500),
    "misc": (MISC, 16, 8, 7, 333.5, 600),
}
for _name in ("sd15", "bk-base", "bk-small", "bk-tiny"):
    _cfg, _h, _w, _t, _ts, _seed = VARIANTS[_name]
    VARIANTS[_name + "-lcm"] = (dict(_cfg, time_cond_proj_dim=LCM_W_DIM), 8, 8, _t, 759.0, _seed + 50)


def make_model(cfg, seed):
    """A UNet2DConditionModel with every parameter re-randomised at scales that keep
    activations O(1): weights N(0, 1/fan_in), biases N(0, 0.1^2), norm scales 1 + N(0, 0.2^2)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    model = UNet2DConditionModel(**cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.ndim == 1 and name.endswith("weight"):      # GroupNorm / LayerNorm scale
                v = 1.0 + 0.2 * r
            elif name.endswith("bias"):
                v = 0.1 * r
            else:                                            # Linear (out, in) or Conv (out, in, kh, kw)
                fan_in = p[0].numel()
                v = r / fan_in ** 0.5
            p.copy_(v.to(p.dtype))
    return model


def run(model, inputs):
    """Final output and every block's output for one input set (batch 1)."""
    captured = {}

    def hook(name, first):
        def fn(_module, _args, out):
            captured[name] = (out[0] if first else out)[0].detach().clone()
        return fn

    handles = [model.conv_in.register_forward_hook(hook("conv_in", False))]
    for i, b in enumerate(model.down_blocks):
        handles.append(b.register_forward_hook(hook(f"down_blocks.{i}", True)))
    if model.mid_block is not None:
        handles.append(model.mid_block.register_forward_hook(hook("mid_block", False)))
    for i, b in enumerate(model.up_blocks):
        handles.append(b.register_forward_hook(hook(f"up_blocks.{i}", False)))
    try:
        with torch.no_grad():
            out = model(inputs["sample"][None], inputs["timestep"],
                        encoder_hidden_states=inputs["encoder_hidden_states"][None],
                        timestep_cond=inputs["timestep_cond"][None] if "timestep_cond" in inputs else None).sample
    finally:
        for h in handles:
            h.remove()
    captured["out"] = out[0]
    return captured


def check_saved(model, folder):
    """Reload what save_pretrained wrote and make sure it is the model we ran."""
    from diffusers import UNet2DConditionModel

    back = UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32)
    a, b = model.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def write_variant(name, cfg, h, w, n_tokens, timestep, seed):
    base = os.path.join(FIX, "unet-" + name)
    folder = os.path.join(base, "unet")
    os.makedirs(folder, exist_ok=True)
    model = make_model(cfg, seed)
    model.save_pretrained(folder, safe_serialization=True)
    check_saved(model, folder)

    g = torch.Generator().manual_seed(seed + 2)
    inputs = {
        "sample": torch.randn((cfg["in_channels"], h, w), generator=g),
        "timestep": torch.tensor([timestep], dtype=torch.float32),
        "encoder_hidden_states": torch.randn((n_tokens, cfg["cross_attention_dim"]), generator=g),
    }
    if cfg.get("time_cond_proj_dim"):
        inputs["timestep_cond"] = torch.randn((cfg["time_cond_proj_dim"],), generator=g)
    got = run(model, inputs)
    got64 = run(copy.deepcopy(model).double(), {k: v.double() for k, v in inputs.items()})
    fp64_max_abs = (got["out"].double() - got64["out"]).abs().max().item()

    tensors = {k: v.float().contiguous() for k, v in inputs.items()}
    tensors.update({k: v.float().contiguous() for k, v in got.items()})
    path = os.path.join(base, "reference.safetensors")
    save_file(tensors, path, metadata={"format_version": "1", "variant": name, "fp64_max_abs": f"{fp64_max_abs:.3g}"})
    for d in (folder, base):   # safetensors writes 0600; fixtures are plain 0644
        for f in os.listdir(d):
            if os.path.isfile(os.path.join(d, f)):
                os.chmod(os.path.join(d, f), 0o644)
    n_params = sum(p.numel() for p in model.parameters())
    size = sum(os.path.getsize(os.path.join(d, f)) for d in (folder, base) for f in os.listdir(d)
               if os.path.isfile(os.path.join(d, f)))
    print(f"unet-{name}: {n_params:,} params, latent {h}x{w}, {n_tokens} tokens, t={timestep}; "
          f"|out| max {got['out'].abs().max().item():.3g}; fp32 vs fp64 max abs {fp64_max_abs:.3g}; {size / 1024:.0f} KiB")
    return size


class PooledKVProcessor:
    """Self-attention at an h x w token grid with keys/values from factor x factor means."""

    def __init__(self, h, w, factor):
        from diffusers.models.attention_processor import AttnProcessor
        self.h, self.w, self.factor, self.inner = h, w, factor, AttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kw):
        if encoder_hidden_states is None and hidden_states.shape[1] == self.h * self.w:
            b, s, c = hidden_states.shape
            grid = hidden_states.transpose(1, 2).reshape(b, c, self.h, self.w)
            pooled = torch.nn.functional.avg_pool2d(grid, self.factor, ceil_mode=True)
            encoder_hidden_states = pooled.flatten(2).transpose(1, 2)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def write_kv_downsample(name, factor):
    """reference-kv-down<factor>.safetensors of an existing fixture (its model and inputs)."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import load_file

    base = os.path.join(FIX, "unet-" + name)
    model = UNet2DConditionModel.from_pretrained(os.path.join(base, "unet"), torch_dtype=torch.float32)
    inputs = {k: v for k, v in load_file(os.path.join(base, "reference.safetensors")).items()
              if k in ("sample", "timestep", "encoder_hidden_states", "timestep_cond")}
    h, w = inputs["sample"].shape[1:]
    exact = run(model, inputs)["out"]
    model.set_attn_processor(PooledKVProcessor(h, w, factor))
    out = run(model, inputs)["out"]
    path = os.path.join(base, f"reference-kv-down{factor}.safetensors")
    save_file({"out": out.float().contiguous()}, path,
              metadata={"format_version": "1", "variant": name, "factor": str(factor)})
    os.chmod(path, 0o644)
    rel = ((out - exact).norm() / exact.norm()).item()
    print(f"unet-{name} kv downsample {factor}: |out - exact| / |exact| = {rel:.3g}")


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    total = 0
    for name, (cfg, h, w, n_tokens, timestep, seed) in VARIANTS.items():
        total += write_variant(name, cfg, h, w, n_tokens, timestep, seed)
    for name in ("bk-tiny", "misc"):
        write_kv_downsample(name, 2)
    print(f"total {total / 1024:.0f} KiB")
    with open(os.path.join(FIX, "unet-sd15", "unet", "config.json")) as f:
        print("sd15 config keys:", ", ".join(sorted(json.load(f))))


if __name__ == "__main__":
    main()
