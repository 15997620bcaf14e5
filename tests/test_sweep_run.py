"""A tiny `offside run` with a search and a seeds axis on the tiny model: candidates on validation sets
only, the declared rule's choice in selection.json, the report's Selection section and CI cells."""
import json
import os

import pytest
import yaml

from offside_eval.unlearning_metrics import model_utility
from offside_run.pipeline import Experiment, Runner
from offside_run.selection import choose

CONFIG = {
    "name": "tinysweep",
    "data_root": "mini:4",
    "settings": ["complete"],
    "unlearning_metrics": False,
    "relearn_vanilla": False,
    "vanilla": {"finetune": "full", "learning_rate": 1e-3, "max_steps": 2, "per_device_train_batch_size": 8},
    "unlearn": {"finetune": "full", "max_steps": 1, "per_device_train_batch_size": 4, "learning_rate": 1e-4},
    "methods": {"ga": {"relearn": False}, "npo": {"relearn": False}},
    "seeds": [0, 1],
    "search": {"methods": ["ga"], "space": {"ga": {"learning_rate": [1e-4, 1e-3]}}},
    "select": {"rule": "utility_floor", "share": 0.5},
    "eval": {"limit": 4, "batch_size": 8, "gen_kwargs": {"max_new_tokens": 4}},
}


@pytest.mark.timeout(600)
def test_tiny_sweep_selects_by_the_rule_and_reports_intervals(tmp_path, tiny_model_dir):
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "run")}))
    runner = Runner(Experiment.from_yaml(config), progress=False)
    report = runner.run()
    run = tmp_path / "run"
    assert sorted(runner.trained) == sorted(
        ["checkpoints/vanilla"] + [f"checkpoints/ga-complete-c{c}-s{s}" for c in (0, 1) for s in (0, 1)]
        + [f"checkpoints/ga-complete-s{s}" for s in (0, 1)] + [f"checkpoints/npo-complete-s{s}" for s in (0, 1)])
    # candidates are evaluated on the validation sets only; the selected checkpoints on the test set too
    candidate = json.loads((run / "evals" / "ga-complete-c1-s0" / "results.json").read_text())["results"]
    assert not any("test" in task for task in candidate) and any("retain" in task for task in candidate)
    selected = json.loads((run / "evals" / "ga-complete-s1" / "results.json").read_text())["results"]
    assert any("test" in task for task in selected)

    chosen = [json.loads((run / "checkpoints" / f"ga-complete-s{s}" / "selection.json").read_text()) for s in (0, 1)]
    data = chosen[0]
    assert len(data["candidates"]) == 4 and all(c["numbers"]["model_utility"] is not None for c in data["candidates"])
    # the means over seeds and the winner, recomputed from every candidate's recorded numbers
    for point in ("c0", "c1"):
        rows = [c["numbers"] for c in data["candidates"] if c["point"] == point]
        for name in ("forget_efficacy", "model_utility"):
            assert data["means"][point][name] == pytest.approx(sum(r[name] for r in rows) / 2)
    vanilla = json.loads((run / "evals" / "vanilla" / "results.json").read_text())["results"]
    assert data["vanilla_model_utility"] == pytest.approx(model_utility(
        [vanilla["offside_retain_mm_mc"]["acc"], vanilla["offside_retain_mm_gen"]["gen_score"]]))
    assert data["winner"] == choose(data["means"], data["vanilla_model_utility"], data["rule"])[0]
    assert chosen[1]["winner"] == data["winner"]  # one choice for every seed
    for s, sel in enumerate(chosen):
        link = run / "checkpoints" / f"ga-complete-s{s}" / "model.safetensors"
        assert link.is_symlink() and os.readlink(link) == f"../ga-complete-{data['winner']}-s{s}/model.safetensors"
        assert sel["checkpoint"] == f"ga-complete-{data['winner']}-s{s}"

    text = report.read_text()
    assert "## Selection" in text and "**ga (complete)**: validation sets forget, retain; rule `utility_floor`" in text and "**selected**" in text
    assert text.index("## Selection") < text.index("## Analyses")
    table2 = text.split("### Table 2")[1].split("###")[0]
    rows = [line for line in table2.splitlines() if line.startswith(("| GA |", "| NPO |", "| Vanilla |"))]
    assert len(rows) == 3 and all(" [" in row for row in rows)  # mean [95% CI] cells, one row per method
    assert "2 seeds: 0, 1" in table2 and "Holm" in table2 and "unlearning seeds: 0, 1" in text
    assert "ci95_low" in (run / "report" / "tables" / "table2.csv").read_text()

    again = Runner(Experiment.from_yaml(config), progress=False)
    again.run()
    assert again.trained == [] and again.evaluated == []  # the selections are cached stages too
