import dataclasses
import json

import pytest

from offside_data.benchmarks import BENCHMARKS
from offside_eval.cli import main
from offside_eval.task import Task
from offside_eval.tasks_index import TaskError, TaskIndex


def test_builtin_index_names_groups_and_output_types():
    index = TaskIndex()
    names = index.names()
    benchmark_folders = tuple(BENCHMARKS)  # each registered benchmark's own task folder (its tasks and tags)
    assert all(n.startswith(("offside_", "mmbench", "mllmu_", *benchmark_folders)) for n in names)
    for split in ("forget", "retain", "test", "relearn", "private", "shared"):
        for mod in ("mm", "text"):
            stem = f"offside_{split}_{mod}"
            assert index.expand(stem) == [f"{stem}_{k}" for k in ("mc", "mcgen", "gen", "judge")]
            judge, gen = index.get(f"{stem}_judge").config, index.get(f"{stem}_gen").config
            assert [m["metric"] for m in judge.metric_list] == ["fact_score"]
            differ = ("task", "tag", "metric_list", "metadata", "path")
            assert {k: v for k, v in dataclasses.asdict(judge).items() if k not in differ} == \
                {k: v for k, v in dataclasses.asdict(gen).items() if k not in differ}
            assert judge.metadata == {**gen.metadata, "kind": "judge"}
            assert index.expand(f"{stem}_ref") == [f"{stem}_{k}_ref" for k in ("mcgen", "gen", "judge")]
            judge, gen = index.get(f"{stem}_judge_ref").config, index.get(f"{stem}_gen_ref").config
            assert [m["metric"] for m in judge.metric_list] == ["fact_score_ref", "n_dropped"]
            assert {k: v for k, v in dataclasses.asdict(judge).items() if k not in differ + ("doc_to_image_id",)} == \
                {k: v for k, v in dataclasses.asdict(gen).items() if k not in differ + ("doc_to_image_id",)}
            assert judge.metadata == {**gen.metadata, "kind": "judge"} and gen.metadata["protocol"] == "reference"
    assert index.expand("mmbench") == ["mmbench_en_dev", "mmbench_en_dev_gen"]
    assert index.get("offside_forget_mm_mc").config.output_type == "multiple_choice"
    assert index.get("offside_forget_text_gen").config.modality == "text"
    assert not any(n.startswith("_default") for n in names)  # templates are not tasks


def test_unknown_task_suggests_closest(capsys):
    with pytest.raises(TaskError, match="did you mean: offside_forget_mm"):
        TaskIndex().get("offside_foget_mm")
    assert main(["--tasks", "offside_forgt_mm_gen", "--model_args", "pretrained=none"]) == 2
    assert "offside_forget_mm_gen" in capsys.readouterr().err


