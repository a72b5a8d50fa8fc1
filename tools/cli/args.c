/*
** args.c -- parses the edgefusion CLI flags into cli_args. Every value is checked
** (integers fully consumed and in range); unknown flags and missing values are errors.
*/
#include "args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: edgefusion -m MODEL_DIR -p PROMPT [options]\n"
    "\n"
    "Loads a Hugging Face diffusers pipeline folder (model_index.json, tokenizer/,\n"
    "text_encoder/, ...) and encodes the prompt with its CLIP text encoder.\n"
    "Image generation arrives with the UNet, VAE and scheduler work.\n"
    "\n"
    "options:\n"
    "  -m, --model DIR          diffusers pipeline folder (required)\n"
    "  -p, --prompt TEXT        the prompt (required)\n"
    "  -t, --threads N          worker threads; 0 = all CPUs (default 0)\n"
    "      --clip-skip N        1 = last text-encoder layer (default), 2 = the one before, ...\n"
    "      --variant fp16       load *.fp16.safetensors weights when present\n"
    "      --tokens             print the token ids\n"
    "      --embedding-out FILE write the prompt embedding (tokens x width, float32) as .npy\n"
    "  -v, --verbose            log loading details to stderr\n"
    "  -h, --help               this text\n"
    "      --version            print the version\n";

const char *cli_usage(void) { return USAGE; }

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int cli_args_parse(int argc, char **argv, cli_args *a, char *msg, size_t n) {
    memset(a, 0, sizeof *a);
    a->clip_skip = 1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s, l) (strcmp(f, s) == 0 || strcmp(f, l) == 0)
#define NEED_VALUE() do { if (!v) { snprintf(msg, n, "%s needs a value", f); return 0; } i++; } while (0)
        if (IS("-h", "--help")) a->help = 1;
        else if (IS("--version", "--version")) a->version = 1;
        else if (IS("-v", "--verbose")) a->verbose = 1;
        else if (IS("--tokens", "--tokens")) a->print_tokens = 1;
        else if (IS("-m", "--model")) { NEED_VALUE(); a->model = v; }
        else if (IS("-p", "--prompt")) { NEED_VALUE(); a->prompt = v; }
        else if (IS("--embedding-out", "--embedding-out")) { NEED_VALUE(); a->embedding_out = v; }
        else if (IS("--variant", "--variant")) {
            NEED_VALUE();
            if (strcmp(v, "fp16") != 0) { snprintf(msg, n, "--variant: '%s' is not a variant (only fp16)", v); return 0; }
            a->variant = v;
        } else if (IS("-t", "--threads")) {
            NEED_VALUE();
            if (!parse_int(v, 0, 256, &a->threads)) { snprintf(msg, n, "%s: '%s' is not a thread count in 0..256", f, v); return 0; }
        } else if (IS("--clip-skip", "--clip-skip")) {
            NEED_VALUE();
            if (!parse_int(v, 1, 64, &a->clip_skip)) { snprintf(msg, n, "%s: '%s' is not a number in 1..64", f, v); return 0; }
        } else {
            snprintf(msg, n, "unknown option '%s' (see --help)", f);
            return 0;
        }
#undef IS
#undef NEED_VALUE
    }
    if (a->help || a->version) return 1;
    if (!a->model) { snprintf(msg, n, "missing -m/--model DIR (see --help)"); return 0; }
    if (!a->prompt) { snprintf(msg, n, "missing -p/--prompt TEXT (see --help)"); return 0; }
    return 1;
}
