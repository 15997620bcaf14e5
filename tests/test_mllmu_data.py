"""MLLMU-Bench reader and MLLMU-mini: counts by hand, eval.py's few-shot exclusion, determinism, errors."""
import hashlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from offside_benchmarks.mllmu import ensure_mllmu_mini
from offside_benchmarks.mllmu.release import draw_shot_profiles, mllmu_docs, read_config, read_release
from offside_benchmarks.mllmu.synth import generate

from offside_data.cli import main as data_cli
from offside_data.schema import DataError

# MLLMU-mini per profile: 3+3 classification, 2+2 generation, 2+2 cloze (image+text / text).
PER = {"cls": 3, "gen": 2, "cloze": 2}
SHOTS = {"cls": 1, "gen": 0, "cloze": 2}


@pytest.fixture(scope="module")
def root():
    return ensure_mllmu_mini()


@pytest.fixture(scope="module")
def release(root):
    return read_release(root)


def _rewrite(path, edit):
    table = pq.read_table(path)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


@pytest.mark.parametrize("ratio, profiles", [(5, {"forget": 3, "test": 3, "retain": 57, "celebrity": 6}),
                                             (10, {"forget": 6, "test": 6, "retain": 54, "celebrity": 6})])
def test_doc_counts_per_split_kind_modality(root, release, ratio, profiles):
    expected = {  # written out by hand for ratio 5: forget cls 3*3-1*3, cloze 3*2-2*2, retain cls 57*3-3
        5: {("forget", "cls"): 6, ("forget", "gen"): 6, ("forget", "cloze"): 2, ("retain", "cls"): 168,
            ("retain", "gen"): 114, ("retain", "cloze"): 110, ("celebrity", "cls"): 18, ("celebrity", "cloze"): 12},
        10: {("forget", "cls"): 15, ("forget", "cloze"): 8, ("retain", "cls"): 159, ("retain", "cloze"): 104}}[ratio]
    for split, n in profiles.items():
        for kind, per in PER.items():
            shots = 0 if split == "celebrity" else SHOTS[kind]  # celebrity IDs are not in Full_Set
            for modality in ("mm", "text"):
                docs = mllmu_docs(root, split, kind, modality, forget_ratio=ratio, rows=release)
                assert len(docs) == n * per - shots * per, (split, kind, modality)
                assert len(docs) == expected.get((split, kind), len(docs))
                assert {d.n_fewshot_excluded for d in docs} == {shots * per}
                assert len({d.id for d in docs}) == len(docs)
                assert all((d.image is None) == (modality == "text") for d in docs[:2])


def test_forget_ratio_switches_forget_retain_and_test_together(root, release):
    ids = {r: {s: {d.profile for d in mllmu_docs(root, s, "gen", "text", forget_ratio=r, rows=release)}
               for s in ("forget", "test", "retain")} for r in (5, 10)}
    for r in (5, 10):
        assert ids[r]["test"] == ids[r]["forget"]
        assert not ids[r]["forget"] & ids[r]["retain"]
        assert len(ids[r]["forget"] | ids[r]["retain"]) == 60
    assert ids[5]["forget"] < ids[10]["forget"]


def test_test_mode_excludes_by_full_set_index_like_eval_py(root, tmp_path):
    """eval.py skips (ID, idx) pairs recorded from Full_Set: a 4th Test_Set question of the shot
    profile (index 3, absent from its Full_Set list) is scored; its indices 0-2 are not."""
    copy = tmp_path / "release"
    shutil.copytree(root, copy)
    extra = {"Correct_Answer": "B", "Options": {k: f"opt {k}" for k in "ABCD"}, "Question": "Extra question?"}

    def add_question(rows):
        for row in rows:
            row["Classification_Task"]["Image_Textual_Questions"].append(extra)

    for shard in sorted((copy / "Test_Set").glob("*.parquet")):
        _rewrite(shard, add_question)
    forget_ids = [r["ID"] for r in read_config(copy, "forget_5")]
    (shot,) = draw_shot_profiles(forget_ids, "cls", "test", 1, seed=3)
    docs = mllmu_docs(copy, "test", "cls", "mm", seed=3)
    assert len(docs) == 3 * 4 - 3
    assert docs[0].n_fewshot_excluded == 3 and docs[0].shot_profiles == (shot,)
    assert sorted(d.id for d in docs if d.profile == shot) == [f"{shot}/cls/mm/3"]
    full_questions = [q["Question"] for r in read_config(copy, "Full_Set") if r["ID"] == shot
                      for q in r["Classification_Task"]["Image_Textual_Questions"]]
    assert [s.question for s in docs[0].shots] == full_questions  # shots come from Full_Set, not Test_Set
    assert {s.profile for s in docs[0].shots} == {shot} and docs[0].shots[0].image.size == (128, 128)
    none = mllmu_docs(copy, "test", "cls", "mm", seed=3, shots=0)
    assert len(none) == 12 and none[0].n_fewshot_excluded == 0 and none[0].shots == ()
    two = mllmu_docs(copy, "forget", "cls", "text", seed=3, shots=2)
    assert len(two) == 3 and two[0].n_fewshot_excluded == 6 and len(two[0].shots) == 6


