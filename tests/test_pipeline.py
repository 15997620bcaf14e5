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
    "methods": {"ga": {}, "npo": {}, "kl": {"ref_model": "/nonexistent/reference"}},  # kl fails while running
    "relearn": {"finetune": "full", "learning_rate": 1e-3, "max_steps": 1, "per_device_train_batch_size": 8},
    "eval": {"limit": 3, "batch_size": 8, "gen_kwargs": {"max_new_tokens": 6}},
    "robustness": {"attacks": ["quantize:bits=4,group_size=16"], "relearn_steps": [1], "methods": ["ga"]},
    "curves": {"every": 1, "tasks": ["offside_forget_mm_mc"], "limit": 2},
}


@pytest.mark.timeout(900)
def test_short_pipeline_and_resume(tmp_path, tiny_model_dir, mini_root):
    config = tmp_path / "short.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "run")}))
    first = Runner(Experiment.from_yaml(config), progress=False)
    report = first.run()
    # vanilla, the retain-only reference, vanilla's relearned control, 2 methods x 2 settings, relearning of the
    # complete ones
    assert sorted(first.trained) == sorted(
        ["checkpoints/vanilla", "checkpoints/reference-complete", "checkpoints/vanilla-relearned", "checkpoints/ga-complete",
         "checkpoints/npo-complete", "checkpoints/ga-unimodal", "checkpoints/npo-unimodal",
         "checkpoints/ga-complete-relearned", "checkpoints/npo-complete-relearned",
         "checkpoints/ga-complete-relearnattack1"])
    text = report.read_text()
    for needle in ("Table 2: complete unlearning", "Table 4: corrective relearning", "Figure 3",
                   "| GA |", "| NPO |", "Vanilla (relearned only)", "Forget Set Gen. Score ↓",
                   "Retain Set Class. Acc. ↑", "Relearn Set Gen. Score ↑", "Bounce-back", "Prompt-attack gap",
                   "Visual-rumor breakdown", "Forgotten-ID overlap", "Unlearning metrics: forget set",
                   "Retain-only reference", "Toward the corrected fact or only away from the rumor",
                   f"Data root: `{mini_root}` — **SYNTHETIC data", "Base model: `tiny`", "commit `",
                   "Robustness: share of the forgotten forget-set score each attack restores",
                   "quantize:bits=4,group_size=16 Recovered Class. Acc. ↓", "relearn:steps=1 Recovered Gen. Score ↓",
                   "**Robustness** (complete setting",
                   "Token set of the unlearning metrics: `answer`", "token set 'answer'", "± one standard error"):
        assert needle in text, needle
    # the failing method is reported, and did not stop the others
    assert "- KL: " in text and "/nonexistent/reference" in text
    run = tmp_path / "run"
    ga_log = (run / "checkpoints" / "ga-complete" / "train_log.jsonl").read_text().splitlines()
    assert [e["step"] for e in map(json.loads, ga_log) if "curve" in e] == [0, 1]
    for png in ("tradeoff.png", "bounce_back.png", "unimodal.png", "correction.png", "curves.png",
                "robustness.png"):
        assert (run / "report" / "plots" / png).stat().st_size > 1000
        assert (run / "report" / "plots" / png).with_suffix(".pdf").stat().st_size > 1000
    assert "Table 3: selective unlearning" in text and "_Empty: no checkpoint was unlearned in the selective" in text
    assert {p.name for p in (run / "report" / "tables").glob("*.csv")} == {
        "table2.csv", "table4.csv", "figure3.csv", "unlearningmetrics.csv", "robustness.csv"}
    attacked = json.loads((run / "evals" / "ga-complete@quantize-bits=4-group_size=16" / "results.json").read_text())
    assert attacked["attack"]["label"] == "quantize:bits=4,group_size=16"
    results = json.loads((run / "evals" / "ga-complete" / "results.json").read_text())["results"]
    results_before = results
    assert 0 <= results["offside_forget_mm_tr"]["forget_quality"] <= 1 and "privleak_loss" in results["offside_mia_mm"]
    lineage = json.loads((run / "checkpoints" / "ga-complete" / "offside_lineage.json").read_text())
    assert lineage["parent"].endswith("vanilla")

    # an evaluation killed after some batches (its finished marker gone, its journal kept) resumes them
    (run / "evals" / "ga-complete" / ".offside_stage.json").unlink()
    (run / "evals" / "ga-complete" / "results.json").unlink()
    second = Runner(Experiment.from_yaml(config), progress=False)
    second.run()
    assert second.trained == [] and second.evaluated == ["evals/ga-complete"]
    resumed = json.loads((run / "evals" / "ga-complete" / "results.json").read_text())
    assert resumed["resumed_samples"] > 0 and resumed["results"] == results_before

    # a changed method config re-runs only that method's chain
    changed = CONFIG | {"output_dir": str(run), "methods": {"ga": {"learning_rate": 2e-4}, "npo": {}}}
    config.write_text(yaml.safe_dump(changed))
    third = Runner(Experiment.from_yaml(config), progress=False)
    third.run()
    assert sorted(third.trained) == ["checkpoints/ga-complete", "checkpoints/ga-complete-relearnattack1",
                                     "checkpoints/ga-complete-relearned", "checkpoints/ga-unimodal"]

    assert offside_main(["report", str(run)]) == 0


