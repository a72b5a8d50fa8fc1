"""Writes the CLIP tokenizer fixture and the golden token ids for tests/test_bpe.c.

Run from the repo root:  /opt/efgold/bin/python scripts/golden/tokenizer.py
Deterministic; the output is committed, `make test` never runs this.

  tests/fixtures/clip-tokenizer/{vocab.json, merges.txt, tokenizer_config.json,
                                 special_tokens_map.json}
      The tokenizer of openai/clip-vit-large-patch14 (and of SD 1.x pipelines), rebuilt
      from open_clip's packaged bpe_simple_vocab_16e6.txt.gz the way OpenAI's
      SimpleTokenizer builds it: the 256 bytes_to_unicode() symbols, the same with
      "</w>", one symbol per merge of merges[1:49152-256-2+1], then <|startoftext|> and
      <|endoftext|> (49408 ids, BOS 49406, EOS 49407 = pad, model_max_length 77).
      Checked against open_clip's own tokenizer before writing.
  tests/fixtures/tokens.json
      {"format_version": 1, "tokenizer": "clip-tokenizer", "max_length": 77,
       "cases": [{"text", "ids"}],                 ids = 77 input_ids of the reference
       "invalid_utf8": [{"hex", "ids"}],           text = bytes.decode("utf-8", "replace")
       "variants": [{"name", "tokenizer_config", "special_tokens_map", "max_length",
                     "cases"}],                     same vocab/merges, other config files
                                                    (null = file absent)
       "slow_path_differs": [...]}                 informational only, see below
      The reference is transformers' CLIPTokenizer.from_pretrained(folder)(text,
      padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids
      (what diffusers' StableDiffusionPipeline uses). "slow_path_differs" lists prompts
      where the original CLIP/open_clip path (ftfy.fix_text, html.unescape twice,
      whitespace clean, no NFC) gives other ids; the C tokenizer follows transformers.
"""
import gzip
import json
import os
import random
import shutil
import tempfile
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")
TOK_DIR = os.path.join(FIX, "clip-tokenizer")
BOS, EOS = 49406, 49407


# ---- (a) the tokenizer folder -------------------------------------------------------

def added_token(content):
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True}


TOKENIZER_CONFIG = {
    "unk_token": {**added_token("<|endoftext|>"), "__type": "AddedToken"},
    "bos_token": {**added_token("<|startoftext|>"), "__type": "AddedToken"},
    "eos_token": {**added_token("<|endoftext|>"), "__type": "AddedToken"},
    "pad_token": "<|endoftext|>",
    "add_prefix_space": False,
    "errors": "replace",
    "do_lower_case": True,
    "name_or_path": "openai/clip-vit-large-patch14",
    "model_max_length": 77,
    "special_tokens_map_file": "./special_tokens_map.json",
    "tokenizer_class": "CLIPTokenizer",
}
SPECIAL_TOKENS_MAP = {
    "bos_token": added_token("<|startoftext|>"),
    "eos_token": added_token("<|endoftext|>"),
    "unk_token": added_token("<|endoftext|>"),
    "pad_token": "<|endoftext|>",
}


def build_vocab_and_merges():
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = dict(zip(vocab, range(len(vocab))))
    assert len(encoder) == 49408 and len(merges) == 48894
    assert encoder["<|startoftext|>"] == BOS and encoder["<|endoftext|>"] == EOS
    return encoder, merges


