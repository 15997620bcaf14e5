import math

import pytest
from offside_benchmarks.offside.analyses import (
    bounce_back,
    fact_breakdown,
    forgotten_overlap,
    prompt_attack_gap,
    visual_rumor_breakdown,
)
from offside_benchmarks.offside.report import build_tables, write_report

from offside_run.entries import Entry
from offside_run.tables import to_csv, to_latex, to_markdown

FACTS = ["height", "height", "transfer_fee", "transfer_fee"]  # the fact type of each sample


def _samples(scores, visual=()):
    return [{"id": f"f{i}", "visual_rumor": i in visual, "gen_score": s, "fact": FACTS[i]} for i, s in enumerate(scores)]


def _m(forget, test, retain, acc=0.5, relearn=None):
    out = {"forget": {"acc": acc, "gen_score": forget}, "test": {"acc": 0.5, "gen_score": test},
           "retain": {"acc": 0.6, "gen_score": retain}}
    if relearn is not None:
        out["relearn"] = {"acc": 0.5, "gen_score": relearn}
    return out


@pytest.fixture
def entries():
    return [
        Entry("vanilla", "complete", "vanilla", _m(0.9, 0.7, 0.9, acc=0.8), {"forget": _samples([0.9, 0.9, 0.9, 0.9], {0})}),
        Entry("ga", "complete", "unlearned", _m(0.3, 0.5, 0.6, acc=0.6), {"forget": _samples([0.1, 0.2, 0.9, 0.9], {0})}),
        Entry("npo", "complete", "unlearned", _m(0.4, 0.6, 0.7, acc=0.4), {"forget": _samples([0.1, 0.9, 0.1, 0.1], {0})}),
        Entry("vanilla", "complete", "relearned", _m(0.8, 0.7, 0.8, relearn=0.9), {"forget": _samples([0.2, 0.9, 0.9, 0.1])}),
        Entry("ga", "complete", "relearned", _m(0.6, 0.6, 0.7, relearn=0.9)),
        Entry("npo", "complete", "relearned", _m(0.4, 0.6, 0.7, relearn=0.9)),
        Entry("ga", "unimodal", "unlearned", _m(0.8, 0.6, 0.7)),
        Entry("kl", "complete", "unlearned", {}, error="RuntimeError: boom"),
    ]


def test_fact_breakdown_hand_values(entries, tmp_path):
    facts = fact_breakdown(entries)
    assert facts["height"] == {"Vanilla": (pytest.approx(0.9), 2), "GA": (pytest.approx(0.15), 2),
                               "NPO": (pytest.approx(0.5), 2)}
    assert facts["transfer_fee"]["GA"] == (pytest.approx(0.9), 2)  # GA left the fee facts untouched
    text = write_report(entries, tmp_path).read_text()
    assert "| transfer_fee | 0.900 (n=2) | 0.900 (n=2) | 0.100 (n=2) |" in text


def test_prompt_attack_gap_hand_values(entries):
    gap = prompt_attack_gap(entries)
    assert gap["ga"] == pytest.approx(0.6 / 0.8 - 0.3 / 0.9)
    assert gap["npo"] == pytest.approx(0.4 / 0.8 - 0.4 / 0.9)
    assert "kl" not in gap


def test_forgotten_overlap_hand_values(entries):
    # control (vanilla relearned) forgot f0 and f3; ga forgot f0, f1; npo forgot f0, f2, f3
    overlap = forgotten_overlap(entries)
    assert overlap["ga"] == pytest.approx(1 / 2)
    assert overlap["npo"] == pytest.approx(2 / 3)


def test_visual_rumor_breakdown(entries):
    vis = visual_rumor_breakdown(entries)
    assert vis["GA"] == {"visual": pytest.approx(0.1), "non_visual": pytest.approx((0.2 + 0.9 + 0.9) / 3),
                         "visual_n": 1, "non_visual_n": 3}


def test_bounce_back(entries):
    bb = bounce_back(entries)
    assert bb["ga"]["recovered_share"] == pytest.approx((0.6 - 0.3) / (0.9 - 0.3))
    assert bb["npo"]["recovered_share"] == pytest.approx(0.0)


