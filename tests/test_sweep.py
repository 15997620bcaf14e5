"""Search, selection and seeds (#27): the statistics against hand computations, the search expansion,
the selection rules on constructed numbers, and the report's intervals and significance-only bold."""
import math

import numpy as np
import pytest
from offside_benchmarks.offside.report import build_tables
from scipy import stats as scipy_stats

from offside_run.entries import Entry
from offside_run.experiment import Experiment, ExperimentError
from offside_run.seeds import aggregate
from offside_run.selection import choose, measure, with_defaults
from offside_run.stats import holm, paired_test, seed_ci, seed_item_ci
from offside_run.sweep import expand, method_space
from offside_run.tables import to_csv, to_markdown

SPEC = with_defaults({}, "exp.yaml", unlearning_metrics=True)
STEPS = {"space": {"ga": {"max_steps": [1, 2]}}}  # the declared space searches epochs: max_steps would override them


# ----------------------------------------------------------------------------- statistics

def test_paired_test_exact_sign_flip_p_values():
    # every item better by 1: of the 2^n sign flips only the all-plus and all-minus ones are as extreme
    assert paired_test([1.0] * 5, [0.0] * 5) == pytest.approx(2 / 32)
    assert paired_test([1.0] * 6, [0.0] * 6) == pytest.approx(2 / 64)
    # differences (+1, +1, -1, +3): |mean| >= 1 for the flips (+,+,-,+), (-,-,+,-), (+,-,+,+), (-,+,-,-)... counted
    d = np.array([1, 1, -1, 3])
    flips = np.array(np.meshgrid(*[[1, -1]] * 4)).reshape(4, -1).T
    want = np.mean(np.abs((flips * d).mean(axis=1)) >= abs(d.mean()) - 1e-12)
    assert paired_test(d.tolist(), [0.0] * 4) == pytest.approx(want)
    assert paired_test([0.5, 0.2], [0.5, 0.2]) == 1.0


def test_holm_step_down_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_seed_item_ci_on_known_samples():
    assert seed_item_ci([[0.4] * 10, [0.4] * 10]) == (pytest.approx(0.4), pytest.approx(0.4))
    # one seed: the percentile interval over items, as scipy's bootstrap gives it, near mean +- 1.96 sd / sqrt(n)
    items = np.array([0, 1] * 50, dtype=float)  # mean 0.5, sd 0.5, n 100 -> +-0.098
    lo, hi = seed_item_ci([items], resamples=4000)
    ref = scipy_stats.bootstrap((items,), np.mean, method="percentile", n_resamples=4000,
                                rng=np.random.default_rng(1)).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.015) and hi == pytest.approx(ref.high, abs=0.015)
    assert lo == pytest.approx(0.5 - 0.098, abs=0.015) and hi == pytest.approx(0.5 + 0.098, abs=0.015)
    # seeds that disagree widen the interval beyond the items' alone
    shifted = [items, items + 0.2, items - 0.2]
    lo3, hi3 = seed_item_ci(shifted)
    assert hi3 - lo3 > hi - lo and lo3 < 0.5 < hi3
    assert seed_ci([0.3]) is None and seed_ci([0.2, 0.2, 0.2]) == (0.2, 0.2)
    lo, hi = seed_ci([0.1, 0.2, 0.3])
    assert 0.1 <= lo < 0.2 < hi <= 0.3


# ----------------------------------------------------------------------------- search

def test_grid_and_random_expansion():
    space = {"learning_rate": [1e-5, 2e-5, 5e-5], "max_steps": [10, 20]}
    grid = expand(space)
    assert len(grid) == 6 and grid[0] == {"learning_rate": 1e-5, "max_steps": 10}
    assert grid[1] == {"learning_rate": 1e-5, "max_steps": 20}
    drawn = expand(space, "random", trials=4, seed=3)
    assert drawn == expand(space, "random", trials=4, seed=3) and len(drawn) == 4
    assert all(p in grid for p in drawn) and len({tuple(p.items()) for p in drawn}) == 4
    assert drawn != expand(space, "random", trials=4, seed=4)
    assert len(expand(space, "random", trials=50, seed=0)) == 6  # never more points than the grid has


