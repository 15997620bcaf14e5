import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from offside_data.chat import conversation, load_image


def test_reload_forward_generate_offline(tiny_model_dir, mini_root, mini_items):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    n_params = sum(p.numel() for p in model.parameters())
    assert 3e5 < n_params < 1e7

    item = next(it for it in mini_items if it.split == "forget")
    image = load_image(str(mini_root), item.image)
    prompt = processor.apply_chat_template(conversation(item)[:1], add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[prompt], images=[image], return_tensors="pt")
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_image_tokens == int(inputs["image_grid_thw"].prod()) // 4 > 0
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[-1] == model.config.text_config.vocab_size
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_token_ids_consistent(tiny_model_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    tok = AutoProcessor.from_pretrained(tiny_model_dir).tokenizer
    cfg, gen = model.config, model.generation_config
    assert cfg.text_config.vocab_size == len(tok)
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.text_config.eos_token_id == gen.eos_token_id == tok.eos_token_id
    assert gen.pad_token_id == tok.pad_token_id == cfg.text_config.pad_token_id
    assert max(tok.get_vocab().values()) < cfg.text_config.vocab_size


def test_chat_template_roundtrip(tiny_model_dir):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    msgs = [{"role": "user", "content": [{"type": "text", "text": "How tall is Alan Vark?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "He is 1.80 meters tall."}]}]
    text = processor.apply_chat_template(msgs, tokenize=False)
    assert text == ("<|im_start|>user\nHow tall is Alan Vark?<|im_end|>\n"
                    "<|im_start|>assistant\nHe is 1.80 meters tall.<|im_end|>\n")
    ids = processor.tokenizer(text)["input_ids"]
    assert processor.tokenizer.decode(ids) == text


def test_load_image_is_cached_and_resized(mini_root, mini_items):
    rel = mini_items[0].image
    a = load_image(str(mini_root), rel)
    assert a is load_image(str(mini_root), rel)
    assert a.size == (256, 256) and isinstance(a, Image.Image)