def test_cloze_shots_split_by_type_and_keep_the_blank(root, release):
    docs = mllmu_docs(root, "retain", "cloze", "text", rows=release)
    assert all(d.question.count("__") == 1 and d.index in (1, 3) for d in docs)
    assert len(docs[0].shots) == 4 and all(s.image is None for s in docs[0].shots)
    with pytest.raises(ValueError, match="gen: shot count must be 0"):
        mllmu_docs(root, "forget", "gen", "mm", shots=1, rows=release)
    with pytest.raises(ValueError, match="4 shot profiles requested but only 3"):
        mllmu_docs(root, "forget", "cls", "mm", shots=4, rows=release)


def test_seeded_choices_are_reproducible(root, release):
    def picks(seed):
        docs = mllmu_docs(root, "test", "gen", "mm", forget_ratio=15, seed=seed, rows=release)
        return [(d.profile, d.image_index) for d in docs], mllmu_docs(
            root, "retain", "cls", "mm", seed=seed, rows=release)[0].shot_profiles

    assert picks(0) == picks(0)
    assert picks(0) != picks(1)
    images, _ = picks(0)
    assert {k for _, k in images} <= {0, 1, 2} and len({k for _, k in images}) > 1
    by_profile = dict(images)  # one image per profile across its docs
    assert all(by_profile[p] == k for p, k in images)


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fixture_is_byte_identical_per_seed_and_release_shaped(tmp_path, root):
    generate(tmp_path / "a", n_profiles=20, n_celebrities=2, seed=4)
    generate(tmp_path / "b", n_profiles=20, n_celebrities=2, seed=4)
    generate(tmp_path / "c", n_profiles=20, n_celebrities=2, seed=5)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b and a != c
    assert "Test_Set/train-00001-of-00002.parquet" in a and "forget_15/train-00000-of-00001.parquet" in a
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 2 * 2**20
    full = pq.read_schema(root / "Full_Set" / "train-00000-of-00001.parquet")
    assert full.names == ["image", "ID", "Directory", "biography", "question", "answer",
                          "Classification_Task", "Generation_Task", "Mask_Task"]
    assert str(full.field("image").type) == "struct<bytes: binary, path: string>"
    test = pq.read_schema(root / "Test_Set" / "train-00000-of-00002.parquet")
    assert str(test.field("images").type) == "list<element: struct<bytes: binary, path: string>>"
    assert pq.read_schema(root / "ft_Data" / "train-00000-of-00001.parquet").names == ["image", "ID", "metadata"]


def test_bad_release_errors_name_file_row_field(root, tmp_path, capsys):
    copy = tmp_path / "release"
    shutil.copytree(root, copy)
    full = copy / "Full_Set" / "train-00000-of-00001.parquet"
    _rewrite(full, lambda rows: rows[4]["Classification_Task"]["Image_Textual_Questions"][1].update(Correct_Answer="E"))
    with pytest.raises(DataError, match=rf"{full} \[record 4\] field "
                                        r"'Classification_Task.Image_Textual_Questions\[1\].Correct_Answer'"):
        read_config(copy, "Full_Set")
    ft = copy / "ft_Data" / "train-00000-of-00001.parquet"
    _rewrite(ft, lambda rows: rows[2].update(metadata="[{not json"))
    with pytest.raises(DataError, match=r"\[record 2\] field 'metadata': not JSON"):
        read_config(copy, "ft_Data")
    retain = copy / "retain_95" / "train-00000-of-00001.parquet"
    _rewrite(retain, lambda rows: rows[7]["image"].update(bytes=b"not an image"))
    docs = mllmu_docs(copy, "retain", "gen", "mm")
    with pytest.raises(DataError, match=rf"{retain} \[record 7\] field 'image': image cannot be decoded"):
        [d.image for d in docs if d.profile == read_config(copy, "retain_95")[7]["ID"]]
    (copy / "Test_Set" / "train-00001-of-00002.parquet").unlink()
    with pytest.raises(DataError, match=r"Test_Set/train-00001-of-00002.parquet: shard missing \(have 1 of 2\)"):
        read_config(copy, "Test_Set")
    shutil.rmtree(copy / "Retain_Set")
    with pytest.raises(DataError, match=r"Retain_Set: config folder not found"):
        read_config(copy, "Retain_Set")
    assert data_cli(["validate", "--benchmark", "mllmu", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Correct_Answer" in err[0] and "Traceback" not in err[0]


def test_cli_synth_and_validate(tmp_path, capsys):
    out = tmp_path / "mini"
    assert data_cli(["synth", "--benchmark", "mllmu", "--out", str(out), "--profiles", "20"]) == 0
    assert data_cli(["validate", "--benchmark", "mllmu", "--forget_ratio", "15", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Full_Set=20  forget_5=1  forget_10=2  forget_15=3  retain_95=19" in text
    # forget_15 = 3 profiles: cls 3*3 - 3 = 6 per modality, 3 excluded each
    assert any(line.split() == ["forget", "cls", "6", "6", "3/3"] for line in text.splitlines())
