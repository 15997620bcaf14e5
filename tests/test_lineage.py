import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText

from offside_data.lineage import (
    CheckpointError,
    load_model,
    processor_source,
    read_lineage,
    resolve_checkpoint,
    write_lineage,
)


def _lora_child(parent_model, parent_path, out, seed):
    torch.manual_seed(seed)
    peft_model = get_peft_model(parent_model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                         init_lora_weights=False))
    peft_model.save_pretrained(out)
    write_lineage(out, {"parent": str(parent_path), "method": "test"})
    return peft_model.merge_and_unload()


def test_adapter_chain_resolves_and_merges(tiny_model_dir, tmp_path):
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    merged1 = _lora_child(base, tiny_model_dir, tmp_path / "vanilla", 1)
    merged2 = _lora_child(merged1, tmp_path / "vanilla", tmp_path / "unlearned", 2)

    root, adapters = resolve_checkpoint(tmp_path / "unlearned")
    assert root == str(tiny_model_dir)
    assert adapters == [str(tmp_path / "vanilla"), str(tmp_path / "unlearned")]
    loaded = load_model(tmp_path / "unlearned")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        expected, got = merged2(input_ids=ids).logits, loaded(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5)
    assert processor_source(tmp_path / "unlearned") == str(tiny_model_dir)
    assert read_lineage(tmp_path / "unlearned")["method"] == "test"


def test_full_weights_resolve_to_themselves(tiny_model_dir):
    assert resolve_checkpoint(tiny_model_dir) == (str(tiny_model_dir), [])
    assert read_lineage(tiny_model_dir) is None


def test_broken_lineage_is_reported(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(CheckpointError, match="adapter without a parent"):
        resolve_checkpoint(tmp_path)
    (tmp_path / "offside_lineage.json").write_text("{")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        read_lineage(tmp_path)
