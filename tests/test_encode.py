import pytest
import torch
from offside_benchmarks.offside import view
from transformers import AutoProcessor

from offside_data.chat import conversation, load_image, user_message
from offside_data.encode import IGNORE_INDEX, Example, encode_examples, split_prompt_target, use_prompt_format


def _example(item, root):
    images = [load_image(str(root), item.image)] if item.image else []
    return Example(conversation(item)[:1], item.answer, images)


def test_labels_are_exactly_the_answer_tokens(tiny_model_dir, mini_root, mini_items):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    tok = processor.tokenizer
    mm = view(mini_items, "forget")[:2]
    text = view(mini_items, "forget", "unimodal")[:2]
    for items in (mm, text):
        batch = encode_examples(processor, [_example(it, mini_root) for it in items])
        assert ("pixel_values" in batch) == (items[0].image is not None)
        for row, it in enumerate(items):
            labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
            assert tok.decode(labelled) == it.answer + "<|im_end|>"
            # everything before the answer (prompt, image tokens, assistant prefix) is masked
            first = int((batch["labels"][row] != IGNORE_INDEX).nonzero()[0])
            assert tok.decode(batch["input_ids"][row, :first]).endswith("<|im_start|>assistant\n")
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()


def test_text_only_batches_carry_no_image_tokens(tiny_model_dir, mini_root, mini_items):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    items = view(mini_items, "retain", "unimodal")[:3]
    batch = encode_examples(processor, [_example(it, mini_root) for it in items])
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert not (batch["input_ids"] == image_id).any()
    assert "pixel_values" not in batch
    assert isinstance(batch["input_ids"], torch.Tensor)


def test_answer_is_found_when_the_generation_prompt_is_not_a_prefix(tiny_model_dir):
    """LLaVA-OneVision style: 'assistant ' inside a conversation, 'assistant\\n' as the generation prompt."""
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    processor.chat_template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + ' \\n' + m['content'][-1]['text'] "
                               "+ '<|im_end|>' }}{% endfor %}{% if add_generation_prompt %}"
                               "{{ '<|im_start|>assistant\\n' }}{% endif %}")
    prompt, target = split_prompt_target(processor, [user_message("Who?", False)], "Ana Lima")
    assert (prompt.endswith("<|im_start|>assistant \n"), target) == (True, "Ana Lima<|im_end|>")
    processor.chat_template = processor.chat_template.replace("m['content'][-1]['text']", "'(hidden)'")
    with pytest.raises(ValueError, match="the answer 'Ana Lima' is not in the rendered conversation"):
        split_prompt_target(processor, [user_message("Who?", False)], "Ana Lima")


def test_too_long_example_names_the_max_length_it_needs(tiny_model_dir, mini_root, mini_items):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    example = _example(view(mini_items, "forget")[0], mini_root)
    length = len(encode_examples(processor, [example])["input_ids"][0])
    with pytest.raises(ValueError, match=f"set --max_length {length} or more"):
        encode_examples(processor, [example], max_length=length - 1)


def test_a_checkpoint_without_chat_template_asks_for_the_prompt_format(tiny_model_dir):
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    processor.chat_template = None
    with pytest.raises(ValueError, match="no chat template: pass prompt_format=prefix"):
        split_prompt_target(processor, [user_message("Who?", False)], "Ana Lima")
    with pytest.raises(ValueError, match="prompt_format must be one of chat, prefix"):
        use_prompt_format(processor, "plain")
