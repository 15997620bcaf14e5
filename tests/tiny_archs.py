"""Tiny random-weight checkpoints of twelve transformers MLLM architectures, built offline.

Each is the real model and processor class with a tiny config, the tiny Qwen2.5-VL's locally
trained BPE tokenizer given the architecture's special tokens (and its BOS behaviour: Llama and
Gemma tokenizers add BOS), and a chat template written after the real checkpoint's
(`tiny_templates`). Images are small (28-56 px), so one image is 1-16 tokens.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tiny_templates as templates

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, tie_word_embeddings=False)
QWEN_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
MROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
SIGLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, patch_size=14)
VERSION = 1  # bump when a checkpoint changes, so a kept $OFFSIDE_CACHE rebuilds it
ROW_COL = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]


@dataclass(frozen=True)
class Arch:
    """What a checkpoint's tokenizer needs and how its model and processor are built."""

    build: Callable  # (tokenizer, template) -> (model, processor)
    template: str | None
    eos: str  # end of the assistant turn
    tokens: list[str] = field(default_factory=list)  # extra special tokens
    named: dict[str, str] = field(default_factory=dict)  # tokenizer attributes processors read (boi_token, ...)
    bos: str | None = None
    add_bos: bool = False  # the tokenizer adds BOS (Llama, Gemma) -- the template may write it too
    pad: str = "<|endoftext|>"
    text_only: bool = True  # the processor takes prompts without an image (PaliGemma's does not)


def _ids(tok, *tokens):
    return [tok.convert_tokens_to_ids(t) for t in tokens]


def _text(tok, **extra) -> dict:
    return {**TEXT, "vocab_size": len(tok), "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id, **extra}


def _qwen_ids(tok) -> dict:
    start, end, image, video = _ids(tok, *QWEN_TOKENS)
    return dict(image_token_id=image, video_token_id=video, vision_start_token_id=start, vision_end_token_id=end)


def _qwen2_like(tok, template, prefix: str, vision: dict):
    import transformers as tf

    config = getattr(tf, f"{prefix}Config")(text_config=_text(tok, rope_parameters=MROPE), vision_config=vision,
                                            **_qwen_ids(tok))
    processor = getattr(tf, f"{prefix}Processor")(
        image_processor=tf.Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56), tokenizer=tok,
        video_processor=tf.Qwen2VLVideoProcessor(), chat_template=template)
    return getattr(tf, f"{prefix}ForConditionalGeneration")(config), processor


QWEN2_VISION = dict(depth=1, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2)
QWEN2_5_VISION = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, window_size=112,
                      fullatt_block_indexes=[0])


def _qwen3_vl(tok, template):
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                  num_position_embeddings=16, deepstack_visual_indexes=[0])
    rope = {**MROPE, "mrope_interleaved": True}
    config = Qwen3VLConfig(text_config=_text(tok, rope_parameters=rope), vision_config=vision, **_qwen_ids(tok))
    image_processor = Qwen2VLImageProcessor(patch_size=16, merge_size=2,
                                                size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64})
    processor = Qwen3VLProcessor(image_processor=image_processor, tokenizer=tok,
                                 video_processor=Qwen3VLVideoProcessor(patch_size=16), chat_template=template)
    return Qwen3VLForConditionalGeneration(config), processor


def _clip(size):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                            image_size=size, patch_size=14, projection_dim=32)


def _llava(tok, template):
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    config = LlavaConfig(vision_config=_clip(56), text_config=_text(tok, model_type="llama"),
                         image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=template)
    return LlavaForConditionalGeneration(config), processor


def _llava_next(tok, template):
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor

    pinpoints = [[28, 28], [28, 56], [56, 28]]
    config = LlavaNextConfig(vision_config=_clip(28), text_config=_text(tok, model_type="mistral"),
                             image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=pinpoints,
                             vision_feature_select_strategy="default", vision_feature_layer=-1)
    image_processor = LlavaNextImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28},
                                              image_grid_pinpoints=pinpoints)
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tok, patch_size=14,
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                   chat_template=template)
    return LlavaNextForConditionalGeneration(config), processor


