"""Each metric's label, direction and format are declared once, where the metric is defined, and every
table uses that declaration."""
import pytest

from offside_eval.metrics import DISPLAYS, declare_metric, metric_display
from offside_run.profiles import load_profiles
from offside_run.tables import Table, column_label, fmt_error, fmt_value, to_markdown

NOT_SHOWN = {"fact_score_missing"}  # a count of unjudged answers, not a score


def test_every_metric_a_shipped_report_takes_is_declared():
    missing = {(name, m) for name, profile in load_profiles().items() for metrics in profile.kind_metrics.values()
               for m in metrics if m not in DISPLAYS and m not in NOT_SHOWN}
    assert not missing, missing


def test_a_declaration_gives_label_unit_and_direction_and_a_second_one_is_refused():
    declare_metric("display_test_share", "Share Shown", higher_is_better=False, unit="percent")
    assert (column_label("forget:display_test_share"), fmt_value("display_test_share", 0.1234),
            fmt_error("display_test_share", 0.01)) == ("Share Shown", "12.3%", "1.0")
    assert metric_display("display_test_share").higher_is_better is False
    with pytest.raises(ValueError, match="display_test_share.*registered twice"):
        declare_metric("display_test_share", "Other")
    with pytest.raises(ValueError, match="unit 'pct' is not one of"):
        declare_metric("display_test_other", "Other", unit="pct")
    assert (fmt_value("privleak_loss", 12.345), fmt_value("fact_score", 7.257), fmt_value("truth_ratio", 0.5)) == \
        ("+12.3", "7.26", "0.500")
    assert metric_display("not_declared_anywhere").label == "not_declared_anywhere"  # never a wrong label


def test_markdown_header_takes_the_declared_label_and_arrow():
    table = Table("t", [("Forget Set", [("forget:privleak_loss", metric_display("privleak_loss").higher_is_better)])],
                  [("GA", [3.0])])
    assert "| Method | Forget Set PrivLeak (LOSS) →0 |" in to_markdown(table)


def test_a_benchmark_declares_its_own_sets_and_which_are_to_be_forgotten(tmp_path):
    from offside_run.entries import Entry
    from offside_run.report import results_table
    from offside_run.tables import ROLE_LABELS, declare_role

    assert {"forget_private", "celebrity"} <= set(ROLE_LABELS)  # OFFSIDE's and MLLMU-Bench's, from their folders
    declare_role("display_test_secrets", "Secrets", forgotten=True)
    with pytest.raises(ValueError, match="display_test_secrets.*registered twice"):
        declare_role("display_test_secrets", "Other")
    table = results_table([Entry("ga", "complete", "unlearned", {"display_test_secrets": {"acc": 0.5}})])
    assert table.groups == [("Secrets", [("display_test_secrets:acc", False)])]  # to be forgotten: lower is better
