"""Times one text-to-image job in peer engines and in edgefusion (NOT run by CI).

The job: scripts/make_bench_models.py's random-weight BK-SDM-Tiny (LCM w-embedding) +
CLIP ViT-L/14 text encoder + TAESD decoder, one prompt, 512x512, 2 LCM steps, guidance
8.5 fed as the LCM w-embedding (one UNet call per step, no CFG batch), seed 42, 2 threads,
fp32 unless a peer's name says otherwise. Peers:
  diffusers     LatentConsistencyModelPipeline + AutoencoderTiny, torch CPU, torch.set_num_threads
  onnxruntime   text encoder, UNet and TAESD decoder exported with torch.onnx.export (cached
                in <models>/onnx/), the same 2-step LCM loop around three ORT sessions
                (intra_op_num_threads, diffusers' LCMScheduler for the step math)
  sdcpp-f32     stable-diffusion.cpp through stable-diffusion-cpp-python, weights as stored
  sdcpp-q8_0    the same with the weights quantized to q8_0 at load
  sdcpp-q8_0-fa q8_0 with flash attention in the UNet (sd.cpp's --diffusion-fa; also
                sdcpp-f32-fa, not run by default)
  edgefusion    <build>/bench/bench_pipeline (built here with make), f32 weights
  edgefusion-q8 the same with the UNet and text-encoder matrices in q8 (--type q8)
  edgefusion-todo2  f32 with --token-downsample 2 (the approximate fast mode: the top
                level's self-attention on 2x2 token averages); its ratios to the peers
                are printed under the table
Each peer runs in its own process, which reports its stage times, its own peak RSS
(ru_maxrss) and its CPU time (user + system, all threads: on a machine shared with other
work it shows what each engine spent, where wall times also count waiting). "End to end"
is load + one generation, cold, as a user would wait for it. Then a table, with
edgefusion's end-to-end time as a ratio to each peer's, and with --png-dir each image
against diffusers' (the same job gives the same image: ONNX Runtime and edgefusion match
diffusers within a few /255; sd.cpp draws its noise with its own generator and ignores
the w-embedding, so its image differs, at the same cost).

Peers live in their own venv (--venv, default /opt/efpeers), created when missing. What
is already importable there is not installed again; with --base-venv (default
/opt/efgold when it exists) that venv's packages (torch, diffusers, transformers) are
made visible through a .pth file instead of being downloaded again. Installing
stable-diffusion-cpp-python compiles stable-diffusion.cpp with cmake (about 15 minutes on
2 cores). A peer that cannot be installed or run is reported with the reason, and the
others go on.

Usage, from the repo root:
    python3 scripts/peers.py [--size 512] [--steps 2] [--threads 2] [--seed 42]
        [--models build/bench-models] [--build build-bench] [--only diffusers,edgefusion]
        [--venv /opt/efpeers] [--base-venv /opt/efgold] [--no-install]
        [--png-dir DIR] [--json-out FILE] [--timeout 3600]
The whole default run takes about 15 minutes at 512x512 on 2 cores (the first one also
exports ONNX, about a minute, and may install the peers).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
HERE = os.path.abspath(__file__)
PIPE_NAME = "bk-sdm-tiny-lcm"            # scripts/make_bench_models.py's folder
PROMPT = "a golden retriever on the beach, sunset, highly detailed"
GUIDANCE = 8.5
ALL_PEERS = ["diffusers", "onnxruntime", "sdcpp-f32", "sdcpp-q8_0", "sdcpp-q8_0-fa", "edgefusion", "edgefusion-q8",
             "edgefusion-todo2"]
OPTIONAL_PEERS = ["sdcpp-f32-fa"]   # not run by default
# import name -> pip requirement, per peer
NEEDS = {
    "diffusers": [("torch", "torch"), ("diffusers", "diffusers"), ("transformers", "transformers"),
                  ("safetensors", "safetensors")],
    "onnxruntime": [("onnxruntime", "onnxruntime"), ("onnx", "onnx"), ("onnxscript", "onnxscript")],
    "sdcpp": [("stable_diffusion_cpp", "stable-diffusion-cpp-python"), ("PIL", "pillow")],
}


def log(msg):
    print(msg, flush=True)


def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux


def cpu_seconds():
    """User + system CPU seconds of this process so far, all threads (imports included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---- environment -------------------------------------------------------------------

def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def can_import(py, module):
    return subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode == 0


def ensure_venv(args):
    """Creates the venv and installs what the chosen peers need. Returns {group: reason} for
    the groups that could not be installed."""
    py = venv_python(args.venv)
    failed = {}
    if not os.path.exists(py):
        if args.no_install:
            return {g: f"{args.venv} does not exist (--no-install)" for g in NEEDS}
        log(f"== creating venv {args.venv}")
        subprocess.run([sys.executable, "-m", "venv", args.venv], check=True)
    if args.base_venv and os.path.isdir(args.base_venv):
        base_site = subprocess.run([venv_python(args.base_venv), "-c", "import site; print(site.getsitepackages()[0])"],
                                   capture_output=True, text=True).stdout.strip()
        site = subprocess.run([py, "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        pth = os.path.join(site, "zz_base_venv.pth")
        if base_site and not os.path.exists(pth):
            with open(pth, "w") as f:
                f.write(base_site + "\n")
            log(f"== {args.venv}: packages of {args.base_venv} visible through {pth}")
    groups = set()
    for p in args.peers:
        if p in ("diffusers", "onnxruntime"):
            groups.add("diffusers")
        if p == "onnxruntime":
            groups.add("onnxruntime")
        if p.startswith("sdcpp"):
            groups.add("sdcpp")
    if "edgefusion" in args.peers or "onnxruntime" in args.peers:
        groups.add("diffusers")   # make_bench_models.py and the ONNX export need torch + diffusers
    for g in sorted(groups):
        missing = [req for mod, req in NEEDS[g] if not can_import(py, mod)]
        if not missing:
            continue
        if args.no_install:
            failed[g] = f"not installed in {args.venv}: {' '.join(missing)} (--no-install)"
            continue
        env = dict(os.environ)
        if g == "sdcpp":
            # stable-diffusion.cpp's C++ build: native ISA (AVX2/FMA/F16C here), 2 jobs.
            env.setdefault("CMAKE_ARGS", "-DGGML_NATIVE=ON")
            env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
            env.setdefault("MAKEFLAGS", "-j2")
            log(f"== installing {' '.join(missing)} (compiles C++: ~15 min on 2 cores)")
        else:
            log(f"== installing {' '.join(missing)}")
        r = subprocess.run([py, "-m", "pip", "install", *missing], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            failed[g] = f"pip install {' '.join(missing)} failed: {r.stderr.strip().splitlines()[-1:]}"
    return failed


def ensure_models(args):
    folder = os.path.join(args.models, PIPE_NAME)
    if os.path.exists(os.path.join(folder, "model_index.json")) and os.path.isdir(os.path.join(folder, "taesd")):
        return folder
    log(f"== writing the benchmark pipeline into {args.models}")
    py = venv_python(args.venv) if os.path.exists(venv_python(args.venv)) else sys.executable
    subprocess.run([py, os.path.join(ROOT, "scripts", "make_bench_models.py"), "--out", args.models], check=True)
    return folder


# ---- peers (each runs in a child process: --child NAME) ----------------------------

def child_diffusers(a):
    import torch
    from diffusers import AutoencoderTiny, LatentConsistencyModelPipeline

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    pipe = LatentConsistencyModelPipeline.from_pretrained(a.folder, safety_checker=None, requires_safety_checker=False)
    pipe.vae = AutoencoderTiny.from_pretrained(a.taesd)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0

    stages = {"text_s": [], "unet_s": [], "vae_s": []}

    def timed_module(module, key):
        def pre(*_):
            module._ef_t0 = time.perf_counter()

        def post(*_):
            stages[key].append(time.perf_counter() - module._ef_t0)
        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    timed_module(pipe.text_encoder, "text_s")
    timed_module(pipe.unet, "unet_s")
    decode = pipe.vae.decode

    def timed_decode(*x, **k):
        t = time.perf_counter()
        out = decode(*x, **k)
        stages["vae_s"].append(time.perf_counter() - t)
        return out
    pipe.vae.decode = timed_decode

    t0 = time.perf_counter()
    img = pipe(PROMPT, num_inference_steps=a.steps, guidance_scale=GUIDANCE, height=a.size, width=a.size,
               generator=torch.Generator("cpu").manual_seed(a.seed), output_type="np").images[0]
    gen_s = time.perf_counter() - t0
    save_np(img, a.out_png)
    return {"load_s": load_s, "text_s": sum(stages["text_s"]), "unet_s": stages["unet_s"],
            "vae_s": sum(stages["vae_s"]), "generate_s": gen_s, "e2e_s": load_s + gen_s,
            "versions": f"torch {torch.__version__}, diffusers {__import__('diffusers').__version__}"}


def save_np(img, path):
    if not path:
        return
    import numpy as np
    from PIL import Image

    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path)


def export_onnx(a, onnx_dir):
    """Exports the three networks once (fixed shapes: batch 1, this size). Returns seconds."""
    import torch
    from diffusers import AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextModel

    paths = {k: os.path.join(onnx_dir, f"{k}.onnx") for k in ("text_encoder", f"unet_{a.size}", f"taesd_decoder_{a.size}")}
    if all(os.path.exists(p) for p in paths.values()):
        return 0.0, paths
    os.makedirs(onnx_dir, exist_ok=True)
    t0 = time.perf_counter()
    h = a.size // 8

    def export(model, inputs, path, in_names, out_names):
        if os.path.exists(path):
            return
        try:
            torch.onnx.export(model, inputs, path, input_names=in_names, output_names=out_names, opset_version=17,
                              dynamo=False)
        except Exception as e:   # the TorchScript exporter may be gone: the dynamo one
            log(f"   TorchScript export failed ({type(e).__name__}: {e}); trying dynamo=True")
            torch.onnx.export(model, inputs, path, input_names=in_names, output_names=out_names, dynamo=True,
                              external_data=True)

    class TextEncoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids):
            return self.m(ids, return_dict=False)[0]

    class Unet(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, sample, timestep, text, cond):
            return self.m(sample, timestep, encoder_hidden_states=text, timestep_cond=cond, return_dict=False)[0]

    class Decoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, latent):
            return self.m.decode(latent, return_dict=False)[0]

    with torch.no_grad():
        te = CLIPTextModel.from_pretrained(os.path.join(a.folder, "text_encoder")).eval()
        export(TextEncoder(te), (torch.zeros(1, 77, dtype=torch.int64),), paths["text_encoder"], ["input_ids"],
               ["hidden"])
        del te
        unet = UNet2DConditionModel.from_pretrained(os.path.join(a.folder, "unet")).eval()
        export(Unet(unet), (torch.randn(1, 4, h, h), torch.tensor([999.0]), torch.randn(1, 77, 768),
                            torch.randn(1, unet.config.time_cond_proj_dim)),
               paths[f"unet_{a.size}"], ["sample", "timestep", "text", "cond"], ["eps"])
        del unet
        dec = AutoencoderTiny.from_pretrained(a.taesd).eval()
        export(Decoder(dec), (torch.randn(1, 4, h, h),), paths[f"taesd_decoder_{a.size}"], ["latent"], ["image"])
    return time.perf_counter() - t0, paths


def child_onnxruntime(a):
    import numpy as np
    import onnxruntime as ort
    import torch
    from diffusers import LCMScheduler
    from transformers import CLIPTokenizer

    export_s, paths = export_onnx(a, os.path.join(os.path.dirname(a.folder), "onnx"))
    rss_export = peak_rss_kib()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    tok = CLIPTokenizer.from_pretrained(os.path.join(a.folder, "tokenizer"))
    te = ort.InferenceSession(paths["text_encoder"], so, providers=["CPUExecutionProvider"])
    unet = ort.InferenceSession(paths[f"unet_{a.size}"], so, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(paths[f"taesd_decoder_{a.size}"], so, providers=["CPUExecutionProvider"])
    sched = LCMScheduler.from_pretrained(os.path.join(a.folder, "scheduler"))
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ts = time.perf_counter()
    ids = tok(PROMPT, padding="max_length", max_length=77, truncation=True, return_tensors="np").input_ids
    text = te.run(None, {"input_ids": ids.astype(np.int64)})[0]
    text_s = time.perf_counter() - ts
    sched.set_timesteps(a.steps)
    gen = torch.Generator("cpu").manual_seed(a.seed)
    h = a.size // 8
    latents = torch.randn((1, 4, h, h), generator=gen) * sched.init_noise_sigma
    # diffusers' get_guidance_scale_embedding for w = guidance - 1, dim 256
    w = (GUIDANCE - 1.0) * 1000.0
    half = 128
    freq = np.exp(np.arange(half, dtype=np.float32) * -(np.log(10000.0) / (half - 1))).astype(np.float32)
    arg = np.float32(w) * freq
    cond = np.concatenate([np.sin(arg), np.cos(arg)])[None, :].astype(np.float32)
    unet_s = []
    denoised = latents
    for t in sched.timesteps:
        tu = time.perf_counter()
        eps = unet.run(None, {"sample": latents.numpy().astype(np.float32),
                              "timestep": np.array([float(t)], dtype=np.float32), "text": text, "cond": cond})[0]
        unet_s.append(time.perf_counter() - tu)
        latents, denoised = sched.step(torch.from_numpy(eps), t, latents, generator=gen, return_dict=False)
    tv = time.perf_counter()
    img = dec.run(None, {"latent": denoised.numpy().astype(np.float32)})[0]   # TAESD scaling_factor 1.0
    vae_s = time.perf_counter() - tv
    gen_s = time.perf_counter() - t0
    save_np(np.transpose(img[0] / 2 + 0.5, (1, 2, 0)), a.out_png)
    return {"load_s": load_s, "export_s": export_s, "text_s": text_s, "unet_s": unet_s, "vae_s": vae_s,
            "generate_s": gen_s, "e2e_s": load_s + gen_s, "peak_rss_export_kib": rss_export,
            "versions": f"onnxruntime {ort.__version__}",
            "note": "peak RSS includes the ONNX export, which ran in this process" if export_s > 0 else ""}


def child_sdcpp(a, wtype, flash):
    """stable-diffusion.cpp loads the diffusers folder itself (unet/, vae/, text_encoder/)
    and detects BK-SDM-Tiny as its "SD1.x tiny UNet". It ignores the LCM w-embedding
    (time_embedding.cond_proj: one 256 x 1280 linear per step, a negligible cost) and
    samples with its "lcm" method at cfg 1 (one UNet call per step). Stage times come
    from its log on stderr, parsed by the parent (sdcpp_stages)."""
    import stable_diffusion_cpp as sdc
    from stable_diffusion_cpp import StableDiffusion

    t0 = time.perf_counter()
    sd = StableDiffusion(model_path=a.folder, taesd_path=os.path.join(a.taesd, "diffusion_pytorch_model.safetensors"),
                         n_threads=a.threads, wtype=wtype, diffusion_flash_attn=flash, verbose=True)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    images = sd.generate_image(prompt=PROMPT, width=a.size, height=a.size, sample_steps=a.steps, cfg_scale=1.0,
                               sample_method="lcm", seed=a.seed)
    gen_s = time.perf_counter() - t0
    if a.out_png and images:
        images[0].save(a.out_png)
    return {"load_s": load_s, "generate_s": gen_s, "e2e_s": load_s + gen_s,
            "versions": f"stable-diffusion-cpp-python {getattr(sdc, '__version__', '?')}"}


def sdcpp_stages(stderr):
    """Stage seconds from stable-diffusion.cpp's INFO log lines ("... completed, taking 1.23s")."""
    import re

    def grab(what):
        m = re.findall(what + r" completed, taking ([0-9.]+) ?(m?s)", stderr)
        return float(m[-1][0]) * (1e-3 if m[-1][1] == "ms" else 1.0) if m else None
    return {"text_s": grab("get_learned_condition"), "unet_total_s": grab("sampling"),
            "vae_s": grab("decode_first_stage")}


def run_child(args):
    a = args
    if a.child == "compare":
        import numpy as np
        from PIL import Image

        def load(name):
            return np.asarray(Image.open(os.path.join(a.folder, name + ".png")).convert("RGB")).astype(int)
        ref = load("diffusers")
        for peer in a.peer_names:
            if peer != "diffusers" and os.path.exists(os.path.join(a.folder, peer + ".png")):
                d = np.abs(load(peer) - ref)
                print(f"image {peer} vs diffusers: max {d.max()}/255, mean {d.mean():.3f}/255")
        return
    if a.child == "onnx-export":   # its own process, so that the ORT run's peak RSS is its own
        export_s, _ = export_onnx(a, os.path.join(os.path.dirname(a.folder), "onnx"))
        print("json: " + json.dumps({"export_s": export_s, "peak_rss_kib": peak_rss_kib()}), flush=True)
        return
    fn = {"diffusers": child_diffusers, "onnxruntime": child_onnxruntime,
          "sdcpp-f32": lambda x: child_sdcpp(x, "f32", False), "sdcpp-q8_0": lambda x: child_sdcpp(x, "q8_0", False),
          "sdcpp-f32-fa": lambda x: child_sdcpp(x, "f32", True),
          "sdcpp-q8_0-fa": lambda x: child_sdcpp(x, "q8_0", True)}[a.child]
    res = fn(a)
    res["peak_rss_kib"] = peak_rss_kib()
    res["cpu_s"] = cpu_seconds()
    print("json: " + json.dumps(res), flush=True)


# ---- edgefusion -------------------------------------------------------------------

def run_edgefusion(args, folder, wtype, token_downsample=1):
    target = os.path.join(args.build, "bench", "bench_pipeline")   # relative: make's rule is BUILD/bench/...
    exe = os.path.join(ROOT, target)
    r = subprocess.run(["make", f"BUILD={args.build}", "-j2", target], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("make bench_pipeline failed: " + r.stderr.strip()[-500:])
    cmd = [exe, folder, "--taesd", os.path.join(folder, "taesd"), "--size", str(args.size), "--steps",
           str(args.steps), "-t", str(args.threads), "-s", str(args.seed), "--type", wtype,
           "--token-downsample", str(token_downsample)]
    if args.png_dir:
        name = "edgefusion" + ("" if wtype == "f32" else "-" + wtype) + ("" if token_downsample == 1 else "-todo2")
        cmd += ["-o", os.path.join(args.png_dir, name + ".png")]
    log("   " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    sys.stdout.write("".join("   | " + ln + "\n" for ln in r.stdout.splitlines() if not ln.startswith("json: ")))
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip()[-500:])
    j = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("json: ")][-1][6:])
    run = j["runs"][0]
    return {"load_s": j["load_s"], "text_s": run["text_s"], "unet_s": run["unet_s"], "vae_s": run["vae_s"],
            "generate_s": run["generate_s"], "e2e_s": run["e2e_s"], "peak_rss_kib": run["peak_rss_kib"],
            "cpu_s": run.get("cpu_s"),
            "versions": "edgefusion (" + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                                         capture_output=True, text=True).stdout.strip() + ")"}