def write_tokenizer_folder(encoder, merges, folder, config=TOKENIZER_CONFIG, special=SPECIAL_TOKENS_MAP):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(encoder, ensure_ascii=False))
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    for name, obj in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        path = os.path.join(folder, name)
        if obj is None:
            if os.path.exists(path):
                os.remove(path)
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def check_against_open_clip(encoder, merges, tok):
    """The folder must be OpenAI's tokenizer: same ids, same merge ranks, same tokens on
    prompts where open_clip's ftfy/html/whitespace cleaning changes nothing."""
    from open_clip.tokenizer import SimpleTokenizer

    oc = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    assert {rename.get(k, k): v for k, v in oc.encoder.items()} == encoder
    assert oc.bpe_ranks == {m: i for i, m in enumerate(merges)}
    prompts = [
        "a photo of an astronaut riding a horse on mars",
        "a watercolor painting of a fox, trending on artstation, 4k",
        "portrait of a woman, highly detailed, digital art by greg rutkowski",
        "it's a dog's life! don't you'd we'll they've i'm",
        "1234567890 numbers 3.14159 and 2,000,000",
        "emoji 🦊🔥 and café naïve façade",
        "日本語のテキスト 中文 한국어",
        "unbelievably extraordinarily incomprehensibilities",
        "((masterpiece)), [best quality], {ultra detailed}, <lora:foo:0.8>",
        "cyberpunk city at night, neon lights, rain, blade runner style",
    ]
    for p in prompts:
        ours = tok(p).input_ids[1:-1]
        theirs = oc.encode(p)
        assert ours == theirs, (p, ours, theirs)


# ---- (b) the prompts ----------------------------------------------------------------

SD_PROMPTS = [
    "a photo of an astronaut riding a horse on mars",
    "A photograph of an astronaut riding a horse",
    "a beautiful landscape painting of a mountain lake at sunrise, oil on canvas",
    "portrait of a cyberpunk samurai, neon lights, highly detailed, 8k, octane render",
    "a cute corgi wearing a tiny wizard hat, studio lighting, bokeh",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile",
    "(masterpiece:1.2), (best quality:1.3), ultra-detailed, [[blurry]], {{sharp}}",
    "a fantasy castle on a floating island, concept art by Greg Rutkowski and Alphonse Mucha",
    "isometric low-poly diorama of a cozy coffee shop, pastel colors, trending on ArtStation",
    "A red sports car driving through a desert at golden hour, cinematic, anamorphic lens flare",
    "An oil painting of Van Gogh's Starry Night but with cats",
    "Steampunk airship above Victorian London, sepia, 35mm film grain",
    "macro photograph of a dew drop on a spider web, f/2.8, 100mm",
    "a bowl of ramen, food photography, 4k, HDR, delicious",
    "Studio Ghibli style village by the sea, summer, clouds",
    "ukiyo-e woodblock print of a great wave with Mt. Fuji in the background",
    "photo of a 1960s living room, Kodachrome, mid-century modern furniture",
    "RAW photo, a close-up portrait of a 70 y.o. fisherman, wrinkles, dslr, soft lighting",
    "<lora:detail_tweaker:0.5> a knight in shining armor, embedding:easynegative",
    "low quality, worst quality, bad anatomy, extra fingers, watermark, signature, jpeg artifacts",
    "a logo for a company called 'EdgeFusion', vector art, flat design, white background",
    "pixel art of a dragon, 16-bit, SNES style, 32x32 sprite",
    "hyperrealistic 3D render of a glass chess set, caustics, ray tracing, Unreal Engine 5",
    "black and white photo of New York City in 1920, street scene, people in hats",
    "a surreal dreamscape à la Salvador Dalí, melting clocks, desert",
    "the Eiffel Tower made of LEGO bricks, tilt-shift photography",
    "an astronaut lounging in a tropical resort in space, vaporwave",
    "A bear in a tuxedo playing the piano, 1920s jazz club, smoky",
    "Mona Lisa as a Pixar character, 3d, subsurface scattering",
    "a map of a fictional continent, parchment, hand-drawn, compass rose",
]

CONTRACTIONS = [
    "it's", "IT'S", "It'S", "don't", "DON'T", "they're", "THEY'RE", "we've", "I'm", "I'M", "you'll", "YOU'LL",
    "he'd", "HE'D", "it’s a dog’s life", "don‘t", "rock 'n' roll", "'sup", "'s'", "''s", "'''", "'tis the season",
    "O'Reilly's book", "the 90's", "'re'", "'ve'", "'ll'd", "x'sy", "ʼs", "it`s", "it´s", "'S", "'LL", "'Re",
    "don''t", "'\u0301s", "it's\u0301", "'ss", "'mm", "'dd'", "can't've", "y'all'd've", "'",
]