def _llava_onevision(tok, template):
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        SiglipVisionConfig,
    )

    pinpoints = [[28, 28], [28, 56], [56, 28]]
    image, video = _ids(tok, "<image>", "<video>")
    config = LlavaOnevisionConfig(vision_config=SiglipVisionConfig(image_size=28, **SIGLIP),
                                  text_config=_text(tok, model_type="qwen2"), image_token_index=image,
                                  video_token_index=video, image_grid_pinpoints=pinpoints)
    image_processor = LlavaOnevisionImageProcessor(size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints)
    processor = LlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tok,
                                        video_processor=LlavaOnevisionVideoProcessor(), num_image_tokens=4,
                                        vision_feature_select_strategy="full", chat_template=template)
    return LlavaOnevisionForConditionalGeneration(config), processor


def _internvl(tok, template):
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=[56, 56], patch_size=[14, 14])
    config = InternVLConfig(vision_config=vision, text_config=_text(tok, model_type="qwen2"),
                            image_token_id=tok.context_image_token_id, image_seq_length=4, tie_word_embeddings=False)
    image_processor = GotOcr2ImageProcessor(size={"height": 56, "width": 56}, max_patches=2)
    processor = InternVLProcessor(image_processor=image_processor, tokenizer=tok,
                                  video_processor=InternVLVideoProcessor(), image_seq_length=4, chat_template=template)
    return InternVLForConditionalGeneration(config), processor


def _idefics3_like(tok, template, prefix: str):
    import transformers as tf

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=56, patch_size=14)
    config = getattr(tf, f"{prefix}Config")(vision_config=vision, text_config=_text(tok, model_type="llama"),
                                            image_token_id=tok.convert_tokens_to_ids("<image>"), scale_factor=2)
    image_processor = getattr(tf, f"{prefix}ImageProcessor")(
        do_image_splitting=False, size={"longest_edge": 56}, max_image_size={"longest_edge": 56})
    extra = {"video_processor": tf.SmolVLMVideoProcessor()} if prefix == "SmolVLM" else {}
    processor = getattr(tf, f"{prefix}Processor")(image_processor=image_processor, tokenizer=tok, image_seq_len=4,
                                                  chat_template=template, **extra)
    return getattr(tf, f"{prefix}ForConditionalGeneration")(config), processor


def _gemma3(tok, template):
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        SiglipVisionConfig,
    )

    text = _text(tok, model_type="gemma3_text", query_pre_attn_scalar=16, sliding_window=32)
    config = Gemma3Config(text_config=text, vision_config=SiglipVisionConfig(image_size=56, **SIGLIP),
                          mm_tokens_per_image=4, boi_token_index=tok.boi_token_id, eoi_token_index=tok.eoi_token_id,
                          image_token_index=tok.image_token_id, tie_word_embeddings=False)
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessor(size={"height": 56, "width": 56}),
                                tokenizer=tok, image_seq_length=4, chat_template=template)
    return Gemma3ForConditionalGeneration(config), processor


def _mllama(tok, template):
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessor, MllamaProcessor

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                  attention_heads=2, vision_output_dim=64, image_size=28, patch_size=14, max_num_tiles=2,
                  intermediate_layers_indices=[0], supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]])
    text = _text(tok, num_hidden_layers=3, cross_attention_layers=[1])
    config = MllamaConfig(vision_config=vision, text_config=text,
                          image_token_index=tok.convert_tokens_to_ids("<|image|>"))
    image_processor = MllamaImageProcessor(size={"height": 28, "width": 28}, max_image_tiles=2)
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tok, chat_template=template)
    return MllamaForConditionalGeneration(config), processor


def _paligemma(tok, template):
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
        SiglipVisionConfig,
    )

    image_processor = SiglipImageProcessor(size={"height": 28, "width": 28})
    image_processor.image_seq_length = 4
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)  # adds <loc>/<seg> tokens
    config = PaliGemmaConfig(vision_config=SiglipVisionConfig(image_size=28, projection_dim=64, **SIGLIP),
                             text_config=_text(tok, model_type="gemma"), projection_dim=64, hidden_size=64,
                             image_token_index=tok.convert_tokens_to_ids("<image>"), tie_word_embeddings=False)
    return PaliGemmaForConditionalGeneration(config), processor


