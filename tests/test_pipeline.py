"""A shortened pipeline end to end on the tiny model, run twice to prove resume."""
import json

import pytest
import yaml

from offside_run.cli import main as offside_main
from offside_run.pipeline import Experiment, ExperimentError, Runner

CONFIG = {
    "name": "short",
    "settings": ["complete", "unimodal"],
    "vanilla": {"finetune": "full", "learning_rate": 1e-3, "max_steps": 2, "per_device_train_batch_size": 8},
    "unlearn": {"finetune": "full", "learning_rate": 1e-4, "max_steps": 1, "per_device_train_batch_size": 4},
    "methods": {"ga": {}, "npo": {}, "kl": {"schedule": "not-a-schedule"}},
    "relearn": {"finetune": "full", "learning_rate": 1e-3, "max_steps": 1, "per_device_train_batch_size": 8},
    "eval": {"limit": 3, "batch_size": 8, "gen_kwargs": {"max_new_tokens": 6}},
}


@pytest.mark.timeout(900)
def test_short_pipeline_and_resume(tmp_path, tiny_model_dir, mini_root):
    config = tmp_path / "short.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "run")}))
    first = Runner(Experiment.from_yaml(config), progress=False)
    report = first.run()
    # vanilla, its relearned control, 2 methods x 2 settings, relearning of the complete ones
    assert sorted(first.trained) == sorted(
        ["checkpoints/vanilla", "checkpoints/vanilla-relearned", "checkpoints/ga-complete",
         "checkpoints/npo-complete", "checkpoints/ga-unimodal", "checkpoints/npo-unimodal",
         "checkpoints/ga-complete-relearned", "checkpoints/npo-complete-relearned"])
    text = report.read_text()
    for needle in ("Table 2: complete unlearning", "Table 4: corrective relearning", "Figure 3",
                   "| ga |", "| npo |", "Vanilla (relearned only)", "Forget Set Gen. Score ↓",
                   "Retain Set Class. Acc. ↑", "Relearn Set Gen. Score ↑", "Bounce-back", "Prompt-attack gap",
                   "Visual-rumor breakdown", "Forgotten-ID overlap"):
        assert needle in text, needle
    # the failing method is reported, and did not stop the others
    assert "kl / complete / unlearned: ConfigError" in text
    run = tmp_path / "run"
    for png in ("tradeoff.png", "bounce_back.png", "unimodal.png"):
        assert (run / "report" / "plots" / png).stat().st_size > 1000
    assert {p.name for p in (run / "report" / "tables").glob("*.csv")} == {
        "table2.csv", "table4.csv", "figure3.csv"}
    lineage = json.loads((run / "checkpoints" / "ga-complete" / "offside_lineage.json").read_text())
    assert lineage["parent"].endswith("vanilla")

    second = Runner(Experiment.from_yaml(config), progress=False)
    second.run()
    assert second.trained == [] and second.evaluated == []

    # a changed method config re-runs only that method's chain
    changed = CONFIG | {"output_dir": str(run), "methods": {"ga": {"learning_rate": 2e-4}, "npo": {}}}
    config.write_text(yaml.safe_dump(changed))
    third = Runner(Experiment.from_yaml(config), progress=False)
    third.run()
    assert sorted(third.trained) == ["checkpoints/ga-complete", "checkpoints/ga-complete-relearned",
                                     "checkpoints/ga-unimodal"]

    assert offside_main(["report", str(run)]) == 0


def test_experiment_validation(tmp_path):
    with pytest.raises(ExperimentError, match="unknown key 'method'"):
        Experiment.from_dict({"output_dir": "x", "method": {}}, "exp.yaml")
    with pytest.raises(ExperimentError, match="setting 'partial'"):
        Experiment.from_dict({"output_dir": "x", "methods": {"ga": {}}, "settings": ["partial"]}, "exp.yaml")
    with pytest.raises(ExperimentError, match="'methods' must name"):
        Experiment.from_dict({"output_dir": "x"}, "exp.yaml")
    assert offside_main(["run", str(tmp_path / "missing.yaml")]) == 2