def test_tables_layout_and_best(entries):
    tables = {t.title.split(":")[0]: t for t in build_tables(entries)}
    assert set(tables) == {"Table 2", "Table 3", "Table 4", "Figure 3"}
    assert not tables["Table 3"].rows and "add `selective` to the experiment's `settings`" in tables["Table 3"].note
    assert "_Empty: no checkpoint was unlearned in the selective setting" in to_markdown(tables["Table 3"])
    t2 = tables["Table 2"]
    assert [name for name, _ in t2.rows] == ["Vanilla", "GA", "NPO"]  # display names; failed kl is not a row
    utility = t2.columns().index(("Overall", "overall:model_utility", True))
    # GA: harmonic mean of retain acc 0.6, gen 0.6 and test acc 0.5, gen 0.5
    assert t2.rows[1][1][utility] == pytest.approx(4 / (2 / 0.6 + 2 / 0.5))
    cols = t2.columns()
    forget_gen = cols.index(("Forget Set", "forget:gen_score", False))
    retain_gen = cols.index(("Retain Set", "retain:gen_score", True))
    best = t2.best()
    assert best[forget_gen] == {1}  # ga has the lowest forget score (vanilla excluded)
    assert best[retain_gen] == {2}  # npo keeps the most retain
    md = to_markdown(t2)
    assert "Forget Set Gen. Score ↓" in md and "Retain Set Class. Acc. ↑" in md and "**0.300**" in md
    assert "forget:gen_score/lower_is_better" in to_csv(t2)
    assert "\\textbf{0.300}" in to_latex(t2)
    t4 = tables["Table 4"]
    assert [n for n, _ in t4.rows] == ["Vanilla (relearned only)", "GA", "NPO"] and any("Relearn Set" == g for g, _ in t4.groups)


def test_write_report(entries, tmp_path):
    path = write_report(entries, tmp_path)
    text = path.read_text()
    for needle in ("Table 2", "Table 4", "Figure 3", "Prompt-attack gap", "Forgotten-ID overlap", "Bounce-back",
                   "Visual-rumor breakdown", "- KL: RuntimeError: boom"):
        assert needle in text
    for png in ("tradeoff.png", "bounce_back.png", "unimodal.png"):
        assert (tmp_path / "plots" / png).stat().st_size > 1000
    assert len(list((tmp_path / "tables").glob("*.csv"))) == 3
    assert not math.isnan(forgotten_overlap(entries)["ga"])


def test_selective_table_layout():
    sel = {"forget_private": {"gen_score": 0.2}, "test": {"gen_score": 0.6}, "forget_shared": {"gen_score": 0.5}}
    entries = [Entry("vanilla", "complete", "vanilla", {"forget_private": {"gen_score": 0.9},
                                                          "test": {"gen_score": 0.7},
                                                          "forget_shared": {"gen_score": 0.9}}),
               Entry("ga", "selective", "unlearned", sel)]
    table = next(t for t in build_tables(entries) if t.title.startswith("Table 3"))
    assert [g for g, _ in table.groups] == ["Private Info", "Test Set", "Shared Info", "Overall"]
    assert table.rows[1] == ("GA", [0.2, 0.6, 0.5, 0.6])  # model utility: of the test gen_score alone
    assert [h for _g, _k, h in table.columns()] == [False, True, True, True]


