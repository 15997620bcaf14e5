"""A benchmark shipped by another package (an `offside.benchmarks` entry point) is one folder -- loader,
fixture writer, its own option, task YAML and planner -- and synthesizes, evaluates, trains and plans with
offside's commands without touching the core: ToyQA, written in a temporary folder."""
import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    """ToyQA: one question per row of qa.json; the forget role is part 'f', the retain role part 'r'.
    Everything that knows ToyQA is in this folder: loader, fixture writer, option, task YAML, planner."""
    import json
    from pathlib import Path

    from offside_data.benchmarks import Benchmark, TrainOption, register_benchmark
    from offside_data.records import TrainRecord

    def rows(root):
        return json.loads((Path(root) / "qa.json").read_text())

    def docs(root, kwargs):
        return [r for r in rows(root) if r["part"] == kwargs["part"]]

    def train_records(root, role, modality, retain_share):
        part = {"forget": ["f"], "retain": ["r"], "train": ["f", "r"]}.get(role, [])
        chosen = [r for r in rows(root) if r["part"] in part]
        if role == "retain":
            chosen = chosen[:round(len(chosen) * retain_share)]
        return [TrainRecord(r["id"], r["q"], r["a"]) for r in chosen]

    def generate(out, size=None, seed=0):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        qa = [{"id": str(i), "part": "fr"[i % 2], "q": f"What is {i} plus one?", "a": str(i + 1)}
              for i in range(size or 8)]
        (out / "qa.json").write_text(json.dumps(qa))
        return {"questions": len(qa)}

    register_benchmark(Benchmark(name="toyqa", title="ToyQA", load_docs=docs, env_var="TOYQA_ROOT",
                                 train_records=train_records, tasks_dir=Path(__file__).parent / "tasks",
                                 generate=generate, fixture_title="ToyQA-mini",
                                 train_options={"retain_share": TrainOption(1.0, "share of the retain part trained on")}))


    def plan(runner):
        """vanilla on both parts, one GA run per method, each evaluated on the forget part."""
        stages, exp = [], runner.exp
        tasks = {"forget": {"gen": "toyqa_forget"}}
        vanilla = runner.add_train(stages, "vanilla", "sft", exp.vanilla, method="vanilla", setting="complete", phase="vanilla")
        runner.add_eval(stages, vanilla, ["forget"], tasks)
        for method, _setting, options, _relearn in exp.method_runs():
            ckpt = runner.add_train(stages, method, method, options, parent=vanilla, method=method, setting="complete", phase="unlearned")
            runner.add_eval(stages, ckpt, ["forget"], tasks)
        return stages


    try:
        from offside_run.profiles import RunProfile, register_profile
        from offside_run.report import write_report
    except ImportError:  # offside without its pipeline: the benchmark alone
        pass
    else:
        register_profile(RunProfile("toyqa", "ToyQA run", plan, {"gen": ["exact_match"]}, write_report))
''')
TASK = ("task: toyqa_forget\ndataset_path: toyqa\ndataset_kwargs: {part: f}\noutput_type: generate_until\n"
        "modality: text\ndoc_to_text: q\ndoc_to_target: a\nmetric_list: [{metric: exact_match}]\n"
        "generation_kwargs: {max_new_tokens: 3}\n")


def _plugin(tmp_path):
    """The benchmark as one folder (a package with its task YAML), installed by an entry point; its data
    written by `offside-data synth --benchmark toyqa`, the core's own command."""
    site = tmp_path / "site"
    (site / "toyqa_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "toyqa_plugin" / "tasks").mkdir(parents=True)
    (site / "toyqa_plugin" / "__init__.py").write_text(PLUGIN)
    (site / "toyqa_plugin" / "tasks" / "toyqa.yaml").write_text(TASK)
    (site / "toyqa_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toyqa-plugin\n"
                                                                   "Version: 1.0\n")
    (site / "toyqa_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[offside.benchmarks]\ntoyqa = toyqa_plugin\n\n[offside.run_profiles]\ntoyqa = toyqa_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    data = tmp_path / "data"
    proc = _run(env, "offside_data.cli", "synth", "--benchmark", "toyqa", "--out", str(data))
    assert proc.returncode == 0 and "ToyQA-mini written to" in proc.stdout, proc.stderr[-1500:]
    return data, env


def _run(env, *argv):
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=600)


def test_a_plugin_benchmark_evaluates_and_trains(tiny_model_dir, tmp_path):
    data, env = _plugin(tmp_path)
    proc = _run(env, "offside_eval", "--model", "hf_vlm", "--model_args", f"pretrained={tiny_model_dir}",
                "--tasks", "toyqa_forget", "--data_root", f"toyqa={data}",
                "--output_path", str(tmp_path / "eval"), "--no_progress", "--verbosity", "ERROR")
    assert proc.returncode == 0, proc.stderr[-1500:]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["results"]["toyqa_forget"]["n"] == 4 and results["data"]["benchmark"] == "toyqa"
    train = ["offside_train.cli", "unlearn", "--method", "gd", "--benchmark", "toyqa", "--model", str(tiny_model_dir),
             "--data", str(data), "--max_steps", "1", "--finetune", "full", "--disable_tqdm", "true"]
    proc = _run(env, *train, "--out", str(tmp_path / "gd"), "--retain_share", "0.5")
    assert proc.returncode == 0, proc.stderr[-1500:]
    lineage = json.loads((tmp_path / "gd" / "offside_lineage.json").read_text())
    assert lineage["benchmark"] == "toyqa" and lineage["retain_share"] == 0.5
    assert lineage["data"]["items"] == {"forget": 4, "retain": 2}  # the benchmark's own option reached its hook
    proc = _run(env, *train, "--out", str(tmp_path / "gd2"), "--setting", "selective")
    assert proc.returncode == 2 and "--setting does not apply to --benchmark toyqa" in proc.stderr


def test_offside_run_plans_a_plugin_benchmark(tiny_model_dir, tmp_path):
    data, env = _plugin(tmp_path)
    (tmp_path / "toy.yaml").write_text(json.dumps({
        "name": "toy", "output_dir": str(tmp_path / "run"), "benchmark": "toyqa", "base_model": str(tiny_model_dir),
        "data_root": str(data), "unlearning_metrics": False, "vanilla": {"max_steps": 1, "finetune": "full"},
        "retain_share": 0.5, "methods": {"ga": {"max_steps": 1}}, "eval": {"limit": 2}}))
    proc = _run(env, "offside_run.cli", "run", str(tmp_path / "toy.yaml"), "--dry_run")
    assert proc.returncode == 0, proc.stderr[-1500:]
    for line in ("train vanilla", "evaluate vanilla", "train ga", "evaluate ga", "4 of 4 stages to run"):
        assert line in proc.stdout, line


def test_a_broken_plugin_is_named_and_does_not_stop_offside(tmp_path):
    _data, env = _plugin(tmp_path)
    (tmp_path / "site" / "toyqa_plugin" / "__init__.py").write_text("raise RuntimeError('half-installed')\n")
    proc = _run(env, "offside_eval", "--tasks", "list")
    assert proc.returncode == 0 and "offside_forget_mm" in proc.stdout
    assert "benchmark plugin toyqa (toyqa_plugin) failed to load: RuntimeError: half-installed" in proc.stderr
