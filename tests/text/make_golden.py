#!/usr/bin/env python3
"""Produce the tokenizer fixtures and golden files under tests/text/.

Run with the reference venv (transformers, tokenizers, gguf, jinja2):

    /opt/sri-ref/bin/python tests/text/make_golden.py

Outputs:
- fixtures/smollm2/: SmolLM2-135M-Instruct's tokenizer, rebuilt from the GGUF file.
- fixtures/llama3/ and fixtures/qwen2/: small BPE vocabularies trained here with the real
  pre-tokenizers and special tokens of Llama 3 and Qwen2.
- golden/tokenize.json: ids and decoded strings for corpus.json per tokenizer, and the NFC form
  of each corpus entry.
- golden/chat.json: rendered chat prompts and prompt ids per template.
The golden files also cover the tokenizers of the tiny LLaDA and Dream checkpoints in
tests/e2e/data/, which tests/e2e/make_diffusion_fixtures.py writes; run that script first.
The golden files name the library versions that produced them. Rerunning the script regenerates
everything; training is deterministic, so unchanged inputs give unchanged fixtures.
"""

import json
import os
import sys
import tempfile
import unicodedata
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
TEMPLATES = HERE / "templates"
E2E_DATA = HERE.parent / "e2e" / "data"
MODEL_CACHE = Path(os.environ.get("SRI_MODEL_CACHE", Path.home() / ".cache/sri/models"))
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Pre-tokenizer patterns of the real tokenizer.json files (Meta-Llama-3 and Qwen2/Qwen2.5).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

SYSTEM = "You are a helpful assistant"
# LLaDA's template strips each message, so its cases add a system message with whitespace around it.
PADDED_SYSTEM = "  You are a helpful assistant\n"
CHAT_PROMPTS = [
    "Write a poem about the sea.",
    "How do I make a cake?",
    "  Explain recursion.  \n",
    "Führer, café, 東京, 🙂 and <|im_start|> inside text",
    "Line one\n\nLine two\twith tab",
    "",
]


def training_text():
    """Return a deterministic training corpus: Alpaca instructions plus multilingual lines."""
    lines = []
    alpaca = HERE.parent.parent.parent / "shared/data/prompts/alpaca.json"
    if alpaca.exists():
        rows = json.loads(alpaca.read_text())
        lines += [row["instruction"] for row in rows[:4000]]
    lines += json.loads((HERE / "corpus.json").read_text())
    lines += ["Le café est très bon à Paris, n'est-ce pas ? Çà et là, où êtes-vous ?",
              "Der Führer der Gruppe fährt über die Brücke. Grüße aus München!",
              "東京は日本の首都です。中文文本测试，你好世界。한국어 문장입니다.",
              "Числа 12345 и 67890; numbers 3.14159, 2024-06-01, $1,000,000.",
              "def main():\n    return 0\n\n\nif __name__ == '__main__':\n    main()\n",
              "I'M sure you'RE right, we'VE seen it, don't worry, he'll come, she'd go."] * 20
    return lines


