import torch
from transformers import AutoProcessor

from offside_data import view
from offside_data.chat import conversation, load_image
from offside_data.encode import IGNORE_INDEX, Example, encode_examples


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