# ---- main -------------------------------------------------------------------------

def fmt(v, spec="{:.2f}"):
    return "-" if v is None else spec.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--models", default=os.path.join(ROOT, "build", "bench-models"))
    ap.add_argument("--build", default="build-bench", help="edgefusion build folder (default build-bench)")
    ap.add_argument("--only", default=",".join(ALL_PEERS),
                    help="comma-separated, from: " + ",".join(ALL_PEERS + OPTIONAL_PEERS))
    ap.add_argument("--venv", default="/opt/efpeers")
    ap.add_argument("--base-venv", default="/opt/efgold" if os.path.isdir("/opt/efgold") else "")
    ap.add_argument("--no-install", action="store_true", help="use what is installed; install nothing")
    ap.add_argument("--png-dir", default="", help="save every peer's image there")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per peer (default 3600)")
    ap.add_argument("--json-out", default="", help="write all results to this JSON file")
    # child mode (internal)
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--folder", default="", help=argparse.SUPPRESS)
    ap.add_argument("--taesd", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out-png", default="", help=argparse.SUPPRESS)
    ap.add_argument("peer_names", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_child(args)

    args.models = os.path.abspath(args.models)
    args.peers = [p for p in args.only.split(",") if p]
    bad = [p for p in args.peers if p not in ALL_PEERS + OPTIONAL_PEERS]
    if bad:
        ap.error(f"unknown peer {bad}; have {ALL_PEERS + OPTIONAL_PEERS}")
    if args.png_dir:
        os.makedirs(args.png_dir, exist_ok=True)
    log(f"peers.py: {args.size}x{args.size}, {args.steps} LCM steps, guidance {GUIDANCE} (w-embedding), "
        f"{args.threads} threads, seed {args.seed}; {time.strftime('%Y-%m-%d %H:%M')}")
    failed_groups = ensure_venv(args)
    folder = ensure_models(args)
    taesd = os.path.join(folder, "taesd")
    results, errors = {}, {}
    py = venv_python(args.venv)
    for peer in args.peers:
        group = "sdcpp" if peer.startswith("sdcpp") else peer
        if group in failed_groups or (peer in ("diffusers", "onnxruntime") and "diffusers" in failed_groups):
            errors[peer] = failed_groups.get(group) or failed_groups.get("diffusers")
            log(f"== {peer}: skipped: {errors[peer]}")
            continue
        log(f"== {peer}")
        load0 = os.getloadavg()[0]
        try:
            if peer.startswith("edgefusion"):
                results[peer] = run_edgefusion(args, folder, "q8" if peer.endswith("q8") else "f32",
                                               2 if peer.endswith("todo2") else 1)
            else:
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
                           TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
                common = ["--folder", folder, "--taesd", taesd, "--size", str(args.size), "--steps", str(args.steps),
                          "--threads", str(args.threads), "--seed", str(args.seed)]

                def child(name, extra=()):
                    r = subprocess.run([py, HERE, "--child", name, *common, *extra], capture_output=True, text=True,
                                       env=env, timeout=args.timeout)
                    js = [ln for ln in r.stdout.splitlines() if ln.startswith("json: ")]
                    if r.returncode != 0 or not js:
                        raise RuntimeError((r.stderr.strip() or r.stdout.strip())[-1200:])
                    return json.loads(js[-1][6:]), r.stderr
                export_s = 0.0
                if peer == "onnxruntime":
                    export_s = child("onnx-export")[0]["export_s"]
                results[peer], stderr = child(peer, ["--out-png", os.path.join(args.png_dir, peer + ".png")]
                                              if args.png_dir else [])
                if export_s:
                    results[peer]["export_s"] = export_s
                if peer.startswith("sdcpp"):
                    results[peer].update(sdcpp_stages(stderr))
            res = results[peer]
            res["loadavg"] = [load0, os.getloadavg()[0]]
            log(f"   load {fmt(res.get('load_s'))} s, text {fmt(res.get('text_s'), '{:.3f}')} s, unet "
                f"{', '.join(fmt(x) for x in res.get('unet_s') or []) or fmt(res.get('unet_total_s'))} s, "
                f"vae {fmt(res.get('vae_s'), '{:.3f}')} s, generate {fmt(res.get('generate_s'))} s, "
                f"end to end {fmt(res.get('e2e_s'))} s, peak RSS {res['peak_rss_kib'] / 1024:.0f} MiB, "
                f"CPU {fmt(res.get('cpu_s'), '{:.1f}')} s, load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
                f"{'  [' + res['versions'] + ']' if res.get('versions') else ''}")
            if res.get("export_s"):
                log(f"   (one-time ONNX export {res['export_s']:.1f} s, not counted)")
        except subprocess.TimeoutExpired:
            errors[peer] = f"timed out after {args.timeout} s"
            log(f"   FAILED: {errors[peer]}")
        except Exception as e:   # a peer that cannot run is reported; the others go on
            errors[peer] = f"{type(e).__name__}: {e}"
            log(f"   FAILED: {errors[peer]}")

    log(f"\n{args.size}x{args.size}, {args.steps} steps, {args.threads} threads "
        f"(seconds; end to end = load + first generation; "
        f"CPU s = the process's user + system CPU time, start to exit; edgefusion / peer = edgefusion's "
        f"end-to-end time over the peer's: below 1, edgefusion is faster)")
    log(f"{'peer':<16} {'load':>7} {'text':>7} {'unet/step':>10} {'vae':>7} {'generate':>9} {'e2e':>8} "
        f"{'peak RSS':>10} {'CPU s':>7} {'edgefusion / peer':>18}")
    ours = results.get("edgefusion", {}).get("e2e_s")
    for peer in args.peers:
        if peer not in results:
            log(f"{peer:<16} not run: {errors.get(peer, '?')}")
            continue
        r = results[peer]
        steps = r.get("unet_s") or []
        per_step = sum(steps) / len(steps) if steps else (r["unet_total_s"] / args.steps if r.get("unet_total_s")
                                                          else None)
        ratio = f"{ours / r['e2e_s']:.2f}x" if ours and not peer.startswith("edgefusion") else ""   # < 1: edgefusion is faster
        log(f"{peer:<16} {fmt(r.get('load_s')):>7} {fmt(r.get('text_s')):>7} {fmt(per_step):>10} "
            f"{fmt(r.get('vae_s')):>7} {fmt(r.get('generate_s')):>9} {fmt(r.get('e2e_s')):>8} "
            f"{r['peak_rss_kib'] / 1024:>6.0f} MiB {fmt(r.get('cpu_s'), '{:.0f}'):>7} {ratio:>18}")
    fast = results.get("edgefusion-todo2", {}).get("e2e_s")
    if fast:   # the approximate fast mode against each peer
        log("edgefusion --token-downsample 2 / peer: " + ", ".join(
            f"{peer} {fast / results[peer]['e2e_s']:.2f}x" for peer in args.peers
            if peer in results and not peer.startswith("edgefusion")))
    if args.png_dir and "diffusers" in results:   # same job: each image against diffusers'
        r = subprocess.run([py, HERE, "--child", "compare", "--folder", args.png_dir, *results], capture_output=True,
                           text=True)
        log(r.stdout.rstrip() or r.stderr.strip()[-300:])
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "peers"}, "results": results,
                       "errors": errors}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
