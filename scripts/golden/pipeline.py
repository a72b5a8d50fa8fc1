"""The bundled random-weight pipelines and their end-to-end references.

Writes two diffusers pipeline folders that share one text encoder, tokenizer and VAE
(links, not copies):
  tests/fixtures/tiny-pipe   EdgeFusion-shaped: a BK-SDM-Tiny-like UNet (no mid block,
                             one R+A pair per down stage) with an LCM w-embedding
                             (time_cond_proj_dim), LCMScheduler, LatentConsistencyModelPipeline.
                             The README's demo runs this folder.
  tests/fixtures/tiny-sd     the same UNet shape without the w-embedding, PNDMScheduler
                             (SD-1.x/BK-SDM default config), StableDiffusionPipeline: the
                             classifier-free-guidance path and every other scheduler.
and tests/fixtures/e2e/reference.safetensors: for each case, diffusers' image
(uint8, HWC, rounded as numpy_to_pil does) and final latents (before decoding), from
the same seed through torch.Generator("cpu"). tests/fixtures/e2e/cases.json lists the
cases (prompt, seed, scheduler, steps, guidance, strength) and
tests/fixtures/e2e/init.png is the img2img input. Weights are random: the images are
noise, which is what makes them a strict test.

The text encoder comes from clip_text.py and the tokenizer from tokenizer.py (run
those first: gen_golden.py does).
"""
import json
import os
import shutil

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
PIPE = os.path.join(FIX, "tiny-pipe")
SD = os.path.join(FIX, "tiny-sd")
E2E = os.path.join(FIX, "e2e")
FORMAT_VERSION = "1"

UNET_CONFIG = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    mid_block_type=None,
    block_out_channels=[32, 64],
    layers_per_block=1,
    attention_head_dim=2,
    cross_attention_dim=32,
    norm_num_groups=8,
)
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[16, 32, 32, 32],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=8,
    sample_size=64,
    scaling_factor=0.18215,
)
PNDM_CONFIG = dict(  # SD-1.x / BK-SDM scheduler_config.json
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
    set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1, trained_betas=None,
)
LCM_CONFIG = dict(  # LCM_Dreamshaper_v7's scheduler_config.json
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
    original_inference_steps=50, prediction_type="epsilon", set_alpha_to_one=True, steps_offset=1,
    timestep_scaling=10.0, timestep_spacing="leading", clip_sample=False,
)

PROMPT = "a watercolor painting of a fox in the snow"
NEGATIVE = "blurry, low quality"


