"""Writes the tiny VAE fixtures (AutoencoderKL and AutoencoderTiny/TAESD) and their
reference outputs from diffusers.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/vae.py
Deterministic (seeded); the output is committed, `make test` never runs this.

  tests/fixtures/vae-kl-tiny/vae/{config.json, diffusion_pytorch_model.safetensors}
      AutoencoderKL, block_out_channels [16, 32, 32] (downscale 4), layers_per_block 1,
      norm_num_groups 8, latent_channels 4, sample_size 32; every parameter random
      (norm affines and biases too), fp32.
  tests/fixtures/vae-kl-tiny/reference.safetensors
  tests/fixtures/taesd-tiny/vae/{config.json, diffusion_pytorch_model.safetensors}
      AutoencoderTiny with 16 channels per stage and the default block counts
      (encoder 1,3,3,3; decoder 3,3,3,1), weights rounded to fp16 values, saved fp32.
  tests/fixtures/taesd-tiny/taesd_{encoder,decoder}.safetensors
      The same weights in madebyollin's taesd.py naming (nn.Sequential indices: the
      encoder's equal diffusers' encoder.layers.N, the decoder's are N+1 because
      taesd.py's Decoder starts with a Clamp module), stored as F16. The script checks
      the mapping by loading them into an nn.Sequential built to taesd.py's layout.
  tests/fixtures/taesd-tiny/reference.safetensors

Reference files (F32 unless noted), __metadata__ {"format_version": "1"}:
  decN.latent (Lc, h, w), decN.image (3, f*h, f*w)   vae.decode(latent).sample
  enc.image (3, H, W) in [-1, 1], enc.mean (Lc, H/f, W/f)    posterior mean / TAESD latents
  enc.noise, enc.sample (KL only)                      mean + std * noise
  tiledN.latent, tiledN.image, tiledN.tiling (I32 [tile, overlap] in latents)
      KL: vae.enable_tiling() with tile_latent_min_size = tile, tile_sample_min_size =
      f*tile, tile_overlap_factor = overlap/tile. TAESD: the same algorithm (diffusers'
      AutoencoderKL.tiled_decode run on the tiny decoder through a shim), not
      AutoencoderTiny's own mask blend.
A float64 run of each case is compared and its max abs difference printed.
"""
import json
import os
import types

import torch
from safetensors.torch import load_file, save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")