def test_declared_search_space_and_its_override():
    assert method_space({}, "npo")["beta"] == [0.1, 0.9] and "learning_rate" in method_space({}, "ga")
    assert method_space({"space": {"ga": {"max_steps": [5]}}}, "ga") == {"max_steps": [5]}


@pytest.mark.parametrize(("change", "message"), [
    ({"search": {"mode": "sobol"}}, "search.mode: 'sobol' is not one of grid, random"),
    ({"search": {"mode": "random"}}, "search.trials: random search needs a positive number"),
    ({"search": {"spaces": {}}}, "unknown key 'spaces' (did you mean 'space'?)"),
    ({"search": {"space": {"ga": {"learnin_rate": [1e-4]}}}}, "ga has no option 'learnin_rate'"),
    ({"search": {"space": {"npo": {"beta": [0.1]}}}}, "'npo' is not one of the experiment's methods"),
    ({"search": {"space": {"ga": {"num_train_epochs": [1, 2]}}}}, "max_steps=3 overrides epochs"),
    ({"seeds": [0, 0]}, "seeds must be a list of distinct integers"),
    ({"seeds": [0, 1], "unlearn": {"seed": 3}}, "unlearn.seed: the seeds axis sets"),
    ({"search": {"trials": 3}}, "search.trials: applies to mode random"),
    ({"benchmark": "mllmu", "seeds": [0, 1]}, "seeds does not apply to benchmark mllmu"),
    ({"search": {}, "select": {"rule": "best"}}, "select needs a search section"),
    ({"search": STEPS, "select": {"rule": "best"}}, "select.rule: 'best' is not one of"),
    ({"search": STEPS, "select": {"forget": "test:gen_score"}}, "never the test set"),
    ({"search": STEPS, "select": {"rule": "mean_quality_utility"}, "unlearning_metrics": False},
     "needs forget quality"),
])
def test_bad_search_sections_fail_with_one_line(change, message):
    data = {"output_dir": "x", "methods": {"ga": {"max_steps": 3}}} | change
    with pytest.raises(ExperimentError, match=None) as err:
        Experiment.from_dict(data, "exp.yaml")
    assert message in str(err.value) and str(err.value).startswith("exp.yaml: ")


# ----------------------------------------------------------------------------- selection

def test_measure_reads_role_metrics_of_the_validation_tasks():
    tasks = {"forget": {"mc": "f_mc", "gen": "f_gen"}, "retain": {"mc": "r_mc", "gen": "r_gen"},
             "unlearning": {"tr": "f_tr"}}
    results = {"f_gen": {"gen_score": 0.25}, "r_mc": {"acc": 0.5}, "r_gen": {"gen_score": 1.0},
               "f_tr": {"forget_quality": 0.3}}
    got = measure(results, tasks, SPEC)
    assert got == {"forget_efficacy": 0.75, "model_utility": pytest.approx(2 / (1 / 0.5 + 1 / 1.0)),
                   "forget_quality": 0.3}


def test_utility_floor_rule():
    means = {"c0": {"forget_efficacy": 0.9, "model_utility": 0.40},  # forgets most, below the floor
             "c1": {"forget_efficacy": 0.6, "model_utility": 0.55},
             "c2": {"forget_efficacy": 0.7, "model_utility": 0.50}}
    spec = SPEC | {"share": 0.9}
    winner, why = choose(means, 0.6, spec)  # floor 0.54: only c1 keeps it
    assert winner == "c1" and "1 of 3 points" in why
    assert choose(means, 0.5, spec)[0] == "c2"  # floor 0.45: c1 and c2; c2 forgets more
    winner, why = choose(means, 0.9, spec)  # nobody keeps 0.81: the one keeping the most
    assert winner == "c1" and "no point keeps" in why


