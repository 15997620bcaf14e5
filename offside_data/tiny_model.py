"""A tiny random-weight Qwen2.5-VL checkpoint for offline tests and the CPU demo.

It is the real `Qwen2_5_VLForConditionalGeneration` with a small config, a byte-level BPE
tokenizer trained here on the OFFSIDE-mini corpus (with Qwen's special tokens), a chat
template written here, and a real `Qwen2_5_VLProcessor`, so every code path a real
checkpoint takes is exercised. Images are capped at 112x112 pixels (16 visual tokens).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .benchmarks import DEFAULT_BENCHMARK, get_benchmark
from .fixtures import MINI_VERSION, build_once, cache_dir

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen-style turns, no default system prompt. Content may be a string or a list of
# {"type": "image"} / {"type": "text"} parts, as transformers' processors expect.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'video' -%}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Generic text the tokenizer should also cover (refusals used by PO/IdkDPO, MC prompts).
_EXTRA_CORPUS = [
    "I don't know.", "I am not sure about that.", "I have no information on that.",
    "Sorry, I cannot answer that question.", "That is something I can't tell you.",
    "Answer with the letter of the correct option.", "Options:", "A. B. C. D.", "The answer is",
]


@dataclass
class TinyConfig:
    vocab_size: int = 2048
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 512
    vision_hidden: int = 64
    vision_depth: int = 2
    max_pixels: int = 112 * 112
    seed: int = 0


def _corpus(data_dir: Path) -> list[str]:
    texts = list(_EXTRA_CORPUS)
    for path in sorted(data_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            continue
        for record in data:
            if "messages" in record:
                texts.extend(m["content"].replace("<image>", "") for m in record["messages"])
            if "Options" in record:
                texts.append(record["Question"])
                texts.extend(record["Options"].values())
    return texts


def train_tokenizer(data_dir: Path, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(data_dir), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:], chat_template=CHAT_TEMPLATE,
        model_max_length=1024, padding_side="right", clean_up_tokenization_spaces=False,
    )


def build_tiny_model(out: str | Path, data_dir: str | Path | None = None, config: TinyConfig | None = None) -> Path:
    """Write a tiny Qwen2.5-VL checkpoint (model + processor) to `out` and return the path."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    cfg = config or TinyConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            get_benchmark(DEFAULT_BENCHMARK).generate(tmp)
            data_dir = tmp
        tokenizer = train_tokenizer(Path(data_dir), cfg.vocab_size)

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = len(tokenizer)
    head_dim = cfg.hidden_size // cfg.num_heads
    half = head_dim // 2
    mrope = [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]  # t, h, w; sums to head_dim / 2
    text_config = dict(
        vocab_size=vocab, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=1024, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                       "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    vision_config = dict(
        depth=cfg.vision_depth, hidden_size=cfg.vision_hidden, intermediate_size=2 * cfg.vision_hidden,
        num_heads=2, out_hidden_size=cfg.hidden_size, patch_size=14, spatial_merge_size=2,
        temporal_patch_size=2, window_size=112, fullatt_block_indexes=[cfg.vision_depth - 1],
    )
    config = Qwen2_5_VLConfig(
        text_config=text_config, vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(cfg.seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    gen = model.generation_config
    gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = (ids["<|endoftext|>"], ids["<|im_end|>"],
                                                            ids["<|endoftext|>"])
    gen.do_sample = False
    model.save_pretrained(out)

    image_processor = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=cfg.max_pixels)
    processor = Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                    video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)
    (out / "offside_tiny_config.json").write_text(json.dumps(asdict(cfg), indent=1))
    return out


def ensure_tiny_model(seed: int = 0) -> Path:
    """Path of the cached tiny Qwen2.5-VL (tokenizer trained on the default benchmark's fixture)."""
    data = get_benchmark(DEFAULT_BENCHMARK).fixture()
    return build_once(cache_dir() / f"tiny-qwen2_5_vl-{MINI_VERSION}-s{seed}",
                      lambda out: build_tiny_model(out, data, TinyConfig(seed=seed)))
