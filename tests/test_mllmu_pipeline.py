"""`offside run` on MLLMU-Bench: experiment keys, the stage plan and the main-table report."""
import pytest
from offside_benchmarks.mllmu.report import forgetting_summary, mllmu_tables, write_mllmu_report

from offside_data.benchmarks import BENCHMARKS
from offside_run.cli import main as offside_main
from offside_run.entries import Entry
from offside_run.experiment import Experiment, ExperimentError
from offside_run.profiles import run_profile

BASE = {"output_dir": "runs/x", "benchmark": "mllmu", "methods": {"ga": {}}}


@pytest.mark.parametrize("change, message", [
    ({"benchmark": "mllm"}, f"x.yaml: benchmark 'mllm' is not one of {', '.join(sorted(BENCHMARKS))} (did you mean "
                            "'mllmu'?)"),
    ({"forget_ratio": 7}, "x.yaml: forget_ratio must be one of 5, 10, 15, got 7"),
    ({"benchmark": "offside", "forget_ratio": 10}, "x.yaml: forget_ratio does not apply to benchmark offside"),
    ({"settings": ["selective"]}, "x.yaml: settings: selective does not apply to benchmark mllmu (complete = image + "
                                  "text, unimodal = text only)"),
    ({"unlearning_metrics": True}, "x.yaml: unlearning_metrics does not apply to benchmark mllmu"),
])
def test_experiment_validation_names_the_key(change, message):
    with pytest.raises(ExperimentError) as err:
        Experiment.from_dict({**BASE, **change}, "x.yaml")
    assert str(err.value) == message


def test_a_top_level_benchmark_option_reaches_training_and_the_tasks():
    exp = Experiment.from_dict({**BASE, "forget_ratio": 10}, "x.yaml")
    assert exp.benchmark_options == {"forget_ratio": 10} and run_profile("mllmu").eval_metadata(exp) == {"forget_ratio": 10}
    assert Experiment.from_dict(BASE, "x.yaml").benchmark_option("forget_ratio") == 5  # the declared default


def _entry(method, setting, phase, forget, retain):
    metrics = {f"{s}_{m}": {"acc": v, "rougeL": v / 2, "cloze_acc": v / 4}
               for s, v in (("forget", forget), ("test", forget), ("retain", retain), ("celebrity", retain))
               for m in ("mm", "text")}
    return Entry(method, setting, phase, metrics)


def test_report_layout_from_a_hand_made_results_dict(tmp_path):
    entries = [_entry("ga", "complete", "unlearned", 0.2, 0.8), _entry("vanilla", "complete", "vanilla", 1.0, 1.0),
               _entry("npo", "unimodal", "unlearned", 0.6, 0.6)]
    mm, text = mllmu_tables(entries)
    assert [name for name, _ in mm.rows] == ["Vanilla", "GA", "NPO (text-only)"]
    assert [g for g, _ in mm.groups] == ["Forget Set", "Test Set", "Retain Set", "Real Celebrity"]
    assert [k for _, k, _ in mm.columns()][:3] == ["forget_mm:acc", "forget_mm:rougeL", "forget_mm:cloze_acc"]
    assert mm.rows[1][1][:3] == [0.2, 0.1, 0.05] and text.rows[2][1][6:9] == [0.6, 0.3, 0.15]
    # per kind, forget / test / retain+celebrity: (0.2 - 1.0), (0.2 - 1.0), (0.8 - 1.0) times (1, 1/2, 1/4)
    assert forgetting_summary(entries) == [
        "- GA: classification forget -0.800, test -0.800, retain/celebrity -0.200; ROUGE-L forget -0.400, test -0.400, "
        "retain/celebrity -0.100; cloze forget -0.200, test -0.200, retain/celebrity -0.050",
        "- NPO (text-only): classification forget -0.400, test -0.400, retain/celebrity -0.400; ROUGE-L forget -0.200, "
        "test -0.200, retain/celebrity -0.200; cloze forget -0.100, test -0.100, retain/celebrity -0.100"]
    report = write_mllmu_report(entries, tmp_path).read_text()
    assert "| GA | **20.0%** | **0.100** | **5.0%** |" in report  # lower is better on the forget set
    assert "Forget Set Class. Acc. ↓ | Forget Set ROUGE-L ↓ | Forget Set Cloze Acc. ↓" in report
    csv_head = (tmp_path / "tables" / "mllmu_text.csv").read_text().splitlines()[0]
    assert csv_head.startswith("method,Forget Set/forget_text:acc/lower_is_better,")


def test_mllmu_demo_dry_run_plans_every_stage(tmp_path, tiny_model_dir, capsys):
    assert offside_main(["run", "mllmu_demo", "--dry_run", "--output_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "train vanilla          to run (wave 1)  sft: 300 items (train), 12 epoch(s), batch 8" in out
    assert "train ga-complete      to run (wave 2)  ga: 30 items (forget), 10 steps, batch 8" in out  # forget_10: 6 x 5
    assert "train npo-unimodal" in out and "8 of 8 stages to run" in out
    # Documents at forget ratio 10 (counts in test_mllmu_tasks.COUNTS), limit 16, per modality:
    # forget and test 15 + 15 + 12 + 8 (cls, cls_ll, gen, cloze), retain 4 x 16, celebrity 16 + 16 + 12 + 12.
    records = 2 * (2 * (15 + 15 + 12 + 8) + 4 * 16 + (16 + 16 + 12 + 12))
    assert out.count("32 tasks (forget_mm, forget_text, test_mm, test_text, retain_mm, retain_text, celebrity_mm"
                     f"{', celebrity_text'}), {records} records") == 4
    assert "protocol clean" in out and not (tmp_path / "run").exists()


def test_protocol_picks_the_generation_tasks():
    from offside_benchmarks.mllmu.plan import mllmu_tasks

    from offside_eval.tasks_index import TaskIndex

    index = TaskIndex()
    clean, reference = mllmu_tasks(index, "clean"), mllmu_tasks(index, "reference")
    assert clean["retain_text"]["gen"] == "mllmu_retain_gen_text_clean"
    assert reference["retain_text"]["gen"] == "mllmu_retain_gen_text"
    assert clean["retain_text"]["cloze"] == reference["retain_text"]["cloze"] == "mllmu_retain_cloze_text"