ACCENTS = [
    "café", "cafe\u0301", "CAFÉ", "CAFE\u0301", "naïve", "nai\u0308ve", "façade", "fac\u0327ade", "Ångström",
    "A\u030angstro\u0308m", "e\u0301\u0301\u0301", "a\u0323\u0302", "a\u0302\u0323", "ệ", "e\u0323\u0302", "e\u0302\u0323",
    "Ω", "\u2126", "K", "\u212b", "ǅungla", "ǲ", "ﬁre ﬂy", "ﬀ", "ǰ", "J\u030c", "ﾊﾝｶｸ", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "x\u0338", "≠", "\u2260", "=\u0338", "ḱṷṓn", "Ǖǖ", "\u1e9b\u0323", "q\u0307\u0323", "ŉ", "Å\u0316",
    "\u0301leading combining", "only marks \u0300\u0301\u0302\u0303", "a" + "\u0301\u0316" * 20,
    "\u0915\u093c", "\u0958", "\u09c7\u09be", "\u0b47\u0b3e", "\u0dd9\u0dcf\u0dca", "\u1100\u1161\u11a8", "\u1100\u1161", "각",
    "\u1112\u1161\u11ab\u1100\u1173\u11af", "한글",
]

SCRIPTS = [
    "日本語のテキスト", "東京タワーの夜景、美しい", "中文提示词：一只可爱的猫", "繁體中文測試", "한국어 프롬프트 테스트",
    "Привет, мир! Красивый пейзаж", "ПРИВЕТ МИР", "Ёлка ёжик", "Ελληνικά: ΟΔΥΣΣΕΥΣ", "ΣΑΣ σας ΣΟΦΟΣ σοφός",
    "ὈΔΥΣΣΕΎΣ", "ﬅ", "İstanbul", "İSTANBUL istanbul ıi Iİ", "DİYARBAKIR", "ß straße STRASSE ẞ",
    "Straße", "ŞİŞLİ", "العربية: قطة جميلة", "مرحبا بالعالم", "עברית: חתול יפה", "שָׁלוֹם", "हिन्दी में बिल्ली",
    "ภาษาไทย แมวน่ารัก", "Tiếng Việt: con mèo dễ thương", "ქართული", "Հայերեն", "ᏣᎳᎩ", "ꓲꓬꓜ", "𐐀𐐨 Deseret",
    "ᠮᠣᠩᠭᠣᠯ", "ትግርኛ", "தமிழ்", "བོད་ཡིག", "ᚠᚢᚦᚨᚱᚲ", "𓀀𓁐𓂀 hieroglyphs", "𝔉𝔯𝔞𝔨𝔱𝔲𝔯 𝐁𝐨𝐥𝐝 𝟙𝟚𝟛",
    "Ⅻ Ⅷ ⅻ", "①②③ ⑴ ⒈", "½ ¾ ⅞ ²³¹", "٠١٢٣٤٥٦٧٨٩", "०१२३", "〇一二三", "𝟎𝟏", "፩፪፫",
]

EMOJI = [
    "🦊", "🔥🔥🔥", "a 🦊 in the 🌲", "👍🏽", "👍🏿👍🏻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "👩🏽‍💻", "🧑‍🚀 astronaut",
    "❤️", "❤", "✌️✌🏾", "🇯🇵🇫🇷", "🇺🇸flag", "#️⃣ 1️⃣", "©️ ®️ ™", "😀😃😄😁😆😅😂🤣", "🫠🫡🫥", "🐈‍⬛",
    "emoji at end 🎉", "🎉emoji at start", "mixed🦊text🔥here", "👁️‍🗨️", "🧔‍♂️", "🙇‍♀️", "🤷🏻‍♂️",
    "\U0001F9D1\U0001F3FD\u200D\U0001F91D\u200D\U0001F9D1\U0001F3FB",
]