def train_bpe(pattern, specials, extra_added, ignore_merges, normalizer, bos):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(training_text(), trainer=trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_tokens(extra_added)
    if bos:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, bos_id)]),
        ])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def write_minified(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(text)
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def make_smollm2():
    """Rebuild SmolLM2's tokenizer.json from the GGUF metadata with transformers.

    transformers' GGUF converter writes a plain ByteLevel pre-tokenizer, but SmolLM2's published
    tokenizer.json is Sequence[Digits(individual_digits), ByteLevel(use_regex)] (GGUF
    `tokenizer.ggml.pre = "smollm"` names that pipeline), so the pre-tokenizer is set to it here.
    """
    gguf_path = MODEL_CACHE / SMOLLM2_GGUF
    hf = transformers.AutoTokenizer.from_pretrained(str(MODEL_CACHE), gguf_file=SMOLLM2_GGUF)
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        data = json.loads((Path(tmp) / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    write_minified(FIXTURES / "smollm2/tokenizer.json", json.dumps(data))
    write_config("smollm2", hf.bos_token, hf.eos_token, hf.chat_template)
    return gguf_path


def write_config(name, bos, eos, chat_template):
    """Write the tokenizer_config.json fields sri reads: BOS, EOS and the chat template."""
    config = {"bos_token": bos, "eos_token": eos, "chat_template": chat_template}
    (FIXTURES / name / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1) + "\n",
                                                           encoding="utf-8")


def make_fixtures():
    make_smollm2()
    llama = train_bpe(LLAMA3_PATTERN, LLAMA3_SPECIALS,
                      [AddedToken("[LSTRIP]", lstrip=True, special=True, normalized=False),
                       AddedToken("[RSTRIP]", rstrip=True, special=False, normalized=False),
                       AddedToken("wordword", single_word=True, special=False, normalized=False)],
                      ignore_merges=True, normalizer=None, bos="<|begin_of_text|>")
    write_minified(FIXTURES / "llama3/tokenizer.json", llama.to_str())
    write_config("llama3", "<|begin_of_text|>", "<|eot_id|>", (TEMPLATES / "llama3.1.jinja").read_text())
    qwen = train_bpe(QWEN2_PATTERN, QWEN2_SPECIALS, [], ignore_merges=False,
                     normalizer=normalizers.NFC(), bos=None)
    write_minified(FIXTURES / "qwen2/tokenizer.json", qwen.to_str())
    write_config("qwen2", None, "<|im_end|>", (TEMPLATES / "qwen2.5.jinja").read_text())


# Pre-tokenizer variants run on an existing fixture, to cover pre-tokenizer options that the three
# families do not use (ByteLevel add_prefix_space, Digits without individual_digits, String splits).
PRE_TOKENIZER_VARIANTS = {
    "smollm2_prefix_space": ("smollm2", {
        "type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}),
    "llama3_digit_runs_string_split": ("llama3", {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": False},
        {"type": "Split", "pattern": {"String": "a"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}),
}


def tokenizer_golden(path, corpus, pre_tokenizer=None):
    if pre_tokenizer is None:
        tok = Tokenizer.from_file(str(path))
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["pre_tokenizer"] = pre_tokenizer
        tok = Tokenizer.from_str(json.dumps(data))
    cases = []
    for text in corpus:
        plain = tok.encode(text, add_special_tokens=False).ids
        with_special = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": plain, "ids_with_special": with_special,
                      "decoded": tok.decode(plain, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(plain, skip_special_tokens=True)})
    result = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases}
    if pre_tokenizer is not None:
        result["fixture"] = path.parent.name
        result["pre_tokenizer"] = pre_tokenizer
    return result


def as_ids(result):
    if isinstance(result, dict) or hasattr(result, "keys"):
        result = result["input_ids"]
    return list(result)


def chat_golden(tokenizer_path, template_path, bos, eos, systems=(SYSTEM, None)):
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_path), bos_token=bos, eos_token=eos)
    template = template_path.read_text(encoding="utf-8")
    hf.chat_template = template
    cases = []
    for prompt in CHAT_PROMPTS:
        for system in systems:
            messages = ([{"role": "system", "content": system}] if system is not None else []) + \
                       [{"role": "user", "content": prompt}]
            text = hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = as_ids(hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
            reference_ids = hf(text)["input_ids"]  # add_special_tokens=True, as the reference does
            cases.append({"user": prompt, "system": system, "rendered": text, "ids": ids,
                          "reference_double_bos_ids": reference_ids})
    return {"template": template_path.name, "tokenizer": os.path.relpath(tokenizer_path, HERE),
            "bos_token": bos, "eos_token": eos, "cases": cases}


def main():
    if "--no-fixtures" not in sys.argv:
        make_fixtures()
    corpus = json.loads((HERE / "corpus.json").read_text(encoding="utf-8"))
    versions = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "python": sys.version.split()[0]}
    GOLDEN.mkdir(exist_ok=True)
    tokenize = {"producer": "tests/text/make_golden.py", "reference": versions, "tokenizers": {
        name: tokenizer_golden(FIXTURES / name / "tokenizer.json", corpus)
        for name in ("smollm2", "llama3", "qwen2")},
        "pre_tokenizer_variants": {
            name: tokenizer_golden(FIXTURES / base / "tokenizer.json", corpus, pre)
            for name, (base, pre) in PRE_TOKENIZER_VARIANTS.items()},
        "diffusion_fixtures": {
            name: dict(tokenizer_golden(E2E_DATA / name / "tokenizer.json", corpus),
                       tokenizer=os.path.relpath(E2E_DATA / name / "tokenizer.json", HERE))
            for name in ("llada-tiny-chat", "dream-tiny-chat")},
        "nfc": [{"text": text, "nfc": unicodedata.normalize("NFC", text)} for text in corpus],
        "unicode_version": unicodedata.unidata_version}
    (GOLDEN / "tokenize.json").write_text(json.dumps(tokenize, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    chat = {"producer": "tests/text/make_golden.py", "reference": versions, "templates": [
        chat_golden(FIXTURES / "smollm2/tokenizer.json", TEMPLATES / "smollm2.jinja", "<|im_start|>", "<|im_end|>"),
        chat_golden(FIXTURES / "qwen2/tokenizer.json", TEMPLATES / "qwen2.5.jinja", None, "<|im_end|>"),
        chat_golden(FIXTURES / "llama3/tokenizer.json", TEMPLATES / "llama3.1.jinja", "<|begin_of_text|>", "<|eot_id|>"),
        chat_golden(FIXTURES / "llama3/tokenizer.json", TEMPLATES / "llama3.3.jinja", "<|begin_of_text|>", "<|eot_id|>"),
        chat_golden(E2E_DATA / "llada-tiny-chat/tokenizer.json", TEMPLATES / "llada.jinja", "<|startoftext|>",
                    "<|endoftext|>", systems=(SYSTEM, PADDED_SYSTEM, None)),
        # Dream-v0-Instruct-7B's own template text was not found; its fixture carries Qwen2.5's.
        chat_golden(E2E_DATA / "dream-tiny-chat/tokenizer.json", TEMPLATES / "qwen2.5.jinja", None, "<|endoftext|>"),
    ]}
    (GOLDEN / "chat.json").write_text(json.dumps(chat, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
