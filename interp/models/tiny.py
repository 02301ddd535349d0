"""Tiny random-weight models of the real architectures, built offline from config.

Tests and the demo run on these: the real Qwen2 / Gemma 3 code paths (grouped-query attention,
Gemma's √d embedding scale, sliding-window and global layers, the multimodal wrapper with its
decoder under `language_model`) at a size a 2-core CPU runs in milliseconds. Each model is saved
with `save_pretrained` into a cache folder, so HF `from_pretrained`, `interp.load_model` and
TransformerLens `TransformerBridge.boot_transformers` all load it like a downloaded checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from interp.errors import ModelError
from interp.io.atomic import atomic_folder

__all__ = ["TINY_ARCHS", "build_tiny", "cache_root", "default_corpus", "interp_cache", "tiny", "tiny_config", "train_local_tokenizer"]

TINY_VERSION = 1
TINY_ARCHS = ("qwen2", "gemma3", "gemma3-mm")
_IMAGE_TOKENS = ("<start_of_image>", "<end_of_image>", "<image_soft_token>")

LOCAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def interp_cache() -> Path:
    """interp's cache folder: $INTERP_CACHE, else ~/.cache/interp."""
    return Path(os.environ.get("INTERP_CACHE") or Path.home() / ".cache" / "interp")


def cache_root() -> Path:
    """Where tiny models are kept: <interp cache>/tiny."""
    return interp_cache() / "tiny"


def default_corpus() -> list[str]:
    """The built-in training text of the local tokenizer: rendered confidence prompts of the demo
    trials, the class labels and a few trivia sentences (packaged as tiny_corpus.json, so this
    module needs no template)."""
    return json.loads((Path(__file__).parent / "tiny_corpus.json").read_text(encoding="utf-8"))


def train_local_tokenizer(vocab_size: int = 1024, corpus: Sequence[str] | None = None):
    """A small byte-level BPE trained on `corpus` (default `default_corpus()`), with BOS and a
    chat template.

    Byte-level, so any text encodes; offsets include the leading space like Qwen's. Its chat
    template starts with the BOS text, like Gemma's, so rendered chat text must be tokenised
    without adding special tokens. Deterministic.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|bos|>", "<|eos|>", "<|pad|>", "<|end|>", "<|user|>", "<|assistant|>", *_IMAGE_TOKENS]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(corpus) if corpus is not None else default_corpus(), trainer)
    bos_id = backend.token_to_id("<|bos|>")
    backend.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", bos_id)]
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        extra_special_tokens=dict(zip(("boi_token", "eoi_token", "image_token"), _IMAGE_TOKENS)),
        chat_template=LOCAL_CHAT_TEMPLATE,
    )
    tokenizer.padding_side = "left"
    return tokenizer


def _padded_vocab(tokenizer) -> int:
    """Embedding rows: the tokenizer's size rounded up to a multiple of 64 (real models pad too)."""
    return -(-len(tokenizer) // 64) * 64


def _image_token_ids(tokenizer) -> dict[str, int]:
    """Gemma's image token ids, which the multimodal config needs; the tokenizer must have them."""
    ids = {}
    for key, token in zip(("boi_token_index", "eoi_token_index", "image_token_index"), _IMAGE_TOKENS):
        found = tokenizer.convert_tokens_to_ids(token)
        if found is None or found == tokenizer.unk_token_id:
            raise ModelError(
                f"tiny gemma3-mm needs a tokenizer with Gemma's image tokens {_IMAGE_TOKENS}; "
                f"{tokenizer.name_or_path!r} lacks {token!r}"
            )
        ids[key] = int(found)
    return ids


def _save_processor(tokenizer, folder: Path) -> None:
    """Save a Gemma3Processor (PIL image processor) beside a multimodal tiny model.

    Loaders such as TransformerLens look for a processor next to a multimodal checkpoint and,
    when none loads, try to pip-install torchvision at run time; a real processor avoids that.
    """
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    image_processor = Gemma3ImageProcessor(size={"height": 28, "width": 28}, image_seq_length=4)
    Gemma3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4, chat_template=tokenizer.chat_template
    ).save_pretrained(folder)