@pytest.mark.parametrize("change,message", [
    ({"methods": {"ga": {}, "npoo": {}}}, "did you mean 'npo'"),
    ({"methods": {"ga": {"learnin_rate": 1e-4}}}, "unknown option 'learnin_rate' for ga (did you mean 'learning_rate'"),
    ({"vanilla": {"learning_rate": "fast"}}, "learning_rate"),
    ({"eval": {"limt": 3}}, "eval: unknown option 'limt' (did you mean 'limit'?)"),
    ({"evaluation": {}}, "unknown key 'evaluation' (did you mean 'eval'?)"),
    ({"utility_tasks": ["mmbench_en_dve"]}, "utility_tasks: unknown task 'mmbench_en_dve'; did you mean: mmbench_en_dev"),
])
def test_bad_experiment_fails_in_seconds_with_nothing_written(tmp_path, tiny_model_dir, mini_root, capsys,
                                                              change, message):
    import time

    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "run"), "data_root": str(mini_root)}
                                     | change))
    start = time.perf_counter()
    assert offside_main(["run", str(config), "--no_progress"]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(config) in err, err
    assert not (tmp_path / "run").exists()


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, tiny_model_dir, mini_root, capsys):
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "run"), "data_root": str(mini_root),
                                               "utility_tasks": ["offside_relearn_text_mc"]}))
    assert offside_main(["run", str(config), "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "train vanilla" in out and "evaluate ga-complete-relearned" in out and "to run" in out
    assert "sft: 672 items (train), 2 steps, batch 8" in out  # 12 players x (1 forget + 3 retain images) x 14 QAs
    assert "ga: 168 items (forget), 1 steps, batch 4" in out and "npo: 168 items (forget)" in out
    assert "train reference-complete" in out and "retain_only: 504 items (retain)" in out
    assert "(forget, test, retain, unlearning, utility)" in out  # unlearned checkpoints get the utility task
    assert "27 of 27 stages to run" in out
    assert not (tmp_path / "run").exists()


def test_experiment_validation(tmp_path):
    with pytest.raises(ExperimentError, match="unknown key 'method'"):
        Experiment.from_dict({"output_dir": "x", "method": {}}, "exp.yaml")
    with pytest.raises(ExperimentError, match="setting 'partial'"):
        Experiment.from_dict({"output_dir": "x", "methods": {"ga": {}}, "settings": ["partial"]}, "exp.yaml")
    with pytest.raises(ExperimentError, match="'methods' must name"):
        Experiment.from_dict({"output_dir": "x"}, "exp.yaml")
    assert offside_main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_a_killed_training_stage_resumes_from_its_last_checkpoint(tmp_path, tiny_model_dir, mini_root, caplog):
    """A stage that saved checkpoint-N and then died (no finished marker) continues from checkpoint-N."""
    from offside_run.markers import STAGE_FILE

    config = CONFIG | {"output_dir": str(tmp_path / "run"), "unlearning_metrics": False, "methods": {"ga": {}},
                       "vanilla": CONFIG["vanilla"] | {"max_steps": 3, "save_strategy": "steps", "save_steps": 1}}
    runner = Runner(Experiment.from_dict(config, "resume.yaml"), progress=False)
    stages = runner.plan()
    runner.validate(stages)
    vanilla = stages[0]
    runner.execute(vanilla)
    folder = tmp_path / "run" / "checkpoints" / "vanilla"
    first_log = (folder / "train_log.jsonl").read_text()
    (folder / STAGE_FILE).unlink()  # as if killed after its last checkpoint was saved
    for leftover in ("model.safetensors", "offside_lineage.json"):
        (folder / leftover).unlink()
    again = Runner(Experiment.from_dict(config, "resume.yaml"), progress=False)
    stages = again.plan()
    again.validate(stages)
    with caplog.at_level("INFO", logger="offside_run"):
        again.execute(stages[0])
    assert "resume checkpoints/vanilla" in caplog.text
    assert (folder / "checkpoint-1").is_dir() and (folder / STAGE_FILE).exists()
    log = (folder / "train_log.jsonl").read_text()
    assert log.startswith(first_log) and len(log) > len(first_log)  # appended to, not rewritten from step 0
