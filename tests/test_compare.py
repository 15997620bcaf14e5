"""`offside compare`: run folders and results.json files side by side, each value with stderr and n."""
import csv
import io
import json

import pytest

from offside_run.cli import main as offside_main
from offside_run.compare import collect, values_csv, values_markdown
from offside_run.experiment import ExperimentError


def _results(folder, truth_ratio, token_set="answer"):
    folder.mkdir(parents=True)
    out = {"results": {"offside_forget_mm_tr": {"output_type": "token_scores", "truth_ratio": truth_ratio,
                                                "truth_ratio_stderr": 0.05, "n": 84, "forget_quality": 0.5},
                       "offside_forget_mm_gen": {"output_type": "generate_until", "rep_3": 0.25, "rep_3_stderr": 0.1,
                                                 "rep_3_missing": 4, "n": 84, "distinct_2": float("nan")}},
           "higher_is_better": {"offside_forget_mm_tr": {"truth_ratio": True, "forget_quality": True},
                                "offside_forget_mm_gen": {"rep_3": False, "privleak_loss": None}},
           "config": {"token_set": token_set}}
    out["results"]["offside_forget_mm_gen"]["privleak_loss"] = -3.5  # (not where it belongs: a direction check)
    (folder / "results.json").write_text(json.dumps(out))
    return folder / "results.json"


@pytest.fixture
def sources(tmp_path):
    run = tmp_path / "run"
    _results(run / "evals" / "ga-complete", 0.6)
    (run / "run_manifest.json").write_text(json.dumps({"name": "demo", "records": [
        {"method": "ga", "setting": "complete", "phase": "unlearned", "eval_dir": "evals/ga-complete"},
        {"method": "kl", "setting": "complete", "phase": "unlearned", "error": "boom"}]}))
    return run, _results(tmp_path / "other", 0.7, "open_unlearning")


def test_every_checkpoint_and_metric_with_stderr_and_n(sources):
    run, other = sources
    values = collect([run, other])
    per_checkpoint = [("offside_forget_mm_tr", "truth_ratio"), ("offside_forget_mm_tr", "forget_quality"),
                      ("offside_forget_mm_gen", "rep_3"), ("offside_forget_mm_gen", "privleak_loss")]  # NaN left out
    assert [(v.checkpoint, v.task, v.metric) for v in values] == [("demo: GA", *k) for k in per_checkpoint] + [
        ("other", *k) for k in per_checkpoint]
    rep = values[2]
    assert (rep.value, rep.stderr, rep.n, rep.better) == (0.25, 0.1, 80, "lower")  # 84 less 4 missing
    assert values[1].stderr is None and values[1].better == "higher"
    assert [v.better for v in values if v.metric == "privleak_loss"] == ["closest_to_zero"] * 2
    assert values[0].better == "higher" and "| offside_forget_mm_gen | privleak_loss →0 |" in values_markdown(values)
    rows = list(csv.DictReader(io.StringIO(values_csv(values))))
    assert rows[4] | {"source": ""} == {"checkpoint": "other", "task": "offside_forget_mm_tr", "metric": "truth_ratio",
                                        "value": "0.7", "stderr": "0.05", "n": "84", "better": "higher",
                                        "token_set": "open_unlearning", "source": ""}
    md = values_markdown(values)
    assert "| task | metric | demo: GA | other |" in md
    assert "| offside_forget_mm_tr | truth_ratio ↑ | 0.6 ± 0.05 (n=84) | 0.7 ± 0.05 (n=84) |" in md
    assert "mixed: probability-based unlearning metrics do not compare across them" in md


def test_cli_writes_both_files_and_refuses_what_is_not_a_result(sources, tmp_path, capsys):
    run, other = sources
    assert offside_main(["compare", str(run), str(other.parent), "--out_dir", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "comparison.csv").is_file() and "| demo: GA |" in capsys.readouterr().out
    assert offside_main(["compare", str(tmp_path / "nothing")]) == 2
    assert "neither a run folder (run_manifest.json) nor results.json" in capsys.readouterr().err
    (run / "evals" / "ga-complete" / "results.json").unlink()
    with pytest.raises(ExperimentError, match="ga-complete/results.json: no such results.json"):
        collect([run])