def tiny_config(arch: str, tokenizer):
    """HF config of a tiny model of `arch` whose embedding rows cover `tokenizer`."""
    from transformers import Gemma3Config, Gemma3TextConfig, Qwen2Config, SiglipVisionConfig

    shared = {
        "vocab_size": _padded_vocab(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "initializer_range": 0.1,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "qwen2":
        return Qwen2Config(num_hidden_layers=4, rope_theta=1e6, tie_word_embeddings=False, **shared)
    text = Gemma3TextConfig(num_hidden_layers=6, head_dim=16, query_pre_attn_scalar=16, sliding_window=16, **shared)
    if arch == "gemma3":
        return text
    if arch == "gemma3-mm":
        vision = SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
        )
        return Gemma3Config(
            text_config=text,
            vision_config=vision,
            mm_tokens_per_image=4,
            initializer_range=0.1,
            **_image_token_ids(tokenizer),
            **{k: shared[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")},
        )
    raise ModelError(f"tiny arch {arch!r} is not one of {', '.join(TINY_ARCHS)}")


def _load_tokenizer(tokenizer, corpus: Sequence[str] | None = None):
    from transformers import AutoTokenizer

    if tokenizer is None:
        return train_local_tokenizer(corpus=corpus), "local-bpe" if corpus is None else "local-bpe-custom"
    if isinstance(tokenizer, (str, os.PathLike)):
        return AutoTokenizer.from_pretrained(str(tokenizer)), str(tokenizer)
    return tokenizer, getattr(tokenizer, "name_or_path", type(tokenizer).__name__)


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_tiny(
    arch: str,
    tokenizer=None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    corpus: Sequence[str] | None = None,
) -> Path:
    """Build (or reuse) a tiny random-weight model and return its folder.

    Args:
        arch: "qwen2" (Qwen2ForCausalLM), "gemma3" (Gemma3ForCausalLM with 5 sliding-window
            layers of window 16 and 1 global layer) or "gemma3-mm" (Gemma3ForConditionalGeneration
            with a one-layer SigLIP tower, used text-only).
        tokenizer: a tokenizer folder (e.g. the real ones in shared/models), a tokenizer object,
            or None for a small byte-level BPE trained locally on `corpus`.
        seed: torch seed for the random weights; same seed and tokenizer → identical weights.
        cache_dir: parent folder; default `cache_root()`.
        corpus: training text of the local tokenizer (default `default_corpus()`).

    Returns:
        A folder holding config.json, model.safetensors and the tokenizer files.
    """
    import transformers

    if arch not in TINY_ARCHS:
        raise ModelError(f"tiny arch {arch!r} is not one of {', '.join(TINY_ARCHS)}")
    tok, source = _load_tokenizer(tokenizer, corpus)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    config = tiny_config(arch, tok)
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        tok.save_pretrained(scratch)
        config.save_pretrained(scratch)
        key = _folder_digest(Path(scratch))
    folder = root / f"{arch}-v{TINY_VERSION}-{key}-seed{seed}"
    if (folder / "config.json").exists():
        return folder

    model_class = {
        "qwen2": transformers.Qwen2ForCausalLM,
        "gemma3": transformers.Gemma3ForCausalLM,
        "gemma3-mm": transformers.Gemma3ForConditionalGeneration,
    }[arch]
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = model_class(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    with atomic_folder(folder) as staging:
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        if arch == "gemma3-mm":
            _save_processor(tok, staging)
        (staging / "interp_tiny.json").write_text(
            json.dumps({"arch": arch, "seed": seed, "tokenizer": source, "version": TINY_VERSION}, indent=2)
        )
    return folder


tiny = build_tiny
"""`tiny(arch, tokenizer=None, seed=0)`: the folder of a tiny model (see `build_tiny`)."""