WHITESPACE = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r\x0b\x0c ", "\u00a0", "\u3000", "a\u00a0b", "a\u3000b",
    "a\u2003b\u2009c", "a\u200bb", "a\u200cb\u200dc", "\ufeffa", "a\u2060b", "a\u180eb", "a\u2028b\u2029c",
    "a\u0085b", "a\x1cb\x1dc\x1ed\x1fe", "  leading spaces", "trailing spaces   ", "\t\ttabs\tinside\t\t",
    "multiple\n\nnew\nlines\n", "a  b   c    d", "\u00a0\u00a0nbsp only\u00a0", "\u205f\u202f\u1680\u2000\u200a",
    " \u3000 ", "\u200b", "\u200b\u200b\u200b",
]

CONTROL = [
    "\x01\x02\x03", "bell\x07char", "esc\x1b[31mred\x1b[0m", "del\x7fete", "c1\x80\x9f", "\x0e\x0f",
    "tab\tand\x0bvt", "form\x0cfeed", "\u00ad soft hyphen", "bidi \u202e reversed \u202c", "\u2066isolate\u2069",
    "\ufffd replacement", "\ufffe\uffff", "\U0010ffff", "\ue000 private use", "\U000f0000",
]

PUNCT = [
    "!!!", "???!!!...", "...", "…", "——", "—", "--", "---", "a--b", "hello,world", "hello , world", "!?",
    "((((((((", "[[[[]]]]", "{}{}{}", "<>", "<<<>>>", "@@@", "###", "$$$100", "%%%", "^^^", "&&&", "***",
    "___", "+++", "===", "|||", "~~~", "```code```", "\"quoted\"", "“curly quotes”", "«guillemets»", "„German“",
    "¿Qué?", "¡Hola!", "a/b\\c", "C:\\Users\\test", "https://example.com/path?q=1&x=2#frag", "user@example.com",
    "#hashtag @mention", "a.b.c.d", "e.g. i.e. etc.", "3.14", "1,000,000", "1e-10", "-42", "+7", "50%",
    "$9.99", "€5", "£3", "¥1000", "12:30pm", "2024-01-15", "(555) 123-4567", "#ff00ff", "0xDEADBEEF",
    "v1.2.3-beta+build.5", "a.", ".a", "'", "\"", "«»", "·", "•", "★☆", "→←↑↓", "∑∏∫√∞", "°C", "™",
]

NUMBERS = [
    "0", "42", "1234567890", "00000", "3.14159265358979323846", "1,234,567.89", "1st 2nd 3rd 4th",
    "20x20", "4k 8K 1080p", "v2", "gpt4", "a1b2c3", "123abc456", "٣٤", "１２３", "²", "¼", "Ⅻ", "𝟗",
    "9" * 100,
]

HTML = [
    "&amp;", "&lt;div&gt;", "&quot;hello&quot;", "&#39;", "&#x27;s", "&nbsp;", "Tom &amp; Jerry", "&amp;amp;",
    "&copy; 2024", "&eacute;", "<b>bold</b>", "<img src=x onerror=alert(1)>", "a&b", "&#128512;",
]

SPECIALS = [
    "<|startoftext|>", "<|endoftext|>", "<|STARTOFTEXT|>", "<|ENDOFTEXT|>", "<|EndOfText|>",
    "a<|endoftext|>b", "a <|endoftext|> b", "<|endoftext|><|endoftext|>", "<|startoftext|>hello<|endoftext|>",
    "x<|startoftext|>!!", "a<|endoftext|>!!", "<<|endoftext|>>", "<|endoftext|>'s", "<|endoftext|>123",
    "<|endoftext", "endoftext|>", "<|end of text|>", "< |endoftext| >", "<|endoftext|>" * 10,
    "<|startoftext|>" * 40, "<|\u00a0endoftext|>", "<|ｅｎｄｏｆｔｅｘｔ|>", "<|endoftext|>\u0301", "\u0301<|endoftext|>",
    "<|endoftext|\u0338>", "<|startoftext|> a photo <|endoftext|> of a cat", "<start_of_text>", "<end_of_text>",
    "</w>", "a</w>b", "<|endoftext|></w>", "<|im_start|>", "[CLS] [SEP] [MASK] <s> </s> <pad> <unk>",
]