def randomize(module, seed):
    """Seeded random weights everywhere, norms included, so no output is trivial:
    norm scales 1 + 0.1 N(0,1), other weights N(0,1)/sqrt(fan_in), biases 0.1 N(0,1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in module.modules():
            is_norm = isinstance(mod, (torch.nn.GroupNorm, torch.nn.LayerNorm))
            for pname, p in mod.named_parameters(recurse=False):
                noise = torch.randn(p.shape, generator=g)
                if is_norm and pname == "weight":
                    p.copy_(1.0 + 0.1 * noise)
                elif pname == "bias" or p.dim() == 1:
                    p.copy_(0.1 * noise)
                else:
                    p.copy_(noise / p[0].numel() ** 0.5)


def link(dst, target):
    if os.path.islink(dst) or os.path.exists(dst):
        if os.path.islink(dst):
            os.remove(dst)
        else:
            shutil.rmtree(dst)
    os.symlink(target, dst)


def write_index(folder, pipeline_class, scheduler_class):
    import diffusers
    index = {
        "_class_name": pipeline_class,
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "safety_checker": [None, None],
        "requires_safety_checker": False,
        "scheduler": ["diffusers", scheduler_class],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


def build_folders():
    from diffusers import AutoencoderKL, LCMScheduler, PNDMScheduler, UNet2DConditionModel

    for folder in (PIPE, SD):
        os.makedirs(folder, exist_ok=True)
    # tiny-pipe owns the shared parts; tiny-sd links to them.
    link(os.path.join(PIPE, "tokenizer"), os.path.join("..", "clip-tokenizer"))
    for part in ("tokenizer", "text_encoder", "vae"):
        link(os.path.join(SD, part), os.path.join("..", "tiny-pipe", part))

    vae = AutoencoderKL(**VAE_CONFIG)
    randomize(vae, 11)
    vae.save_pretrained(os.path.join(PIPE, "vae"))

    unet_lcm = UNet2DConditionModel(**UNET_CONFIG, time_cond_proj_dim=32)
    randomize(unet_lcm, 12)
    unet_lcm.save_pretrained(os.path.join(PIPE, "unet"))
    LCMScheduler(**LCM_CONFIG).save_pretrained(os.path.join(PIPE, "scheduler"))
    write_index(PIPE, "LatentConsistencyModelPipeline", "LCMScheduler")

    unet = UNet2DConditionModel(**UNET_CONFIG)
    randomize(unet, 13)
    unet.save_pretrained(os.path.join(SD, "unet"))
    PNDMScheduler(**PNDM_CONFIG).save_pretrained(os.path.join(SD, "scheduler"))
    # Real SD-1.x files also carry "clip_sample": false, which PNDM ignores; keep it so
    # the loader sees what users have.
    cfg_path = os.path.join(SD, "scheduler", "scheduler_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["clip_sample"] = False
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_index(SD, "StableDiffusionPipeline", "PNDMScheduler")


def init_image():
    """A deterministic 64x64 RGB test picture: gradients plus a disc."""
    from PIL import Image

    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    r = x / 63.0
    g = y / 63.0
    b = ((x - 40) ** 2 + (y - 24) ** 2 < 15 ** 2).astype(np.float32) * 0.8 + 0.1
    img = (np.stack([r, g, b], -1) * 255).round().astype(np.uint8)
    os.makedirs(E2E, exist_ok=True)
    path = os.path.join(E2E, "init.png")
    Image.fromarray(img).save(path)
    return Image.open(path).convert("RGB")


# name, folder, scheduler (class, overrides), steps, guidance, strength (None = txt2img)
CASES = [
    ("lcm_4", "tiny-pipe", ("LCMScheduler", {}), 4, 8.5, None),
    ("lcm_2", "tiny-pipe", ("LCMScheduler", {}), 2, 8.5, None),
    ("lcm_1", "tiny-pipe", ("LCMScheduler", {}), 1, 8.5, None),
    ("lcm_img2img", "tiny-pipe", ("LCMScheduler", {}), 4, 8.5, 0.6),
    ("pndm", "tiny-sd", ("PNDMScheduler", {}), 5, 7.5, None),
    ("pndm_nocfg", "tiny-sd", ("PNDMScheduler", {}), 5, 1.0, None),
    ("ddim", "tiny-sd", ("DDIMScheduler", {}), 5, 7.5, None),
    ("euler", "tiny-sd", ("EulerDiscreteScheduler", {}), 5, 7.5, None),
    ("euler_karras", "tiny-sd", ("EulerDiscreteScheduler", {"use_karras_sigmas": True}), 5, 7.5, None),
    ("euler_a", "tiny-sd", ("EulerAncestralDiscreteScheduler", {}), 5, 7.5, None),
    ("dpmpp_2m", "tiny-sd", ("DPMSolverMultistepScheduler", {}), 5, 7.5, None),
    ("dpmpp_2m_karras", "tiny-sd", ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}), 5, 7.5, None),
    ("ddim_img2img", "tiny-sd", ("DDIMScheduler", {}), 5, 7.5, 0.6),
    ("euler_img2img", "tiny-sd", ("EulerDiscreteScheduler", {}), 5, 7.5, 0.6),
    ("euler_a_img2img", "tiny-sd", ("EulerAncestralDiscreteScheduler", {}), 5, 7.5, 0.6),
    ("dpmpp_2m_img2img", "tiny-sd", ("DPMSolverMultistepScheduler", {}), 5, 7.5, 0.75),
    ("pndm_img2img", "tiny-sd", ("PNDMScheduler", {}), 5, 7.5, 0.6),
]
SEED = 42


def run_cases(image):
    import diffusers
    from diffusers import (LatentConsistencyModelImg2ImgPipeline, LatentConsistencyModelPipeline,
                           StableDiffusionImg2ImgPipeline, StableDiffusionPipeline)

    tensors, cases = {}, []
    for name, folder, (sched_cls, overrides), steps, guidance, strength in CASES:
        path = os.path.join(FIX, folder)
        lcm = folder == "tiny-pipe"
        if strength is None:
            cls = LatentConsistencyModelPipeline if lcm else StableDiffusionPipeline
        else:
            cls = LatentConsistencyModelImg2ImgPipeline if lcm else StableDiffusionImg2ImgPipeline
        pipe = cls.from_pretrained(path, safety_checker=None, requires_safety_checker=False)
        sched = getattr(diffusers, sched_cls).from_config(pipe.scheduler.config, **overrides)
        pipe.scheduler = sched
        pipe.set_progress_bar_config(disable=True)
        latents = {}

        def grab(p, i, t, kw):
            latents["x"] = kw["latents"].clone()
            return kw

        args = dict(prompt=PROMPT, num_inference_steps=steps, guidance_scale=guidance,
                    generator=torch.Generator("cpu").manual_seed(SEED), output_type="np",
                    callback_on_step_end=grab, callback_on_step_end_tensor_inputs=["latents"])
        if not lcm:
            args["negative_prompt"] = NEGATIVE
        if strength is not None:
            args["image"] = image
            args["strength"] = strength
        out = pipe(**args).images[0]
        img = (out * 255).round().astype(np.uint8)   # diffusers' numpy_to_pil
        tensors[f"{name}.image"] = torch.from_numpy(np.ascontiguousarray(img))
        tensors[f"{name}.latents"] = latents["x"][0].float().contiguous()
        cases.append(dict(name=name, model=folder, scheduler=sched_cls, overrides=overrides, steps=steps,
                          guidance=guidance, strength=strength, seed=SEED, prompt=PROMPT,
                          negative_prompt=None if lcm else NEGATIVE, width=64, height=64))
        print(f"  {name}: image mean {img.mean():.2f}, std {img.std():.2f}")
    return tensors, cases


def main():
    from safetensors.torch import save_file

    torch.manual_seed(0)
    build_folders()
    image = init_image()
    tensors, cases = run_cases(image)
    ref = os.path.join(E2E, "reference.safetensors")
    save_file(tensors, ref, metadata={"format_version": FORMAT_VERSION})
    os.chmod(ref, 0o644)
    with open(os.path.join(E2E, "cases.json"), "w") as f:
        json.dump({"format_version": int(FORMAT_VERSION), "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
