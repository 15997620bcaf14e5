"""A benchmark shipped by another package (an `offside.benchmarks` entry point) evaluates and trains
with offside's commands without touching the core: ToyQA, written in a temporary folder."""
import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    """ToyQA: one question per row of qa.json; the forget role is part 'f', the retain role part 'r'."""
    import json
    from pathlib import Path

    from offside_data.benchmarks import Benchmark, register_benchmark
    from offside_data.records import TrainRecord

    def rows(root):
        return json.loads((Path(root) / "qa.json").read_text())

    def docs(root, kwargs):
        return [r for r in rows(root) if r["part"] == kwargs["part"]]

    def train_records(root, role, modality):
        part = {"forget": ["f"], "retain": ["r"], "train": ["f", "r"]}.get(role, [])
        return [TrainRecord(r["id"], r["q"], r["a"]) for r in rows(root) if r["part"] in part]

    register_benchmark(Benchmark(name="toyqa", title="ToyQA", load_docs=docs, env_var="TOYQA_ROOT",
                                 train_records=train_records))


    def plan(runner):
        """vanilla on both parts, one GA run per method, each evaluated on the forget part."""
        stages, exp = [], runner.exp
        tasks = {"forget": {"gen": "toyqa_forget"}}
        vanilla = runner.add_train(stages, "vanilla", "sft", exp.vanilla, None, "vanilla", "complete", "vanilla", "sft")
        runner.add_eval(stages, vanilla, ["forget"], tasks)
        for method, _setting, options, _relearn in exp.method_runs():
            ckpt = runner.add_train(stages, method, method, options, vanilla, method, "complete", "unlearned", "unlearn")
            runner.add_eval(stages, ckpt, ["forget"], tasks)
        return stages


    try:
        from offside_run.profiles import RunProfile, register_profile
        from offside_run.report import write_report
    except ImportError:  # offside without its pipeline: the benchmark alone
        pass
    else:
        register_profile(RunProfile("toyqa", "ToyQA run", plan, {"gen": ["exact_match"]}, write_report,
                                    train_options=lambda exp: {"benchmark": "toyqa"}))
''')
TASK = ("task: toyqa_forget\ndataset_path: toyqa\ndataset_kwargs: {part: f}\noutput_type: generate_until\n"
        "modality: text\ndoc_to_text: q\ndoc_to_target: a\nmetric_list: [{metric: exact_match}]\n"
        "generation_kwargs: {max_new_tokens: 3}\n")
ROWS = [{"id": str(i), "part": "fr"[i % 2], "q": f"What is {i} plus one?", "a": str(i + 1)} for i in range(8)]


def _plugin(tmp_path):
    site = tmp_path / "site"
    (site / "toyqa_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "toyqa_plugin.py").write_text(PLUGIN)
    (site / "toyqa_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toyqa-plugin\n"
                                                                   "Version: 1.0\n")
    (site / "toyqa_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[offside.benchmarks]\ntoyqa = toyqa_plugin\n\n[offside.run_profiles]\ntoyqa = toyqa_plugin\n")
    data, tasks = tmp_path / "data", tmp_path / "tasks"
    data.mkdir()
    tasks.mkdir()
    (data / "qa.json").write_text(json.dumps(ROWS))
    (tasks / "toyqa.yaml").write_text(TASK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return data, tasks, env


def _run(env, *argv):
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=600)


def test_a_plugin_benchmark_evaluates_and_trains(tiny_model_dir, tmp_path):
    data, tasks, env = _plugin(tmp_path)
    proc = _run(env, "offside_eval", "--model", "hf_vlm", "--model_args", f"pretrained={tiny_model_dir}",
                "--tasks", "toyqa_forget", "--include_path", str(tasks), "--data_root", f"toyqa={data}",
                "--output_path", str(tmp_path / "eval"), "--no_progress", "--verbosity", "ERROR")
    assert proc.returncode == 0, proc.stderr[-1500:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["results"]["toyqa_forget"]["n"] == 4 and results["data"]["benchmark"] == "toyqa"
    train = ["offside_train.cli", "unlearn", "--method", "ga", "--benchmark", "toyqa", "--model", str(tiny_model_dir),
             "--data", str(data), "--max_steps", "1", "--finetune", "full", "--disable_tqdm", "true"]
    proc = _run(env, *train, "--out", str(tmp_path / "ga"))
    assert proc.returncode == 0, proc.stderr[-1500:]
    lineage = json.loads((tmp_path / "ga" / "offside_lineage.json").read_text())
    assert lineage["benchmark"] == "toyqa" and lineage["data"]["items"] == {"forget": 4, "retain": 0}
    proc = _run(env, *train, "--out", str(tmp_path / "ga2"), "--setting", "selective")
    assert proc.returncode == 2 and "--setting does not apply to --benchmark toyqa" in proc.stderr


def test_offside_run_plans_a_plugin_benchmark(tiny_model_dir, tmp_path):
    data, tasks, env = _plugin(tmp_path)
    (tmp_path / "toy.yaml").write_text(json.dumps({
        "name": "toy", "output_dir": str(tmp_path / "run"), "benchmark": "toyqa", "base_model": str(tiny_model_dir),
        "data_root": str(data), "unlearning_metrics": False, "vanilla": {"max_steps": 1, "finetune": "full"},
        "methods": {"ga": {"max_steps": 1}}, "eval": {"include_path": str(tasks), "limit": 2}}))
    proc = _run(env, "offside_run.cli", "run", str(tmp_path / "toy.yaml"), "--dry_run")
    assert proc.returncode == 0, proc.stderr[-1500:]
    for line in ("train vanilla", "evaluate vanilla", "train ga", "evaluate ga", "4 of 4 stages to run"):
        assert line in proc.stdout, line


def test_a_broken_plugin_is_named_and_does_not_stop_offside(tmp_path):
    data, tasks, env = _plugin(tmp_path)
    (tmp_path / "site" / "toyqa_plugin.py").write_text("raise RuntimeError('half-installed')\n")
    proc = _run(env, "offside_eval", "--tasks", "list")
    assert proc.returncode == 0 and "offside_forget_mm" in proc.stdout
    assert "benchmark plugin toyqa (toyqa_plugin) failed to load: RuntimeError: half-installed" in proc.stderr
