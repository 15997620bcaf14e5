import dataclasses

import pytest
from transformers import TrainingArguments

from offside_data.benchmarks import declared_train_options
from offside_train import ConfigError, build_config, cli
from offside_train.config import RelearnConfig, SFTRunConfig
from offside_train.methods import METHODS


def test_yaml_values_are_overridden_by_the_command_line(tmp_path, mini_root):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("method: npo\nbeta: 0.5\nlearning_rate: 1e-3\nmax_steps: 7\nfinetune: full\n")
    command, cfg = cli.make_config(["unlearn", "--config", str(cfg_file), "--beta", "0.2", "--model", "m",
                                    "--data", str(mini_root), "--out", str(tmp_path / "o")])
    assert command == "unlearn" and type(cfg).__name__ == "NPOConfig" and isinstance(cfg, TrainingArguments)
    # "1e-3" is a string to PyYAML; it reaches the trainer as a float
    assert (cfg.beta, cfg.learning_rate, cfg.max_steps, cfg.finetune) == (0.2, 1e-3, 7, "full")
    assert cfg.schedule == "1:3" and cfg.lora_r == 8 and cfg.output_dir == str(tmp_path / "o")


def test_stage_defaults_follow_the_paper(mini_root):
    _, sft = cli.make_config(["sft", "--model", "m", "--data", str(mini_root), "--out", "o"])
    _, relearn = cli.make_config(["relearn", "--model", "m", "--data", str(mini_root), "--out", "o"])
    _, ga = cli.make_config(["unlearn", "--method", "ga", "--model", "m", "--data", str(mini_root), "--out", "o"])
    assert (type(sft), type(relearn)) == (SFTRunConfig, RelearnConfig) and (sft.role, relearn.role) == ("train", "relearn")
    assert (sft.learning_rate, ga.learning_rate) == (1e-4, 2e-5)
    assert (sft.lora_r, sft.lora_alpha, sft.lora_dropout, sft.max_length, sft.benchmark_options["image_size"],
            sft.per_device_train_batch_size, sft.lora_target, sft.prompt_format) == (8, 32, 0.05, None, 256, 4, "", "chat")
    assert (sft.lr_scheduler_type.value, sft.logging_steps, sft.save_strategy.value, sft.bf16) == ("linear", 10, "no", False)
    assert set(METHODS) >= {"ga", "gd", "kl", "po", "npo", "wga", "undial"}


def test_any_trainer_setting_is_reachable(mini_root):
    _, cfg = cli.make_config(["unlearn", "--method", "gd", "--model", "m", "--data", str(mini_root), "--out", "o",
                              "--max_grad_norm", "0.5", "--optim", "sgd", "--gradient_checkpointing", "true"])
    assert (cfg.max_grad_norm, cfg.optim.value, cfg.gradient_checkpointing) == (0.5, "sgd", True)