def test_mean_quality_utility_rule():
    means = {"c0": {"forget_quality": 0.9, "model_utility": 0.2, "forget_efficacy": 0.5},  # mean 0.55
             "c1": {"forget_quality": 0.5, "model_utility": 0.7, "forget_efficacy": 0.1},  # mean 0.60
             "c2": {"forget_quality": None, "model_utility": 0.9, "forget_efficacy": 0.9}}  # no quality: last
    assert choose(means, None, SPEC | {"rule": "mean_quality_utility"})[0] == "c1"


# ----------------------------------------------------------------------------- report

def _entry(method, seed, forget, retain, phase="unlearned"):
    """An entry whose forget / retain gen_score items are the given lists (ids i0, i1, ...)."""
    def role(values, metric="gen_score"):
        return [{"id": f"i{k}", metric: v} for k, v in enumerate(values)]

    metrics = {"forget": {"gen_score": float(np.mean(forget)), "gen_score_n": len(forget)},
               "retain": {"gen_score": float(np.mean(retain)), "gen_score_n": len(retain)}}
    return Entry(method, "complete", phase, metrics, {"forget": role(forget), "retain": role(retain)}, seed=seed)


def test_seeded_tables_show_intervals_and_bold_only_significant_differences():
    n = 12
    entries = [_entry("vanilla", None, [1.0] * n, [1.0] * n, phase="vanilla")]
    for seed in (0, 1, 2):
        # GA forgets every item, NPO none; on retain both keep about the same (no significant difference)
        entries.append(_entry("ga", seed, [0.0] * n, [0.8 + 0.01 * seed] * n))
        entries.append(_entry("npo", seed, [1.0] * n, [(0.7, 0.9)[k % 2] for k in range(n)]))
    merged = aggregate(entries)
    assert [(e.method, e.seeds) for e in merged] == [("vanilla", ()), ("ga", (0, 1, 2)), ("npo", (0, 1, 2))]
    ga = merged[1]
    assert ga.metrics["retain"]["gen_score"] == pytest.approx(0.81)  # the mean over seeds
    assert ga.metrics["retain"]["gen_score_lo"] <= 0.81 <= ga.metrics["retain"]["gen_score_hi"]
    table = build_tables(merged)[0]
    md = to_markdown(table)
    ga_row = next(line for line in md.splitlines() if line.startswith("| GA |"))
    npo_row = next(line for line in md.splitlines() if line.startswith("| NPO |"))
    assert "**0.000** [0.000, 0.000]" in ga_row  # forget: GA lower on all 12 items, p = 2/4096 < 0.05
    assert "**" not in npo_row and "0.810" in ga_row and "**0.810" not in ga_row  # retain: best, not significant
    assert "3 seeds: 0, 1, 2" in table.note and "Holm" in table.note and "α = 0.05" in table.note
    assert "ci95_low" in to_csv(table).splitlines()[0]
    # seed 0's entries without a seed axis: the best value is bold, as always, with no intervals
    plain = [_entry(e.method, None, [r["gen_score"] for r in e.samples["forget"]],
                    [r["gen_score"] for r in e.samples["retain"]], e.phase) for e in entries[:3]]
    md_plain = to_markdown(build_tables(plain)[0])
    assert "[0." not in md_plain and "**0.000**" in md_plain and "± one standard error" in md_plain


def test_interval_metric_without_items_is_over_seeds():
    entries = [Entry("ga", "complete", "unlearned", {"unlearning": {"forget_quality": q}}, {}, seed=s)
               for s, q in enumerate([0.1, 0.2, 0.3])]
    (merged,) = aggregate(entries)
    assert merged.metrics["unlearning"]["forget_quality"] == pytest.approx(0.2)
    lo, hi = merged.metrics["unlearning"]["forget_quality_lo"], merged.metrics["unlearning"]["forget_quality_hi"]
    assert 0.1 <= lo < 0.2 < hi <= 0.3 and not math.isnan(lo)