def randomize(model, seed, fp16_round=False):
    """Every parameter redrawn: norm scales 1 + 0.2 r, biases 0.1 r, conv/linear weights
    r / sqrt(fan_in), so activations stay O(1) through the residual stacks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if "norm" in name and name.endswith("weight"):
                v = 1.0 + 0.2 * r
            elif name.endswith("bias"):
                v = 0.1 * r
            else:
                fan_in = p[0].numel()
                v = r / fan_in ** 0.5
            if fp16_round:
                v = v.to(torch.float16)
            p.copy_(v.to(p.dtype))
    return model.eval()


def save_reference(path, tensors):
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata={"format_version": "1"})
    print(f"  wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path):,} bytes, {len(tensors)} tensors)")


def report(label, f32, f64):
    d = (f32.double() - f64).abs().max().item()
    print(f"  {label}: shape {tuple(f32.shape)}, |x| max {f32.abs().max().item():.3g}, fp32 vs fp64 max abs {d:.3g}")


def kl_tiled_decode(vae, z, tile, overlap, f):
    vae.enable_tiling()
    vae.tile_latent_min_size = tile
    vae.tile_sample_min_size = f * tile
    vae.tile_overlap_factor = overlap / tile
    try:
        return vae.decode(z).sample
    finally:
        vae.disable_tiling()


def make_kl():
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    cfg = dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3,
               up_block_types=["UpDecoderBlock2D"] * 3, block_out_channels=[16, 32, 32], layers_per_block=1,
               act_fn="silu", latent_channels=4, norm_num_groups=8, sample_size=32)
    vae = randomize(AutoencoderKL(**cfg), seed=1)
    out = os.path.join(FIX, "vae-kl-tiny")
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    n = sum(p.numel() for p in vae.parameters())
    print(f"AutoencoderKL tiny: {n:,} parameters -> {os.path.relpath(out, ROOT)}/vae")
    vae64 = AutoencoderKL(**cfg).double().eval()
    vae64.load_state_dict({k: v.double() for k, v in vae.state_dict().items()})

    f = 4
    g = torch.Generator().manual_seed(2)
    ref = {}
    with torch.no_grad():
        for i, (h, w) in enumerate([(8, 8), (8, 12)]):
            z = torch.randn(1, 4, h, w, generator=g)
            img = vae.decode(z).sample
            report(f"dec{i}", img, vae64.decode(z.double()).sample)
            ref[f"dec{i}.latent"], ref[f"dec{i}.image"] = z[0], img[0]
        x = torch.rand(1, 3, 32, 48, generator=g) * 2 - 1
        dist = vae.encode(x).latent_dist
        noise = torch.randn(dist.mean.shape, generator=g)
        sample = dist.mean + dist.std * noise
        d64 = vae64.encode(x.double()).latent_dist
        report("enc.mean", dist.mean, d64.mean)
        report("enc.sample", sample, d64.mean + d64.std * noise.double())
        ref.update({"enc.image": x[0], "enc.mean": dist.mean[0], "enc.noise": noise[0], "enc.sample": sample[0]})
        for i, ((h, w), (tile, ov)) in enumerate([((20, 18), (8, 2)), ((12, 10), (8, 4))]):
            z = torch.randn(1, 4, h, w, generator=g)
            img = kl_tiled_decode(vae, z, tile, ov, f)
            report(f"tiled{i}", img, kl_tiled_decode(vae64, z.double(), tile, ov, f))
            untiled = vae.decode(z).sample
            print(f"    tiled vs untiled: max abs {(img - untiled).abs().max().item():.3g}")
            ref[f"tiled{i}.latent"], ref[f"tiled{i}.image"] = z[0], img[0]
            ref[f"tiled{i}.tiling"] = torch.tensor([tile, ov], dtype=torch.int32)
    save_reference(os.path.join(out, "reference.safetensors"), ref)


# ---- TAESD ------------------------------------------------------------------------------

def taesd_sequential(kind, C, latent):
    """nn.Sequential with taesd.py's layout (madebyollin/taesd), to prove the names."""
    import torch.nn as nn

    def conv(n_in, n_out, **kw):
        return nn.Conv2d(n_in, n_out, 3, padding=1, **kw)

    class Clamp(nn.Module):
        def forward(self, x):
            return torch.tanh(x / 3) * 3

    class Block(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.conv = nn.Sequential(conv(n, n), nn.ReLU(), conv(n, n), nn.ReLU(), conv(n, n))
            self.skip = nn.Identity()
            self.fuse = nn.ReLU()

        def forward(self, x):
            return self.fuse(self.conv(x) + self.skip(x))

    if kind == "encoder":
        layers = [conv(3, C), Block(C)]
        for _ in range(3):
            layers += [conv(C, C, stride=2, bias=False), Block(C), Block(C), Block(C)]
        layers += [conv(C, latent)]
    else:
        layers = [Clamp(), conv(latent, C), nn.ReLU()]
        for _ in range(3):
            layers += [Block(C), Block(C), Block(C), nn.Upsample(scale_factor=2), conv(C, C, bias=False)]
        layers += [Block(C), conv(C, 3)]
    return nn.Sequential(*layers).eval()


def taesd_tiled_decode(vae, z, tile, overlap, f):
    """diffusers' AutoencoderKL.tiled_decode, verbatim, with the tiny decoder plugged in."""
    from diffusers import AutoencoderKL

    shim = types.SimpleNamespace(tile_latent_min_size=tile, tile_sample_min_size=f * tile,
                                 tile_overlap_factor=overlap / tile,
                                 config=types.SimpleNamespace(use_post_quant_conv=False),
                                 decoder=lambda t: vae.decode(t).sample)
    shim.blend_v = lambda a, b, e: AutoencoderKL.blend_v(shim, a, b, e)
    shim.blend_h = lambda a, b, e: AutoencoderKL.blend_h(shim, a, b, e)
    return AutoencoderKL.tiled_decode(shim, z, return_dict=False)[0]


def make_taesd():
    from diffusers import AutoencoderTiny

    C = 16
    cfg = dict(encoder_block_out_channels=[C] * 4, decoder_block_out_channels=[C] * 4, latent_channels=4)
    vae = randomize(AutoencoderTiny(**cfg), seed=3, fp16_round=True)
    out = os.path.join(FIX, "taesd-tiny")
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    n_enc = sum(p.numel() for p in vae.encoder.parameters())
    n_dec = sum(p.numel() for p in vae.decoder.parameters())
    print(f"AutoencoderTiny tiny: encoder {n_enc:,} + decoder {n_dec:,} parameters -> {os.path.relpath(out, ROOT)}/vae")

    # madebyollin's single files: same tensors, taesd.py's indices, F16
    sd = vae.state_dict()
    enc = {k[len("encoder.layers."):]: v.half() for k, v in sd.items() if k.startswith("encoder.layers.")}
    dec = {}
    for k, v in sd.items():
        if k.startswith("decoder.layers."):
            idx, rest = k[len("decoder.layers."):].split(".", 1)
            dec[f"{int(idx) + 1}.{rest}"] = v.half()
    assert len(enc) + len(dec) == len(sd)
    save_file(enc, os.path.join(out, "taesd_encoder.safetensors"))
    save_file(dec, os.path.join(out, "taesd_decoder.safetensors"))
    seq_enc, seq_dec = taesd_sequential("encoder", C, 4), taesd_sequential("decoder", C, 4)
    seq_enc.load_state_dict({k: v.float() for k, v in load_file(os.path.join(out, "taesd_encoder.safetensors")).items()})
    seq_dec.load_state_dict({k: v.float() for k, v in load_file(os.path.join(out, "taesd_decoder.safetensors")).items()})

    vae64 = AutoencoderTiny(**cfg).double().eval()
    vae64.load_state_dict({k: v.double() for k, v in sd.items()})
    f = 8
    g = torch.Generator().manual_seed(4)
    ref = {}
    with torch.no_grad():
        for i, (h, w) in enumerate([(8, 8), (6, 10)]):
            z = torch.randn(1, 4, h, w, generator=g) * 2.5   # beyond +-3 often: the tanh clamp matters
            img = vae.decode(z).sample
            report(f"dec{i}", img, vae64.decode(z.double()).sample)
            taesd_img = seq_dec(z)
            assert (taesd_img * 2 - 1 - img).abs().max().item() < 1e-5, "taesd.py naming does not reproduce"
            ref[f"dec{i}.latent"], ref[f"dec{i}.image"] = z[0], img[0]
        x = torch.rand(1, 3, 48, 64, generator=g) * 2 - 1
        lat = vae.encode(x).latents
        report("enc.mean", lat, vae64.encode(x.double()).latents)
        assert (seq_enc((x + 1) / 2) - lat).abs().max().item() < 1e-5, "taesd.py naming does not reproduce"
        ref.update({"enc.image": x[0], "enc.mean": lat[0]})
        z = torch.randn(1, 4, 14, 12, generator=g) * 2.5
        tile, ov = 8, 2
        img = taesd_tiled_decode(vae, z, tile, ov, f)
        report("tiled0", img, taesd_tiled_decode(vae64, z.double(), tile, ov, f))
        print(f"    tiled vs untiled: max abs {(img - vae.decode(z).sample).abs().max().item():.3g}")
        ref.update({"tiled0.latent": z[0], "tiled0.image": img[0],
                    "tiled0.tiling": torch.tensor([tile, ov], dtype=torch.int32)})
    save_reference(os.path.join(out, "reference.safetensors"), ref)


def main():
    torch.use_deterministic_algorithms(True)
    make_kl()
    make_taesd()
    total = 0
    for d in ("vae-kl-tiny", "taesd-tiny"):
        for dirpath, _, files in os.walk(os.path.join(FIX, d)):
            total += sum(os.path.getsize(os.path.join(dirpath, x)) for x in files)
    print(f"fixtures total: {total:,} bytes")


if __name__ == "__main__":
    main()
