"""The Robustness table and analysis against hand computations on hand-built entries."""
import pytest
from offside_benchmarks.offside.robustness_report import (
    quantization_q,
    recovered_share,
    robustness_analysis,
    robustness_plot,
    robustness_table,
)

from offside_run.entries import Entry
from offside_run.tables import to_markdown


def _entry(method, phase, acc, gen, attack=None):
    return Entry(method, "complete", phase, {"forget": {"acc": acc, "gen_score": gen}}, attack=attack)


ENTRIES = [
    _entry("vanilla", "vanilla", 0.9, 0.8),
    _entry("ga", "unlearned", 0.3, 0.2), _entry("npo", "unlearned", 0.5, 0.4),
    _entry("ga", "unlearned", 0.6, 0.2, attack="quantize:bits=4"),  # (0.6-0.3)/(0.9-0.3) = 0.5
    _entry("npo", "unlearned", 0.6, 0.5, attack="quantize:bits=4"),  # (0.6-0.5)/(0.9-0.5) = 0.25
    _entry("ga", "unlearned", 0.9, 0.2, attack="typographic"),  # 1.0: everything back
    _entry("npo", "unlearned", 0.4, 0.4, attack="typographic"),  # -0.25: forgets even more
]


def test_recovered_share_and_q_by_hand():
    assert recovered_share(0.9, 0.3, 0.6) == pytest.approx(0.5)
    assert recovered_share(0.5, 0.5, 0.9) is None  # nothing was removed
    assert quantization_q(0.3, 0.6) == pytest.approx(0.5) and quantization_q(0.3, 0.2) == 1.0


def test_table_has_a_column_per_attack_and_the_worst_case():
    table = robustness_table(ENTRIES)
    assert [g for g, _ in table.groups] == ["quantize:bits=4", "typographic", "Worst case"]
    rows = dict(table.rows)
    assert rows["GA"] == pytest.approx([0.5, 0.0, 1.0, 0.0, 1.0, 0.0])
    assert rows["NPO"] == pytest.approx([0.25, 0.25, -0.25, 0.0, 0.25, 0.25])
    markdown = to_markdown(table)
    assert "| NPO | **0.250** |" in markdown  # lower share = more robust, bold


def test_heatmap_is_written_only_with_attacks(tmp_path):
    assert [p.name for p in robustness_plot(ENTRIES, tmp_path)] == ["robustness.png"]
    assert (tmp_path / "robustness.pdf").stat().st_size > 1000
    assert robustness_plot(ENTRIES[:3], tmp_path / "none") == []


def test_analysis_names_the_least_and_most_robust_method_per_attack():
    text = robustness_analysis(ENTRIES)
    assert "- quantize:bits=4: restores 50% for GA (least robust) and 25% for NPO (most robust); Q = GA 0.50, " \
           "NPO 0.83" in text
    assert robustness_table([e for e in ENTRIES if not e.attack]) is None and robustness_analysis(ENTRIES[:3]) == ""