LONG_WORDS = [
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtsgesellschaftskapitän", "antidisestablishmentarianism" * 3,
    "a" * 300, "ab" * 200, "xyz" * 150, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    "the" * 120, "mississippi" * 30, "é" * 200, "日" * 200, "🦊" * 100, "!" * 500, "a!" * 300,
    "x" * 5000, "qwertyuiopasdfghjklzxcvbnm" * 40,
]

LONG_PROMPTS = [
    ", ".join(["a very detailed painting of a serene mountain landscape"] * 12),
    " ".join(f"word{i}" for i in range(200)),
    "masterpiece, " * 60,
    "a " * 1000,
    "best quality, ultra detailed, 8k, " * 30 + "<|endoftext|> tail that is dropped",
    "one two three four five six seven eight nine ten " * 8 + "END",
    " ".join(["cat"] * 74),
    " ".join(["cat"] * 75),
    " ".join(["cat"] * 76),
    " ".join(["cat"] * 75) + " dog",
    " ".join(["cat"] * 74) + " unbelievable",
    "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
    # more than 4096 code points before the 75th token (the C code normalizes in chunks)
    " " * 4095 + "\u0301\u0316 e\u0301 cat",
    "\u00a0" * 5000 + "CAFE\u0301 <|STARTOFTEXT|> x <|endoftext|> y",
    "word" + " " * 4094 + "\u0316\u0301a\u0315\u0300 b",
    ("a" + " " * 300) * 30,
    "\u3000" * 4100 + "\u0301\u0316b",
    "x" * 4095 + " " + "y" * 10 + " \u0301é",
    "\t\n" * 3000 + "İ Σ ß",
]

UNICODE_TABLES = [
    # Unicode 16 letters / numbers (Oniguruma knows them, utf8proc 2.8 does not)
    "a\u1c89b", "\u1c89\u1c8a", "x\ua7cbx", "\U000105c0\U000105c1", "\U00010d4a\U00010d50", "\U00010d40\U00010d41",
    "\U00016d40 \U00016d70", "\U0001e5d0\U0001e5f1", "\U00011380\U0001138b", "\U00013460", "\U0002ebf0\U0002ee5d",
    # Unicode 16/17 lowercase pairs (Rust knows them)
    "\u1c89", "\ua7cb\ua7cc\ua7dc", "\ua7ce\ua7d2\ua7d4\ua7da", "\U00010d50\U00010d65", "\U00016ea0\U00016eb8",
    # combining classes the reference's NFC does not know, and U+11935 U+11930
    "A\u0315\u07fd", "A\u07fd\u0334", "A\u07fd\u0300", "a\u0898\u0301", "e\u1ac0\u0301", "\U00011935\U00011930",
    "\U00011938", "o\u0315\U0001e4ec\u0301", "a\u1df6\u0300\u0316",
    # unassigned in Unicode 16, 17-only letters
    "\U00016ea0a", "\U00011b60", "\u0c5c", "\U000e01f0",
]

MIXED = [
    "The QUICK brown FOX jumps over the LAZY dog",
    "ALL CAPS PROMPT WITH NUMBERS 123 AND SYMBOLS !@#",
    "camelCaseWordsAndPascalCase", "snake_case_words_here", "kebab-case-words-here",
    "hello\u00a0world\u3000こんにちは\u200bworld",
    "Zürich über Ärger Öl", "ÀÉÎÕÜ àéîõü", "Ça va? Très bien!", "Ørsted Æsir œuvre ŒUVRE",
    "Łódź Kraków Gdańsk", "Český Krumlov", "Malmö Göteborg", "Reykjavík Þingvellir ð",
    "ǈ ǋ ǲ Ǆ ǅ ǆ", "ﬃ ﬄ ﬆ", "ÿ Ÿ", "µ Μ μ", "ſ", "K", "Å", "ϴ θ", "ς Σ σ", "ΐ", "ǰ",
    "𐐷𐑏", "Ꭰ ꭰ", "ᲀ ᲁ", "ǝ Ǝ", "Ɐ", "ȿ ɀ",
    "emoji🦊and日本語and العربية mixed",
    "a'b\"c`d", "he said: \"it's fine\" — didn't he?",
    "tab\tseparated\tvalues\t1\t2", "line1\nline2\r\nline3\rline4",
]


