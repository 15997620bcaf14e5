"""Property-based tests (hypothesis): the task YAML loader, the record schema and the metric functions
over arbitrary text -- empty, unicode, identical -- and arbitrary values."""
import math
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from offside_benchmarks.offside import OffsideItem
from offside_benchmarks.offside.schema import INFOS, SPLITS

from offside_data.schema import LETTERS, DataError
from offside_eval.metrics import exact_match, extract_letter, generation_scores, mean, nanmean
from offside_eval.task_config import VALID_KEYS
from offside_eval.tasks_index import TaskError, load_yaml

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(max_size=40)  # any unicode, empty included
nonblank = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
mapping = st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), scalars, max_size=4)


@FAST
@given(task=nonblank, metadata=mapping, gen=mapping, top=mapping)
def test_yaml_include_round_trips_and_the_including_file_wins(tmp_path, task, metadata, gen, top):
    (tmp_path / "_base.yaml").write_text(yaml.safe_dump({"generation_kwargs": gen, "metadata": metadata,
                                                         "output_type": "generate_until"}), encoding="utf-8")
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"include": "_base.yaml", "task": task, "metadata": top}),
                                     encoding="utf-8")
    got = load_yaml(tmp_path / "t.yaml")
    assert got["task"] == task and got["generation_kwargs"] == gen and got["output_type"] == "generate_until"
    assert got["metadata"] == {**metadata, **top}


@FAST
@given(key=st.text(string.ascii_lowercase + "_", min_size=1, max_size=20).filter(lambda k: k not in VALID_KEYS))
def test_yaml_unknown_key_is_named(tmp_path, key):
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"task": "t", key: 1}), encoding="utf-8")
    with pytest.raises(TaskError, match=rf"t\.yaml: unknown key '{key}' \(did you mean '\w+'\?\)"):
        load_yaml(tmp_path / "t.yaml")


items = st.builds(
    OffsideItem, id=nonblank, player=nonblank, image=st.one_of(st.none(), nonblank), image_id=st.integers(0, 10**6),
    split=st.sampled_from(SPLITS), info=st.sampled_from(INFOS), question=nonblank, answer=nonblank,
    text_question=st.one_of(st.none(), nonblank), visual_rumor=st.booleans())


@FAST
@given(item=items, options=st.lists(nonblank, min_size=4, max_size=4, unique=True), correct=st.sampled_from(LETTERS))
def test_records_round_trip(item, options, correct):
    with_options = {**item.to_dict(), "options": dict(zip(LETTERS, options)), "correct": correct}
    for record in (item.to_dict(), with_options):
        assert OffsideItem.from_dict(record).to_dict() == record


@FAST
@given(item=items, option=nonblank, index=st.integers(0, 7))
def test_invalid_records_name_the_field(item, option, index):
    repeated = {**item.to_dict(), "options": dict.fromkeys(LETTERS, option), "correct": "A"}
    with pytest.raises(DataError, match=r"f\.json \[record 7\] field 'options': the four options must be distinct"):
        OffsideItem.from_dict(repeated, "f.json", 7)
    blank = {**item.to_dict(), ("question", "answer", "player", "id")[index % 4]: " " * index}
    with pytest.raises(DataError, match=r"\[record 7\] field '(question|answer|player|id)': must be a non-empty"):
        OffsideItem.from_dict(blank, "f.json", 7)


@FAST
@given(prediction=text, reference=text)
def test_generation_scores_are_in_range(prediction, reference):
    scores = generation_scores(prediction, reference)
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "bleu", "gen_score"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert math.isclose(scores["gen_score"], sum(scores[k] for k in ("rouge1", "rouge2", "rougeL", "bleu")) / 4)
    assert exact_match(prediction, reference) == exact_match(reference, prediction) in (0.0, 1.0)


words = st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=4, max_size=12)


@FAST
@given(tokens=words)
def test_identical_texts_score_one(tokens):
    sentence = " ".join(tokens)
    assert generation_scores(sentence, sentence) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "bleu": 1.0,
                                                     "gen_score": 1.0}
    assert exact_match(sentence, f"  {sentence.upper()} ") == 1.0


@FAST
@given(response=text, options=st.one_of(st.none(), st.lists(nonblank, min_size=4, max_size=4)))
def test_extract_letter_only_returns_an_offered_letter(response, options):
    offered = dict(zip(LETTERS, options)) if options else None
    assert extract_letter(response, offered) in (None, *LETTERS)


@FAST
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30), gaps=st.integers(0, 5))
def test_means_stay_within_the_values(values, gaps):
    assert min(values) - 1e-6 <= mean(values) <= max(values) + 1e-6
    assert nanmean(values + [None] * gaps + [float("nan")]) == pytest.approx(mean(values))
