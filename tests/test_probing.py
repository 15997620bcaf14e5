"""Probing: the logit lens at the last layer is the evaluator's own log-likelihood, the linear probe
reads a planted signal and not noise, and `offside probe` writes one row per layer."""
import csv

import numpy as np
import pytest

from offside_eval.models import load_model
from offside_eval.probing import ProbeItems, layer_readings, lens_accuracy, probe_accuracy, probe_items
from offside_eval.requests import LoglikelihoodRequest
from offside_run.cli import main as offside_main


def test_last_layer_lens_equals_the_evaluators_loglikelihoods(tiny_model_dir):
    items = probe_items("offside_forget_mm_mc", limit=3)
    lm = load_model("hf_vlm", {"pretrained": str(tiny_model_dir), "dtype": "float32", "device": "cpu"})
    _states, lens = layer_readings(lm, items, batch_size=5)
    want = lm.loglikelihood([LoglikelihoodRequest(e.prompt, e.images, e.answer) for e in items.examples],
                            progress=False)
    np.testing.assert_allclose(lens[:, -1], [w[0] for w in want], rtol=1e-4, atol=1e-4)
    assert len(items.item) == 12 and sum(items.correct) == 3 and items.chance == pytest.approx(0.25)


def _items(n_items: int, options: int = 4) -> ProbeItems:
    return ProbeItems([], [i for i in range(n_items) for _ in range(options)],
                      [j == i % options for i in range(n_items) for j in range(options)])


def test_probe_reads_a_planted_feature_and_not_noise():
    items = _items(40)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(160, 2, 8))
    planted = noise.copy()
    planted[:, 1, 0] += 6.0 * np.asarray(items.correct)  # layer 1 encodes the answer
    assert probe_accuracy(planted, items)[1] == 1.0
    assert probe_accuracy(noise, items)[1] < 0.5 and lens_accuracy(noise[:, :, 0], items)[0] < 0.5


def test_offside_probe_writes_one_row_per_layer(tiny_model_dir, tmp_path, capsys):
    assert offside_main(["probe", str(tiny_model_dir), "--limit", "8", "--out_dir", str(tmp_path)]) == 0
    rows = list(csv.reader((tmp_path / "probe.csv").open()))
    assert rows[0] == ["layer", f"{tiny_model_dir.name} probe", f"{tiny_model_dir.name} lens", "chance"]
    assert len(rows) - 1 == 1 + 4  # the embeddings and each of the tiny model's 4 layers
    assert offside_main(["probe", str(tiny_model_dir), "--task", "offside_forget_mm_gen", "--out_dir",
                         str(tmp_path / "x")]) == 2
    assert "probe: 'offside_forget_mm_gen' must name one multiple_choice task" in capsys.readouterr().err
