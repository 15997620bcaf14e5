"""Training on MLLMU-Bench: ft_Data's QA per role, both modalities, through the shared encoder."""
import json

import pyarrow.parquet as pq
import pytest
from offside_benchmarks.mllmu import MLLMU, ensure_mllmu_mini
from train_helpers import config

from offside_data.benchmarks import BENCHMARKS
from offside_data.lineage import read_lineage
from offside_train import ConfigError
from offside_train.cli import main
from offside_train.data import RecordCollator, load_records
from offside_train.sft import run_sft
from offside_train.unlearn import build_unlearn_trainer, run_unlearn


@pytest.fixture(scope="module")
def root():
    return ensure_mllmu_mini()


def _qa(root, config_name):
    """(ID, Question, Answer) of ft_Data rows whose ID is in `config_name`, read independently of offside."""
    ids = pq.read_table(root / config_name).column("ID").to_pylist()
    ft = pq.read_table(root / "ft_Data").to_pylist()
    return [(r["ID"], qa["Question"], qa["Answer"]) for pid in ids for r in ft if r["ID"] == pid
            for qa in json.loads(r["metadata"])]


@pytest.mark.parametrize("ratio", [5, 10])
def test_forget_and_retain_are_exactly_their_configs_ft_qa(root, tiny_model_dir, tmp_path, ratio):
    cfg = config("ga", tiny_model_dir, root, tmp_path, benchmark="mllmu", forget_ratio=ratio)
    for role, name in (("forget", f"forget_{ratio}"), ("retain", f"retain_{100 - ratio}"), ("relearn", f"forget_{ratio}")):
        want = _qa(root, name)
        got = load_records(cfg, role)
        assert len(got) == len(want) == 5 * len(set(w[0] for w in want))  # 5 QA per fixture profile
        assert [(r.id.split("/")[0], r.answer) for r in got] == [(w[0], w[2]) for w in want]
        assert [r.question for r in got] == [f"USER: \n{w[1]}\nASSISTANT:" for w in want]
    assert len(load_records(cfg, "train")) == 60 * 5
    forget = {r.id.split("/")[0] for r in load_records(cfg, "forget")}
    assert not forget & {r.id.split("/")[0] for r in load_records(cfg, "retain")}


def test_text_modality_builds_image_free_batches(root, tiny_model_dir, tmp_path):
    from offside_train.checkpoint import load_processor

    processor = load_processor(str(tiny_model_dir))
    mm = load_records(config("sft", tiny_model_dir, root, tmp_path, benchmark="mllmu"), "forget")
    text = load_records(config("sft", tiny_model_dir, root, tmp_path, benchmark="mllmu", modality="text"), "forget")
    assert [r.answer for r in mm] == [r.answer for r in text] and all(r.image is None for r in text)
    assert text[0].question == mm[0].text_question == text[0].question.replace("USER: \n", "USER: ")
    batch = RecordCollator(processor, 256)(text[:3])
    assert "pixel_values" not in batch and "image_grid_thw" not in batch
    image_batch = RecordCollator(processor, 256)(mm[:3])
    assert image_batch["image_grid_thw"].shape[0] == 3
    assert mm[0].image().size == (128, 128)  # release size, as the mllmu tasks send it


def test_sft_then_unlearn_on_the_fixture(root, tiny_model_dir, tmp_path):
    vanilla = run_sft(config("sft", tiny_model_dir, root, tmp_path / "v", benchmark="mllmu", finetune="full",
                             learning_rate=1e-3, max_steps=3, per_device_train_batch_size=4, max_length=256))
    lineage = read_lineage(vanilla)
    assert (lineage["benchmark"], lineage["data"]["items"], lineage["steps"]) == ("mllmu", {"train": 300}, 3)
    assert lineage["data"]["fingerprint"] == MLLMU.fingerprint(root)
    cfg = config("gd", vanilla, root, tmp_path / "gd", benchmark="mllmu", finetune="full", max_steps=2,
                 per_device_train_batch_size=2, schedule="1:1", max_length=256, modality="text")
    trainer, _ = build_unlearn_trainer(cfg)
    assert (len(trainer.forget_items), len(trainer.retain_items)) == (15, 285)
    out = run_unlearn(cfg)
    assert read_lineage(out)["batches_by_role"] == {"forget": 1, "retain": 1}


def test_options_that_do_not_apply_are_one_line_errors(root, tiny_model_dir, tmp_path, capsys):
    with pytest.raises(ConfigError, match="--setting does not apply to --benchmark mllmu"):
        config("ga", tiny_model_dir, root, tmp_path, benchmark="mllmu", setting="selective")
    with pytest.raises(ConfigError, match="--forget_ratio must be one of 5, 10, 15, got 7"):
        config("ga", tiny_model_dir, root, tmp_path, benchmark="mllmu", forget_ratio=7)
    with pytest.raises(ConfigError, match="--forget_ratio does not apply to --benchmark offside"):
        config("ga", tiny_model_dir, root, tmp_path, forget_ratio=10)
    assert main(["sft", "--model", str(tiny_model_dir), "--data", str(root), "--out", str(tmp_path),
                 "--benchmark", "mlmu"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"offside-train: error: command line: --benchmark 'mlmu' is not one of {', '.join(sorted(BENCHMARKS))} "
        "(did you mean 'mllmu'?)"]