def random_prompts(n, seed=1234):
    """Random mixes of the character kinds that stress each stage."""
    rng = random.Random(seed)
    pool = (
        list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789")
        + list(" \t\n.,;:!?'\"()[]{}<>|/\\-_+=*&^%$#@~`")
        + ["'s", "'t", "'re", "'ll", "<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>"]
        + list("éèêëàâäôöûüçñßÆøåİıΣσςЖжא日本語한국🦊🔥")
        + ["\u0301", "\u0308", "\u0327", "\u0316", "\u0315", "\u200b", "\u00a0", "\u3000", "\u200d", "\U0001F3FD"]
        + ["\u1100", "\u1161", "\u11a8", "\ufb01", "\u2126", "\u212b", "\u1e9b", "\u0130", "\u01c5"]
    )
    out = []
    for i in range(n):
        k = rng.randint(1, 60 if i % 5 else 400)
        out.append("".join(rng.choice(pool) for _ in range(k)))
    return out


INVALID_UTF8 = [
    b"caf\xc3", b"\xff\xfe", b"\xed\xa0\x80", b"\xed\xbf\xbf\xed\xa0\x80", b"\xf0\x9f\x98", b"\xf0\x9f\x98a",
    b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80", b"\x80abc", b"a\xe2\x82b", b"\xe2\x82\xe2\x82\xac", b"\xbf\xbf\xbf",
    b"hello \xfe world", b"\xc3\x28", b"\xa0\xa1", b"\xe1\x80", b"\xf1\x80\x80", b"photo of a \xf0\x9f\xa6 fox",
    b"\xc3\xa9\xcc", b"e\xcc\x81\xcc", b"<|endoftext|\xff>",
]

# Other tokenizer_config.json / special_tokens_map.json with the same vocab and merges.
VARIANT_PROMPTS = [
    "hello world", "<|endoftext|>", "<|ENDOFTEXT|>", "<|startoftext|>", "<|STARTOFTEXT|>", "!!!", "wow! amazing!",
    "a<|endoftext|>!!<|startoftext|>", "Hello!World", "¡!", "<|endoftext|!>",
]


def variant_defs():
    def obj(content, normalized=None, special=None, typed=False):
        d = {"content": content, "single_word": False, "lstrip": False, "rstrip": False}
        if normalized is not None:
            d["normalized"] = normalized
        if special is not None:
            d["special"] = special
        if typed:
            d["__type"] = "AddedToken"
        return d

    sd2_map = dict(SPECIAL_TOKENS_MAP, pad_token="!")
    sd2_cfg = dict(TOKENIZER_CONFIG, pad_token="!")
    all_norm = dict(SPECIAL_TOKENS_MAP, pad_token=obj("<|endoftext|>", True))
    unk_off = dict(SPECIAL_TOKENS_MAP, unk_token=obj("<|endoftext|>", False), pad_token=obj("<|endoftext|>", True))
    decoder_cfg = {
        "added_tokens_decoder": {
            "49406": obj("<|startoftext|>", True, True),
            "49407": obj("<|endoftext|>", False, True),
        },
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "model_max_length": 77, "tokenizer_class": "CLIPTokenizer",
    }
    cfg_only = {k: v for k, v in TOKENIZER_CONFIG.items() if k != "pad_token"}
    short_cfg = dict(TOKENIZER_CONFIG, model_max_length=16)
    return [
        ("sd2_pad_bang", sd2_cfg, sd2_map),
        ("no_config_files", None, None),
        ("pad_normalized", TOKENIZER_CONFIG, all_norm),
        ("unk_not_normalized", TOKENIZER_CONFIG, unk_off),
        ("added_tokens_decoder", decoder_cfg, SPECIAL_TOKENS_MAP),
        ("config_only_no_pad", cfg_only, None),
        ("max_length_16", short_cfg, SPECIAL_TOKENS_MAP),
    ]


