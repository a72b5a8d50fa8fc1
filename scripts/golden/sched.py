"""Writes the scheduler fixtures: for each case, the scheduler_config.json used and a
reference of what diffusers' scheduler class does with it.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/sched.py
Deterministic; the output is committed, `make test` never runs this.

  tests/fixtures/sched/<case>.json          the scheduler_config.json (with _class_name)
  tests/fixtures/sched/<case>.safetensors   __metadata__ {"format_version": "1", ...}
      alphas_cumprod   F32 (T,)     scheduler.alphas_cumprod (pndm_sd15 and ddim_sample_linear:
                                    one scaled_linear and one linear table)
      latents          F32 (E,)     unscaled initial noise (txt2img runs start from
                                    latents * init_noise_sigma, as the pipelines do)
      x_orig, noise_add F32 (E,)    img2img: add_noise(x_orig, noise_add, timesteps[:1])
      model_output     F32 (R, E)   row i is the model output fed at step i of every run
      noise            F32 (R, E)   row i is the noise returned by randn_tensor at step i
                                    (patched in, so this fixture does not depend on torch's
                                    generator; the rng has its own fixture). Only for the
                                    classes that draw noise (LCM, Euler a).
      rK.info          F32 (4,)     [n_steps, strength, begin index, steps run N]
      rK.timesteps_full F32 (M,)    scheduler.timesteps after set_timesteps
      rK.sigmas        F32 (M+1,)   scheduler.sigmas (sigma-based classes only)
      rK.init_noise_sigma F32 (1,)
      rK.sample0       F32 (E,)     the loop's starting sample
      rK.scaled        F32 (N, E)   scale_model_input outputs (Euler, Euler a only)
      rK.out           F32 (N, E)   prev_sample of each step
      rK.denoised      F32 (N, E)   LCM denoised / pred_original_sample / DPM x0 (not PNDM)
      rK.noise_used    I32 (N,)     1 where step drew noise
  tests/fixtures/sched/guidance.safetensors   LCM w-embeddings:
      wI.dimD          F32 (D,)     get_guidance_scale_embedding(tensor([w]), D)[0]
      wI.value         F32 (1,)     the w of case I
The C test runs each step on its own previous output (free-running, as in real use).

Verification mode (not committed):  sched.py --exact-math DIR
    writes the same fixtures to DIR/sched with torch.sqrt / ** 0.5 / torch.log /
    torch.exp and numpy's float32 log replaced by correctly rounded versions (diffusers
    gets them from MKL VML and numpy's SIMD code, which are off by an ulp for ~20% of
    inputs, and differ between CPUs). Against those, the C schedulers must be bit-exact:
    EF_FIXTURES=DIR EF_SCHED_EXACT=1 ./build/ef_tests sched/fixtures
    (copy tests/fixtures/sched/guidance.safetensors along; it is not regenerated there).
"""
import json
import os
import struct
import sys
import zlib

import torch

import diffusers
import diffusers.schedulers.scheduling_euler_ancestral_discrete as mod_euler_a
import diffusers.schedulers.scheduling_lcm as mod_lcm
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, LCMScheduler, PNDMScheduler)
from diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_text2img import (
    LatentConsistencyModelPipeline)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "sched")
E = 32                      # elements per latent (shape (1, 4, 2, 4))
SHAPE = (1, 4, 2, 4)
STEPS = [1, 2, 4, 7, 25, 50]
STRENGTHS = [0.3, 0.75]

SD = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
      "beta_schedule": "scaled_linear", "trained_betas": None}

