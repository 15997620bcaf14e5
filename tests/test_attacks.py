"""Attacks: quantization equals a hand computation, every input attack rewrites requests reproducibly
and keeps what is scored, an attacked evaluation runs, is recorded, and never shares answers with
the clean run."""
import json

import pytest
import torch
from llm_server import FakeLLMServer, Reply
from PIL import Image

from offside_eval import evaluate
from offside_eval.attacks import ATTACKS, AttackError, parse_attack
from offside_eval.attacks.quantize import quantize_weights
from offside_eval.cli import main as eval_main
from offside_eval.requests import GenerationRequest, LoglikelihoodRequest


def _rtn(weight: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    """Symmetric round-to-nearest by hand: scale = max|w| / ((qmax - qmin) / 2) per group, q = w * (1 / scale)
    rounded (half to even) and clamped -- torchao's quantize_affine order, so ties fall the same way."""
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    rows = weight.reshape(-1, group)
    scale = rows.abs().amax(1, keepdim=True) / ((qmax - qmin) / 2)
    return (torch.clamp(torch.round(rows * (1.0 / scale)), qmin, qmax) * scale).reshape(weight.shape)


@pytest.mark.parametrize("bits", [4, 8])
def test_quantization_equals_round_to_nearest_by_hand(bits):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 3, bias=False), torch.nn.Linear(3, 2, bias=False))
    grouped, per_row = (m.weight.detach().clone() for m in model)
    assert quantize_weights(model, bits=bits, group_size=4) == 2
    torch.testing.assert_close(model[0].weight, _rtn(grouped, bits, 4), rtol=0, atol=1e-7)
    torch.testing.assert_close(model[1].weight, _rtn(per_row, bits, 3), rtol=0, atol=1e-7)  # 3 % 4: per row
    assert not torch.equal(model[0].weight, grouped)


def _requests(text_only=False):
    card = Image.merge("RGB", [Image.linear_gradient("L").resize((64, 48))] * 2 + [Image.new("L", (64, 48), 90)])
    image = [] if text_only else [card]
    content = ([] if text_only else [{"type": "image"}]) + [{"type": "text", "text": "Which club did he join?"}]
    messages = [{"role": "user", "content": content}]
    return [LoglikelihoodRequest(messages, image, continuation=" FC Alpha", group=1),
            GenerationRequest(messages, image, {"max_new_tokens": 4})]


# every input attack but the paraphrase, which asks an LLM (its own test serves one)
@pytest.mark.parametrize("name", sorted(n for n, a in ATTACKS.items() if a.kind == "input" and n != "paraphrase"))
def test_every_input_attack_rewrites_reproducibly_and_keeps_the_target(name):
    spec = parse_attack(name)
    clean = _requests()
    first = [spec.attack_request(r, "He joined FC Alpha.", "task|doc-1") for r in clean]
    again = [spec.attack_request(r, "He joined FC Alpha.", "task|doc-1") for r in clean]
    assert first[0].continuation == " FC Alpha" and first[0].group == 1
    for a, b, c in zip(first, again, clean):
        assert a.messages == b.messages and [im.tobytes() for im in a.visuals] == [im.tobytes() for im in b.visuals]
        changed_text = a.messages != c.messages
        changed_image = [im.tobytes() for im in a.visuals] != [im.tobytes() for im in c.visuals]
        assert changed_text or changed_image, name
    assert clean[0].messages == _requests()[0].messages  # the clean request is not modified in place


def test_noise_differs_between_documents_and_typographic_gives_text_only_requests_an_image():
    noise = parse_attack("noise:sigma=0.2")
    one, two = (noise.attack_request(_requests()[0], "", key).visuals[0].tobytes() for key in ("t|1", "t|2"))
    assert one != two
    attacked = parse_attack("typographic").attack_request(_requests(text_only=True)[1], "", "t|1")
    assert len(attacked.visuals) == 1 and attacked.messages[0]["content"][0] == {"type": "image"}
    assert attacked.messages[0]["content"][1]["text"] == "Answer the question written in the image."


def test_paraphrase_asks_the_llm_once_per_question_and_keeps_the_images(tmp_path):
    def responder(prompt, attempt):
        question = prompt.split("Question: ")[1].split("\n")[0]
        return Reply(json.dumps({"question": f"Reworded: {question}"}))

    with FakeLLMServer(responder) as server:
        spec = parse_attack(f"paraphrase:model=para-m,base_url={server.base_url}")
        first = [spec.attack_request(r, "", "t|1") for r in _requests()]
        again = [spec.attack_request(r, "", "t|1") for r in _requests()]  # the cached reply: no new request
        assert len(server.requests) == 1
    assert first[0].messages[0]["content"][1]["text"] == "Reworded: Which club did he join?"
    assert first[0].messages == again[0].messages and first[0].visuals == _requests()[0].visuals
    with FakeLLMServer(lambda prompt, attempt: Reply("no json here")) as server:
        spec = parse_attack(f"paraphrase:model=other-m,base_url={server.base_url}")
        with pytest.raises(AttackError, match="no question in the paraphrasing model's reply"):
            spec.attack_request(_requests()[0], "", "t|1")


def test_unknown_attack_and_option_are_one_line_errors():
    with pytest.raises(AttackError, match="unknown attack.*did you mean 'quantize'"):
        parse_attack("quantise")
    with pytest.raises(AttackError, match="unknown option 'bit'.*did you mean 'bits'"):
        parse_attack("quantize:bit=4")


def test_attacked_evaluation_is_recorded_and_never_reuses_clean_answers(tiny_model_dir, tmp_path):
    store = tmp_path / "store"
    common = dict(tasks="offside_forget_mm", limit=3, progress=False, verbosity="ERROR", use_cache=store)
    clean = evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, output_path=tmp_path / "clean", **common)
    quant = evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, output_path=tmp_path / "q",
                     attack="quantize:bits=4,group_size=16", **common)
    typo = evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, output_path=tmp_path / "t",
                    attack="typographic", **common)
    assert clean["attack"] is None and quant["attack"]["label"] == "quantize:bits=4,group_size=16"
    assert quant["resumed_samples"] == 0 and typo["resumed_samples"] == 0  # the clean answers were not taken
    written = json.loads((tmp_path / "q" / "results.json").read_text())
    assert written["config"]["attack"] == "quantize:bits=4,group_size=16"
    again = evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, output_path=tmp_path / "q",
                     attack="quantize:bits=4,group_size=16", **common)
    assert again["resumed_samples"] > 0 and again["results"] == quant["results"]  # an attacked run resumes


def test_an_attacked_run_is_refused_in_a_clean_run_folder(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--model", "hf_vlm", "--model_args", f"pretrained={tiny_model_dir}", "--tasks", "offside_forget_mm",
            "--limit", "2", "--output_path", str(out), "--no_progress", "--verbosity", "ERROR"]
    assert eval_main(argv) == 0
    capsys.readouterr()
    assert eval_main(argv + ["--attack", "blur"]) == 2
    assert "holds another run's results (attack: None, now 'blur:radius=2.0')" in capsys.readouterr().err