def test_utility_tasks_and_unlearning_metrics_get_their_columns(entries):
    from offside_benchmarks.offside.unlearning_report import unlearning_analysis, unlearning_table

    for e in entries:
        if e.phase in ("vanilla", "unlearned") and not e.error:
            e.metrics["utility"] = {"mmbench_en_dev": {"vanilla": 0.7, "ga": 0.5, "npo": 0.6}.get(e.method, 0.55)}
    entries[0].metrics["unlearning"] = {"truth_ratio": 0.2, "correction_share": 0.3, "privleak_loss": 80.0}
    entries[1].metrics["unlearning"] = {"truth_ratio": 0.8, "correction_share": 0.6,  # ga: toward the correction
                                        "privleak_loss": -30.0}
    entries[2].metrics["unlearning"] = {"truth_ratio": 0.7, "correction_share": 0.2,  # npo: away from the rumor only
                                        "privleak_loss": 12.5}
    t2 = next(t for t in build_tables(entries) if t.title.startswith("Table 2"))
    col = t2.columns().index(("Utility", "utility:mmbench_en_dev", True))
    assert [values[col] for _name, values in t2.rows] == [0.7, 0.5, 0.6]
    assert "Utility mmbench_en_dev ↑" in to_markdown(t2)
    table = unlearning_table(entries)
    assert [name for name, _ in table.rows] == ["Vanilla", "GA", "NPO"]
    # PrivLeak: closest to zero is best (npo's +12.5, not ga's lower -30.0)
    assert "| NPO | 0.700 | 0.200 | **+12.5** | **0.592** |" in to_markdown(table)
    assert "PrivLeak (LOSS) →0" in to_markdown(table) and "token set 'answer'" in table.note
    assert "Forget Set/unlearning:privleak_loss/closest_to_zero_is_better" in to_csv(table).splitlines()[0]
    text = unlearning_analysis(entries)
    assert "Prefer the corrected fact (share > 0.5): GA." in text
    assert "(truth ratio up, the corrected fact not preferred): NPO." in text


def test_cells_carry_their_stderr_and_notes_the_n_per_set():
    from offside_benchmarks.offside.unlearning_report import unlearning_table

    vanilla = Entry("vanilla", "complete", "vanilla", {"forget": {"gen_score": 0.9, "gen_score_stderr": 0.01,
                                                                  "gen_score_n": 84}})
    ga = Entry("ga", "complete", "unlearned", {
        "forget": {"gen_score": 0.3, "gen_score_stderr": 0.05, "gen_score_n": 84},
        "unlearning": {"truth_ratio": 0.7, "truth_ratio_n": 84, "correction_share": 0.6, "correction_share_n": 40}})
    t2 = build_tables([vanilla, ga])[0]
    assert t2.note == "n per set: Forget Set 84; ± one standard error where known"
    assert "| GA | **0.300** ± 0.050 |" in to_markdown(t2) and "| Vanilla | 0.900 ± 0.010 |" in to_markdown(t2)
    assert to_csv(t2).splitlines()[2].startswith("GA,0.3,0.05,")  # then the empty test / retain columns
    assert "GA & \\textbf{0.300} {\\scriptsize $\\pm$0.050} & --" in to_latex(t2)
    assert "\\cmidrule(lr){2-2}" in to_latex(t2) and "\\bottomrule" in to_latex(t2)
    note = unlearning_table([vanilla, ga]).note
    assert note.startswith("n per set: Forget Set: Truth Ratio 84, Correction Share 40;") and "token set 'answer'" in note


def test_the_generic_report_takes_declared_labels_and_flips_forget_columns(tmp_path):
    """A benchmark without a writer of its own gets one table: each set's metrics under their declared
    label; on a forget set a higher-is-better metric is best lower; a failed stage is listed."""
    from offside_run.report import write_report as generic_report

    entries = [Entry("vanilla", "complete", "vanilla", {"forget": {"exact_match": 0.75}, "retain": {"exact_match": 0.5}}),
               Entry("ga", "complete", "unlearned", {"forget": {"exact_match": 0.25, "exact_match_stderr": 0.1},
                                                     "retain": {"exact_match": 0.5}}),
               Entry("npo", "complete", "unlearned", {"forget": {"exact_match": 0.5}, "retain": {"exact_match": 0.25}}),
               Entry("kl", "complete", "unlearned", {}, error="RuntimeError: out of memory")]
    md = generic_report(entries, tmp_path, "Toy run").read_text()
    assert "| Method | Forget Set Exact Match ↓ | Retain Set Exact Match ↑ |" in md
    assert "| GA | **25.0%** ± 10.0 | **50.0%** |" in md and "| NPO | 50.0% | 25.0% |" in md
    assert "- KL: RuntimeError: out of memory" in md
    assert (tmp_path / "tables" / "results.csv").read_text().splitlines()[0].startswith(
        "method,Forget Set/forget:exact_match/lower_is_better")