def test_tasks_list_prints_names_groups_types(capsys):
    assert main(["--tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "offside_forget_mm " in out and "group" in out and "multiple_choice" in out and "generate_until" in out


def test_include_path_override_and_function_hooks(tmp_path, caplog):
    (tmp_path / "hooks.py").write_text("def text(doc):\n    return 'Q: ' + doc['q']\n")
    (tmp_path / "data.jsonl").write_text('{"q": "one", "a": "1"}\n{"q": "two", "a": "2"}\n')
    (tmp_path / "_tmpl").write_text("output_type: generate_until\ndataset_path: data.jsonl\n"
                                    "doc_to_text: !function hooks.text\ndoc_to_target: a\n")
    (tmp_path / "mine.yaml").write_text("include: _tmpl\ntask: offside_forget_mm_gen\n")
    with caplog.at_level("WARNING", logger="offside_eval"):
        index = TaskIndex([tmp_path])
    assert "overrides the built-in" in caplog.text
    entry = index.get("offside_forget_mm_gen")
    assert not entry.builtin
    task = Task(entry.config)
    docs = task.docs()
    assert [task.text(d) for d in docs] == ["Q: one", "Q: two"] and task.target(docs[1]) == "2"
    assert task.visuals(docs[0]) == []


def test_offside_docs_carry_join_fields(mini_root):
    index = TaskIndex()
    e = index.get("offside_private_mm_mc")
    docs = Task(e.config).docs(mini_root)
    assert docs and all(d["info"] == "private" and d["split"] == "forget" and d["options"] for d in docs)
    assert {"id", "player", "visual_rumor", "image"} <= set(docs[0])
    e = index.get("offside_forget_text_gen")
    task = Task(e.config)
    docs = task.docs(mini_root)
    assert all(d["image"] is None for d in docs) and task.visuals(docs[0]) == []


def test_bad_metric_is_an_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("task: offside_bad\ndataset_path: x.jsonl\noutput_type: generate_until\n"
                                       "doc_to_text: q\nmetric_list:\n  - metric: no_such_metric\n")
    e = TaskIndex([tmp_path]).get("offside_bad")
    with pytest.raises(TaskError, match="unknown metric"):
        Task(e.config)


def test_unknown_key_names_file_and_closest_key(tmp_path, capsys):
    bad = tmp_path / "typo.yaml"
    bad.write_text("task: my_typo\ndataset_path: x.jsonl\ndoc_to_text: q\ngeneration_kwarg: {max_new_tokens: 3}\n")
    with pytest.raises(TaskError) as err:
        TaskIndex([tmp_path])
    assert str(err.value) == f"{bad}: unknown key 'generation_kwarg' (did you mean 'generation_kwargs'?)"
    assert main(["--tasks", "list", "--include_path", str(tmp_path)]) == 2
    out = capsys.readouterr().err.strip()
    assert len(out.splitlines()) == 1 and str(bad) in out and "'generation_kwargs'" in out


def test_include_list_deep_merges_in_order(tmp_path):
    (tmp_path / "_a").write_text("output_type: generate_until\ndataset_path: a.jsonl\ndoc_to_text: q\n"
                                 "generation_kwargs: {max_new_tokens: 8, temperature: 0}\nmetadata: {kind: gen}\n")
    (tmp_path / "_b").write_text("dataset_path: b.jsonl\ngeneration_kwargs: {max_new_tokens: 4, top_p: 1}\n")
    (tmp_path / "t.yaml").write_text("include: [_a, _b]\ntask: merged\ngeneration_kwargs: {top_p: 0.5}\n"
                                     "metadata: {role: forget}\n")
    config = TaskIndex([tmp_path]).get("merged").config
    assert config.dataset_path == "b.jsonl"  # later include wins over earlier
    assert config.generation_kwargs == {"max_new_tokens": 4, "temperature": 0, "top_p": 0.5}  # nested merge
    assert config.metadata == {"kind": "gen", "role": "forget"}


def test_find_by_metadata():
    index = TaskIndex()
    assert index.find(benchmark="offside", role="forget", kind="mc", modality="mm") == ["offside_forget_mm_mc"]
    assert index.find(role="forget_private", modality="text", protocol="clean") == [
        f"offside_private_text_{k}" for k in ("gen", "judge", "mc", "mcgen")]
    assert index.find(role="forget_private", modality="text", protocol="reference") == [
        "offside_private_text_gen_ref", "offside_private_text_judge_ref", "offside_private_text_mcgen_ref"]
    assert len(index.find(benchmark="offside")) == 6 * 2 * (4 + 3) + 3 * 6
    assert index.find(kind="mcgen", modality="mm", role="test") == ["offside_test_mm_mcgen", "offside_test_mm_mcgen_ref"]
    with pytest.raises(TaskError, match="no task has metadata key.*rol.*known: benchmark, kind, modality, protocol, role"):
        index.find(rol="forget")


def test_a_task_folder_with_relative_paths_runs_from_another_directory(tmp_path, monkeypatch, tiny_model_dir):
    """data_files and image paths resolve next to the YAML first, then in the working directory."""
    from PIL import Image

    import offside_eval

    folder = tmp_path / "mytasks"
    (folder / "data").mkdir(parents=True)
    (folder / "imgs").mkdir()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(folder / "imgs" / "red.png")
    rows = [{"id": i, "question": f"What colour is square {i}?", "answer": "Red.", "image": "imgs/red.png"}
            for i in range(3)]
    (folder / "data" / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "my_qa.yaml").write_text(
        "task: my_qa\ndataset_path: json\ndataset_kwargs: {data_files: {test: data/qa.jsonl}}\n"
        "output_type: generate_until\ndoc_to_visual: image\ndoc_to_text: '{{ question }}'\ndoc_to_target: answer\n"
        "generation_kwargs: {max_new_tokens: 4}\nmetric_list: [{metric: rougeL}]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, ["my_qa"],
                                include_path=[str(folder)], progress=False)
    assert out["results"]["my_qa"]["n"] == 3 and "rougeL" in out["results"]["my_qa"]