@pytest.mark.parametrize("stage", ["sft", "relearn", *sorted(METHODS)])
def test_every_option_has_help_text(stage, capsys):
    argv = ["unlearn", "--method", stage] if stage in METHODS else [stage]
    with pytest.raises(SystemExit) as exit_:
        cli.make_config(argv + ["--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0
    cls = METHODS.get(stage) or {"sft": SFTRunConfig, "relearn": RelearnConfig}[stage]
    for f in dataclasses.fields(cls):
        if f.init:
            assert f.metadata.get("help"), f.name
            assert f"--{f.name}" in text
    assert "Items per batch and device." in text and "--out" in text
    for name, by_benchmark in declared_train_options().items():  # each benchmark's own options, with their help
        assert f"--{name}" in text and all(f"{bench}: {opt.help}" in " ".join(text.split())
                                           for bench, opt in by_benchmark.items())


def test_one_builder_coerces_yaml_strings_and_names_the_offender(mini_root):
    base = {"model": "m", "data": str(mini_root), "output_dir": "o"}
    assert build_config("kl", {**base, "learning_rate": "1e-4", "retain_weight": 2}, "f.yaml").retain_weight == 2.0
    cases = [("npo", {"lerning_rate": 1e-4}, "f.yaml: unknown option 'lerning_rate' for npo (did you mean 'learning_rate'?)"),
             ("npo", {"out": "o"}, "did you mean 'output_dir'?"),
             ("npo", {"beta": "high"}, "f.yaml: option beta='high' should be float"),
             ("ga", {"merge": 3}, "option merge=3 should be bool"),
             ("ga", {"setting": "partial"}, "f.yaml: --setting must be one of complete, selective, got partial"),
             ("npoo", {}, "f.yaml: unknown method 'npoo' (did you mean 'npo'?)"),
             ("ga", {"beta": 0.5}, "unknown option 'beta' for ga")]
    for stage, options, message in cases:
        with pytest.raises(ConfigError) as err:
            build_config(stage, {**base, **options}, "f.yaml")
        assert message in str(err.value) and "\n" not in str(err.value)


def test_option_of_another_method_is_rejected(mini_root, capsys):
    argv = ["unlearn", "--method", "ga", "--beta", "0.5", "--model", "m", "--data", str(mini_root), "--out", "o"]
    assert cli.main(argv) == 2
    assert "unrecognized arguments: --beta 0.5" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["unlearn", "--method", "ga", "--model", "m", "--out", "o", "--data", "DATA", "--setting", "partial"],
     "invalid choice: 'partial'"),
    (["unlearn", "--method", "gd", "--model", "m", "--out", "o", "--data", "DATA", "--schedule", "3"],
     "--schedule must look like"),
    (["unlearn", "--method", "gd", "--model", "m", "--out", "o", "--data", "DATA", "--learning_rate", "fast"],
     "--learning_rate/--learning-rate: invalid float value: 'fast'"),
    (["sft", "--model", "m", "--out", "o", "--data", "/no/such/dir"], "not a directory"),
    (["sft", "--model", "m", "--out", "o", "--data", "DATA", "--merge", "--finetune", "full"], "--merge"),
    (["sft", "--config", "/no/such.yaml"], "file not found"),
    (["unlearn", "--model", "m"], "needs --method"),
    (["unlearn", "--method", "gdd"], "unknown method 'gdd' (did you mean 'gd'?)"),
])
def test_bad_input_is_one_line_and_non_zero(argv, message, mini_root, capsys):
    argv = [str(mini_root) if a == "DATA" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("offside-train: error:") and message in err and "\n" not in err


def test_shipped_accelerate_and_run_configs_load(mini_root):
    from importlib.resources import files

    from accelerate.commands.config.config_args import load_config_from_file

    configs = files("offside_train") / "configs"
    kinds = {"multi_gpu.yaml": "MULTI_GPU", "deepspeed_zero2.yaml": "DEEPSPEED", "deepspeed_zero3.yaml": "DEEPSPEED",
             "fsdp.yaml": "FSDP"}
    for name, kind in kinds.items():
        assert load_config_from_file(str(configs / name)).distributed_type.value == kind
    _, cfg = cli.make_config(["unlearn", "--config", str(configs / "npo_paper.yaml"), "--model", "m",
                              "--data", str(mini_root), "--out", "o", "--bf16", "false"])
    assert (cfg.method, cfg.beta, cfg.learning_rate, cfg.per_device_train_batch_size) == ("npo", 0.9, 2e-5, 4)


def test_shipped_experiment_configs_build(mini_root):
    """Every stage of the shipped experiments passes the builder the pipeline uses."""
    import yaml

    from offside_run.cli import builtin_config

    for name in ("demo", "paper_3b", "paper_7b"):
        exp = yaml.safe_load(builtin_config(name).read_text())
        base = {"model": "m", "data": str(mini_root), "output_dir": "o", "bf16": False}
        build_config("sft", {**exp["vanilla"], **base}, name)
        build_config("relearn", {**exp["relearn"], **base}, name)
        for method, opts in exp["methods"].items():
            opts = {k: v for k, v in (opts or {}).items() if k not in ("settings", "relearn")}
            assert build_config(method, {**exp["unlearn"], **opts, **base}, name).method == method