LLAMA3 = dict(bos="<|begin_of_text|>", add_bos=True)
ARCHS: dict[str, Arch] = {
    "qwen2_vl": Arch(lambda tok, t: _qwen2_like(tok, t, "Qwen2VL", QWEN2_VISION), templates.QWEN, "<|im_end|>",
                     QWEN_TOKENS),
    "qwen2_5_vl": Arch(lambda tok, t: _qwen2_like(tok, t, "Qwen2_5_VL", QWEN2_5_VISION), templates.QWEN, "<|im_end|>",
                       QWEN_TOKENS),
    "qwen3_vl": Arch(_qwen3_vl, templates.QWEN, "<|im_end|>", QWEN_TOKENS),
    "llava": Arch(_llava, templates.LLAVA, "</s>", ["<image>"], bos="<s>", add_bos=True),
    "llava_next": Arch(_llava_next, templates.LLAVA_NEXT, "</s>", ["<image>"], bos="<s>", add_bos=True),
    "llava_onevision": Arch(_llava_onevision, templates.LLAVA_ONEVISION, "<|im_end|>", ["<image>", "<video>"]),
    "internvl": Arch(_internvl, templates.INTERNVL, "<|im_end|>",
                     named={"start_image_token": "<img>", "end_image_token": "</img>",
                            "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}),
    "idefics3": Arch(lambda tok, t: _idefics3_like(tok, t, "Idefics3"), templates.IDEFICS3, "<end_of_utterance>",
                     ["<fake_token_around_image>", "<image>", "<global-img>", *ROW_COL], **LLAMA3),
    "smolvlm": Arch(lambda tok, t: _idefics3_like(tok, t, "SmolVLM"), templates.SMOLVLM, "<end_of_utterance>",
                    ["<fake_token_around_image>", "<image>", "<global-img>", *ROW_COL], bos="<|im_start|>"),
    "gemma3": Arch(_gemma3, templates.GEMMA3, "<end_of_turn>", ["<start_of_turn>"],
                   named={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                          "image_token": "<image_soft_token>"}, bos="<bos>", add_bos=True, pad="<pad>"),
    "mllama": Arch(_mllama, templates.MLLAMA, "<|eot_id|>",
                   ["<|image|>", "<|python_tag|>", "<|start_header_id|>", "<|end_header_id|>"], **LLAMA3),
    "paligemma": Arch(_paligemma, None, "<eos>", bos="<bos>", add_bos=True, pad="<pad>", text_only=False),
}


def tokenizer_for(arch: Arch, qwen_dir: Path):
    """The tiny Qwen tokenizer with `arch`'s special tokens, BOS/EOS/pad and chat template."""
    from transformers import AutoTokenizer

    specials = {"eos_token": arch.eos, "pad_token": arch.pad, "bos_token": arch.bos}
    tok = AutoTokenizer.from_pretrained(qwen_dir, extra_special_tokens=arch.named, add_bos_token=arch.add_bos,
                                        **{k: v for k, v in specials.items() if v})
    tok.add_special_tokens({"additional_special_tokens": arch.tokens}, replace_extra_special_tokens=False)
    tok.chat_template = arch.template
    return tok


def build_tiny_arch(name: str, out: Path, qwen_dir: Path) -> Path:
    """Write the tiny checkpoint of architecture `name` (model + processor) to `out`."""
    import torch

    arch = ARCHS[name]
    tok = tokenizer_for(arch, qwen_dir)
    torch.manual_seed(0)
    model, processor = arch.build(tok, arch.template)
    gen = model.generation_config
    gen.eos_token_id, gen.pad_token_id, gen.do_sample = tok.eos_token_id, tok.pad_token_id, False
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return Path(out)


def ensure_tiny_arch(name: str, qwen_dir: Path) -> Path:
    """The cached tiny checkpoint of `name` ($OFFSIDE_CACHE: the test session's unless set), built once."""
    from offside_data.fixtures import build_once, cache_dir

    return build_once(cache_dir() / f"tiny-arch-v{VERSION}-{name}", lambda out: build_tiny_arch(name, out, qwen_dir))
