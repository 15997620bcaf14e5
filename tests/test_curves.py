"""Curves during unlearning: measurements every N steps land in train_log.jsonl, the model is back in
training mode after each, and a stop rule ends training early."""
import json

from train_helpers import config, train_vanilla

from offside_data.lineage import read_lineage
from offside_train.curves import CurveCallback
from offside_train.unlearn import run_unlearn


def test_curve_points_and_early_stop(tiny_model_dir, mini_root, tmp_path):
    vanilla = train_vanilla(tiny_model_dir, mini_root, tmp_path / "vanilla")
    seen = []

    def measure(model):
        seen.append(model.training)
        return {"forget/acc": 1.0 - 0.3 * len(seen)}  # 0.7 at the start, 0.4 after step 2

    out = tmp_path / "ga"
    cfg = config("ga", vanilla, mini_root, out, finetune="full", max_steps=6, per_device_train_batch_size=2,
                 logging_steps=1)
    run_unlearn(cfg, [CurveCallback(measure, every=2, out=str(out), stop={"metric": "forget/acc", "at_most": 0.5})])
    points = [e for e in map(json.loads, (out / "train_log.jsonl").read_text().splitlines()) if "curve" in e]
    assert [p["step"] for p in points] == [0, 2] and points[1]["curve"]["forget/acc"] == 0.4
    assert seen == [False, False]  # measured in eval mode
    assert read_lineage(out)["steps"] == 2  # stopped once forget/acc <= 0.5, not at max_steps 6