# name, class, config (written as the JSON file), step counts, step counts for img2img
CASES = [
    # SD-1.5's scheduler/scheduler_config.json, verbatim (BK-SDM ships the same)
    ("pndm_sd15", PNDMScheduler, {**SD, "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0",
                                  "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                                  "clip_sample": False}, STEPS, [4, 25]),
    ("pndm_prk", PNDMScheduler, {**SD, "set_alpha_to_one": False, "skip_prk_steps": False, "steps_offset": 1},
     [4, 5, 7, 25], [25]),
    ("pndm_linspace_v", PNDMScheduler, {**SD, "skip_prk_steps": True, "timestep_spacing": "linspace",
                                        "prediction_type": "v_prediction"}, [4, 25], []),
    # LCM_Dreamshaper_v7 / EdgeFusion-style LCM scheduler_config.json
    ("lcm", LCMScheduler, {**SD, "_class_name": "LCMScheduler", "_diffusers_version": "0.22.0",
                           "clip_sample": False, "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.995,
                           "original_inference_steps": 50, "prediction_type": "epsilon",
                           "rescale_betas_zero_snr": False, "sample_max_value": 1.0, "set_alpha_to_one": True,
                           "steps_offset": 1, "thresholding": False, "timestep_scaling": 10.0,
                           "timestep_spacing": "leading"}, STEPS, [4, 7]),
    ("lcm_v_clip", LCMScheduler, {**SD, "prediction_type": "v_prediction", "clip_sample": True,
                                  "clip_sample_range": 1.5, "set_alpha_to_one": False,
                                  "original_inference_steps": 25, "timestep_scaling": 5.0}, [1, 3, 8], []),
    ("lcm_sample", LCMScheduler, {**SD, "prediction_type": "sample"}, [4], []),
    ("ddim_leading", DDIMScheduler, {**SD, "_class_name": "DDIMScheduler", "clip_sample": False,
                                     "set_alpha_to_one": False, "steps_offset": 1,
                                     "timestep_spacing": "leading"}, STEPS, [4, 25]),
    ("ddim_trailing", DDIMScheduler, {**SD, "clip_sample": False, "set_alpha_to_one": True,
                                      "timestep_spacing": "trailing"}, STEPS, [25]),
    ("ddim_linspace_v_clip", DDIMScheduler, {**SD, "clip_sample": True, "timestep_spacing": "linspace",
                                             "prediction_type": "v_prediction"}, [4, 25], []),
    ("ddim_sample_linear", DDIMScheduler, {"prediction_type": "sample", "clip_sample": False}, [4, 25], []),
    # Euler as SD pipelines get it from the PNDM config (leading, steps_offset 1)
    ("euler", EulerDiscreteScheduler, {**SD, "_class_name": "EulerDiscreteScheduler", "steps_offset": 1,
                                       "timestep_spacing": "leading"}, STEPS, [4, 25]),
    ("euler_linspace", EulerDiscreteScheduler, {**SD}, STEPS, []),
    ("euler_karras", EulerDiscreteScheduler, {**SD, "use_karras_sigmas": True, "steps_offset": 1,
                                              "timestep_spacing": "leading"}, STEPS, [25]),
    ("euler_karras_range", EulerDiscreteScheduler, {**SD, "use_karras_sigmas": True, "sigma_min": 0.1,
                                                    "sigma_max": 10.0}, [4, 25], []),
    ("euler_trailing_v_sigmamin", EulerDiscreteScheduler, {**SD, "timestep_spacing": "trailing",
                                                           "prediction_type": "v_prediction",
                                                           "final_sigmas_type": "sigma_min"}, [4, 25], [25]),
    ("euler_a", EulerAncestralDiscreteScheduler, {**SD, "_class_name": "EulerAncestralDiscreteScheduler",
                                                  "steps_offset": 1, "timestep_spacing": "leading"}, STEPS, [4, 25]),
    ("euler_a_trailing_v", EulerAncestralDiscreteScheduler, {**SD, "timestep_spacing": "trailing",
                                                             "prediction_type": "v_prediction"}, [4, 25], []),
    ("dpmpp_2m", DPMSolverMultistepScheduler, {**SD, "_class_name": "DPMSolverMultistepScheduler"}, STEPS, [4, 25]),
    ("dpmpp_2m_karras", DPMSolverMultistepScheduler, {**SD, "use_karras_sigmas": True}, STEPS, [25]),
    ("dpmpp_2m_leading_sigmamin", DPMSolverMultistepScheduler, {**SD, "timestep_spacing": "leading", "steps_offset": 1,
                                                                "final_sigmas_type": "sigma_min",
                                                                "lower_order_final": False}, [2, 4, 7, 25], [25]),
    ("dpmpp_2m_heun_v_trailing", DPMSolverMultistepScheduler, {**SD, "solver_type": "heun",
                                                               "prediction_type": "v_prediction",
                                                               "timestep_spacing": "trailing",
                                                               "euler_at_final": True}, [4, 25], []),
    ("dpmpp_3m_karras", DPMSolverMultistepScheduler, {**SD, "solver_order": 3, "use_karras_sigmas": True},
     [4, 7, 25], [25]),
    ("dpmpp_2m_linear_clipped", DPMSolverMultistepScheduler, {"lambda_min_clipped": -5.1, "prediction_type": "sample"},
     [4, 25], []),
]

SIGMA_CLASSES = (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler)
SCALE_CLASSES = (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler)


def save_sorted(tensors, path, metadata):
    """safetensors.torch.save_file, but byte-for-byte reproducible: save_file writes
    __metadata__ in hash order. Tensors in sorted name order, header padded to 8."""
    names = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}
    header, blobs, off = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for k in sorted(tensors):
        v = tensors[k].contiguous()
        b = v.numpy().astype(v.numpy().dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.chmod(path, 0o644)


def seeded(name):
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


class NoiseFeed:
    """Stands in for randn_tensor inside the scheduler modules: returns noise[i]."""

    def __init__(self, table):
        self.table, self.i, self.used = table, 0, False

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        assert tuple(shape) == SHAPE, shape
        self.used = True
        return self.table[self.i].reshape(SHAPE).clone()


def run(cls, cfg, n, strength, inputs):
    s = cls.from_config(cfg)
    if cls is LCMScheduler:
        s.set_timesteps(n, strength=strength)
    else:
        s.set_timesteps(n)
    full = s.timesteps.clone()
    rec = {"timesteps_full": full.to(torch.float32)}
    if isinstance(s, SIGMA_CLASSES):
        rec["sigmas"] = s.sigmas.clone().to(torch.float32)
    rec["init_noise_sigma"] = torch.tensor([float(s.init_noise_sigma)], dtype=torch.float32)
    begin = 0
    ts = s.timesteps
    if strength < 1.0 and cls is not LCMScheduler:      # StableDiffusionImg2ImgPipeline.get_timesteps
        init = min(int(n * strength), n)
        begin = max(n - init, 0) * s.order
        ts = s.timesteps[begin:]
        if hasattr(s, "set_begin_index"):
            s.set_begin_index(begin)
    if strength < 1.0:
        sample = s.add_noise(inputs["x_orig"].reshape(SHAPE), inputs["noise_add"].reshape(SHAPE), ts[:1])
    else:
        sample = inputs["latents"].reshape(SHAPE) * s.init_noise_sigma
    rec["sample0"] = sample.flatten().clone()
    feed = NoiseFeed(inputs["noise"])
    mod_lcm.randn_tensor = feed
    mod_euler_a.randn_tensor = feed
    outs, dens, scaled, used = [], [], [], []
    for i, t in enumerate(ts):
        feed.i, feed.used = i, False
        x_in = s.scale_model_input(sample, t)
        scaled.append(x_in.flatten().clone())
        mo = inputs["model_output"][i].reshape(SHAPE).clone()
        r = s.step(mo, t, sample)
        prev = r.prev_sample
        if cls is LCMScheduler:
            dens.append(r.denoised.flatten().clone())
        elif cls is DPMSolverMultistepScheduler:
            dens.append(s.model_outputs[-1].flatten().clone())
        elif cls is not PNDMScheduler:
            dens.append(r.pred_original_sample.flatten().clone())
        outs.append(prev.flatten().clone())
        used.append(1 if feed.used else 0)
        sample = prev
    rec["info"] = torch.tensor([n, strength, begin, len(ts)], dtype=torch.float32)
    rec["out"] = torch.stack(outs)
    if dens:
        rec["denoised"] = torch.stack(dens)
    if cls in SCALE_CLASSES:
        rec["scaled"] = torch.stack(scaled)
    rec["noise_used"] = torch.tensor(used, dtype=torch.int32)
    return rec, s


def n_rows(cls, cfg, runs):
    """Longest run: the rows of model_output/noise the C test needs."""
    R = 1
    for n, st in runs:
        s = cls.from_config(cfg)
        s.set_timesteps(n, strength=st) if cls is LCMScheduler else s.set_timesteps(n)
        R = max(R, len(s.timesteps))
    return R


def write_case(name, cls, cfg, steps, i2i_steps):
    g = seeded(name)
    cfg = {"_class_name": cls.__name__, **cfg}
    runs = [(n, 1.0) for n in steps] + [(n, st) for n in i2i_steps for st in STRENGTHS]
    R = n_rows(cls, cfg, runs)
    inputs = {
        "latents": torch.randn(E, generator=g),
        "x_orig": torch.randn(E, generator=g) * 0.8,
        "noise_add": torch.randn(E, generator=g),
        # model outputs of the size a UNet gives, varying smoothly with the step so the
        # multistep history is meaningful
        "model_output": (torch.randn(R, E, generator=g) * 0.3
                         + torch.linspace(1.0, 0.2, R)[:, None] * torch.randn(1, E, generator=g)),
        "noise": torch.randn(R, E, generator=g),
    }
    t = dict(inputs)
    if cls not in (LCMScheduler, EulerAncestralDiscreteScheduler):
        del t["noise"]
    sched = None
    for k, (n, st) in enumerate(runs):
        rec, sched = run(cls, cfg, n, st, inputs)
        for key, v in rec.items():
            t[f"r{k}.{key}"] = v
    if name in ("pndm_sd15", "ddim_sample_linear"):
        t["alphas_cumprod"] = sched.alphas_cumprod.clone().to(torch.float32)
    meta = {"format_version": "1", "class": cls.__name__, "diffusers": diffusers.__version__,
            "torch": torch.__version__, "runs": str(len(runs))}
    path = os.path.join(OUT, name + ".safetensors")
    save_sorted(t, path, meta)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    return os.path.getsize(path)


def write_guidance():
    t = {}
    ws = [0.0, 1.0, 6.5, 14.0, 0.37]
    for i, w in enumerate(ws):
        wt = torch.tensor(w).repeat(1)                   # the pipeline: torch.tensor(gs - 1).repeat(bs)
        t[f"w{i}.value"] = wt.to(torch.float32).clone()
        for dim in (256, 17, 4):
            emb = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, wt, embedding_dim=dim)
            t[f"w{i}.dim{dim}"] = emb[0].clone()
    path = os.path.join(OUT, "guidance.safetensors")
    save_sorted(t, path, {"format_version": "1", "diffusers": diffusers.__version__})


def patch_exact_math():
    """Correctly rounded float32 sqrt/log/exp in torch and float32 log in numpy."""
    import numpy as np

    def rounded(fn, orig):
        def f(x, *a, **k):
            if isinstance(x, torch.Tensor) and x.dtype == torch.float32 and not a and not k:
                with np.errstate(divide="ignore"):   # log(0) = -inf, as torch gives
                    y = np.asarray(fn(x.detach().numpy().astype(np.float64))).astype(np.float32)
                return torch.from_numpy(y.reshape(x.shape))
            return orig(x, *a, **k)
        return f

    torch_sqrt, torch_log, torch_exp, torch_pow = torch.sqrt, torch.log, torch.exp, torch.Tensor.__pow__
    torch.sqrt = rounded(np.sqrt, torch_sqrt)
    torch.Tensor.sqrt = lambda self: torch.sqrt(self)
    torch.log = rounded(np.log, torch_log)
    torch.exp = rounded(np.exp, torch_exp)
    torch.Tensor.__pow__ = lambda self, e: torch.sqrt(self) if (isinstance(e, float) and e == 0.5) else torch_pow(self, e)
    np_log = np.log

    def log(x, *a, **k):
        if isinstance(x, np.ndarray) and x.dtype == np.float32 and not a and not k:
            with np.errstate(divide="ignore"):
                return np_log(x.astype(np.float64)).astype(np.float32)
        return np_log(x, *a, **k)
    np.log = log


def main():
    global OUT
    diffusers.utils.logging.set_verbosity_error()   # from_config warns about unused keys
    if len(sys.argv) == 3 and sys.argv[1] == "--exact-math":
        patch_exact_math()
        OUT = os.path.join(sys.argv[2], "sched")
    elif len(sys.argv) != 1:
        sys.exit("usage: sched.py [--exact-math DIR]")
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    total = 0
    for name, cls, cfg, steps, i2i in CASES:
        total += write_case(name, cls, cfg, steps, i2i)
    if OUT.startswith(os.path.join(ROOT, "tests")):
        write_guidance()
    print(f"wrote {len(CASES)} scheduler cases to {OUT} ({total} bytes) + guidance.safetensors")


if __name__ == "__main__":
    main()