def all_prompts():
    groups = [SD_PROMPTS, CONTRACTIONS, ACCENTS, SCRIPTS, EMOJI, WHITESPACE, CONTROL, PUNCT, NUMBERS, HTML,
              SPECIALS, LONG_WORDS, LONG_PROMPTS, UNICODE_TABLES, MIXED]
    seen, out = set(), []
    for g in groups:
        for p in g:
            if p not in seen:
                seen.add(p)
                out.append(p)
    for p in [unicodedata.normalize(f, q) for q in ACCENTS[:20] for f in ("NFD", "NFKC")] + random_prompts(60):
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def encode(tok, text, max_length=None):
    n = max_length or tok.model_max_length
    ids = tok(text, padding="max_length", max_length=n, truncation=True).input_ids
    assert len(ids) == n
    return [int(i) for i in ids]


def slow_path_diffs(tok, prompts, limit=40):
    from open_clip.tokenizer import SimpleTokenizer

    oc = SimpleTokenizer()
    out = []
    for p in prompts:
        try:
            theirs = oc.encode(p)
        except Exception as e:  # noqa: BLE001 -- informational only
            theirs = f"error: {type(e).__name__}"
        ours = encode(tok, p)
        body = ours[1:ours.index(EOS, 1)] if EOS in ours[1:] else ours[1:]
        if theirs != body and len(out) < limit:
            out.append({"text": p, "transformers": body, "open_clip": theirs})
    return out


def dumps_one_per_line(obj):
    """JSON with each element of the top-level lists on its own line (readable diffs)."""
    def d(x):
        return json.dumps(x, ensure_ascii=True, separators=(",", ":"))
    parts = []
    for k, v in obj.items():
        if isinstance(v, list):
            inner = ",\n  ".join(d(x) for x in v)
            parts.append(f"{d(k)}: [\n  {inner}\n]" if v else f"{d(k)}: []")
        else:
            parts.append(f"{d(k)}: {d(v)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main():
    from transformers import CLIPTokenizer

    encoder, merges = build_vocab_and_merges()
    write_tokenizer_folder(encoder, merges, TOK_DIR)
    tok = CLIPTokenizer.from_pretrained(TOK_DIR)
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.model_max_length) == (BOS, EOS, EOS, 77)
    check_against_open_clip(encoder, merges, tok)

    prompts = all_prompts()
    assert len(prompts) >= 250, len(prompts)
    for p in prompts:
        assert "\x00" not in p   # the C API takes NUL-terminated text
    cases = [{"text": p, "ids": encode(tok, p)} for p in prompts]
    invalid = [{"hex": b.hex(), "ids": encode(tok, b.decode("utf-8", "replace"))} for b in INVALID_UTF8]

    variants = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg, special in variant_defs():
            folder = os.path.join(tmp, name)
            write_tokenizer_folder(encoder, merges, folder, cfg, special)
            vt = CLIPTokenizer.from_pretrained(folder)
            n = vt.model_max_length if vt.model_max_length <= 65536 else 77
            variants.append({
                "name": name, "tokenizer_config": cfg, "special_tokens_map": special, "max_length": n,
                "bos": vt.bos_token_id, "eos": vt.eos_token_id, "pad": vt.pad_token_id,
                "cases": [{"text": p, "ids": encode(vt, p, n)} for p in VARIANT_PROMPTS],
            })
            shutil.rmtree(folder)

    out = {
        "format_version": 1,
        "tokenizer": "clip-tokenizer",
        "max_length": 77,
        "cases": cases,
        "invalid_utf8": invalid,
        "variants": variants,
        "slow_path_differs": slow_path_diffs(tok, prompts),
    }
    with open(os.path.join(FIX, "tokens.json"), "w", encoding="ascii") as f:
        f.write(dumps_one_per_line(out))
    print(f"wrote {TOK_DIR} and tokens.json: {len(cases)} cases, {len(invalid)} invalid-UTF-8 cases, "
          f"{len(variants)} variants, {len(out['slow_path_differs'])} slow-path differences recorded")


if __name__ == "__main__":
    main()
