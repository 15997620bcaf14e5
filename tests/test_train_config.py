import pytest

from offside_train import cli
from offside_train.config import ConfigError, SFTRunConfig
from offside_train.methods import METHODS


def test_yaml_values_are_overridden_by_the_command_line(tmp_path, mini_root):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("method: npo\nbeta: 0.5\nlearning_rate: 1.0e-3\nmax_steps: 7\nfinetune: full\n")
    command, cfg = cli.make_config(["unlearn", "--config", str(cfg_file), "--beta", "0.2", "--model", "m",
                                    "--data", str(mini_root), "--out", str(tmp_path / "o")])
    assert command == "unlearn" and type(cfg).__name__ == "NPOConfig"
    assert (cfg.beta, cfg.learning_rate, cfg.max_steps, cfg.finetune) == (0.2, 1e-3, 7, "full")
    assert cfg.schedule == "1:3" and cfg.lora_r == 8  # paper defaults where nothing is given


def test_stage_defaults_follow_the_paper(mini_root):
    _, sft = cli.make_config(["sft", "--model", "m", "--data", str(mini_root), "--out", "o"])
    _, relearn = cli.make_config(["relearn", "--model", "m", "--data", str(mini_root), "--out", "o"])
    _, ga = cli.make_config(["unlearn", "--method", "ga", "--model", "m", "--data", str(mini_root), "--out", "o"])
    assert isinstance(sft, SFTRunConfig) and (sft.role, relearn.role) == ("train", "relearn")
    assert (sft.learning_rate, ga.learning_rate) == (1e-4, 2e-5)
    assert (sft.lora_r, sft.lora_alpha, sft.lora_dropout, sft.max_length, sft.image_size, sft.batch_size) == \
        (8, 32, 0.05, 128, 256, 4)
    assert set(METHODS) >= {"ga", "gd", "kl", "po", "npo"}


def test_option_of_another_method_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="beta"):
        cli.make_config(["unlearn", "--method", "ga", "--beta", "0.5"])


@pytest.mark.parametrize("argv, message", [
    (["unlearn", "--method", "ga", "--model", "m", "--out", "o", "--data", "DATA", "--setting", "partial"],
     "--setting must be one of"),
    (["unlearn", "--method", "gd", "--model", "m", "--out", "o", "--data", "DATA", "--schedule", "3"],
     "--schedule must look like"),
    (["sft", "--model", "m", "--out", "o", "--data", "/no/such/dir"], "not a directory"),
    (["sft", "--model", "m", "--out", "o", "--data", "DATA", "--merge", "--finetune", "full"], "--merge"),
    (["sft", "--config", "/no/such.yaml"], "file not found"),
    (["unlearn", "--model", "m"], "needs --method"),
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
                              "--data", str(mini_root), "--out", "o"])
    assert (cfg.method, cfg.beta, cfg.learning_rate) == ("npo", 0.9, 2e-5)
