"""Assembles tests/fixtures/tiny-pipe: the bundled random-weight diffusers pipeline folder.

Its components are written by the other golden modules (text_encoder by clip_text.py; the
tokenizer is the real CLIP one from tokenizer.py, linked, not copied). This module writes
model_index.json listing exactly the components present, as diffusers' save_pretrained does.
"""
import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PIPE = os.path.join(ROOT, "tests", "fixtures", "tiny-pipe")

COMPONENTS = {
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "text_encoder": ["transformers", "CLIPTextModel"],
}


def main():
    import diffusers

    os.makedirs(PIPE, exist_ok=True)
    link = os.path.join(PIPE, "tokenizer")
    if not os.path.islink(link):
        os.symlink(os.path.join("..", "clip-tokenizer"), link)
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__}
    for name, spec in COMPONENTS.items():
        if os.path.isdir(os.path.join(PIPE, name)):
            index[name] = spec
    with open(os.path.join(PIPE, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
