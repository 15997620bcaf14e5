"""Training data: a benchmark's neutral records per role, batched with the evaluator's answer-only encoding.

The benchmark registry's `train_records` hook says what each role is; batches come from
`offside_data.encode.encode_examples`, the function the evaluator scores with, so a model is trained
on exactly the tokens it is later measured on, and every image record's batch carries its pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from offside_data.benchmarks import TRAIN_ROLES, get_benchmark
from offside_data.encode import encode_examples
from offside_data.records import TrainRecord


def load_records(cfg, role: str) -> list[TrainRecord]:
    """The records `cfg` trains on in `role` (train | forget | retain | relearn), from cfg.benchmark's hook."""
    if role not in TRAIN_ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(TRAIN_ROLES)}")
    bench = get_benchmark(cfg.benchmark)
    records = bench.train_records(Path(cfg.data), role, cfg.modality, **cfg.benchmark_options)
    if not records:
        described = ", ".join(f"{k}={v}" for k, v in {"modality": cfg.modality, **cfg.benchmark_options}.items())
        raise ValueError(f"{cfg.data}: no {role} records for {cfg.benchmark} ({described})")
    return records


class RecordCollator:
    """TrainRecords -> one right-padded batch; `answer_for` swaps in other targets (e.g. IDK answers)."""

    def __init__(self, processor, max_length: int | None, answer_for: Callable[[TrainRecord], str] | None = None):
        self.processor, self.max_length = processor, max_length
        self.answer_for = answer_for or (lambda record: record.answer)

    def example(self, record: TrainRecord, answer: str | None = None):
        return record.example(self.answer_for(record) if answer is None else answer)

    def __call__(self, records: Sequence[TrainRecord]) -> dict:
        return encode_examples(self.processor, [self.example(r) for r in records], self.max_length)


class IndexCollator:
    """For TRL's SFTTrainer, whose datasets hold rows: rows {"index": i} -> batch of records[i]."""

    def __init__(self, records: Sequence[TrainRecord], collator: RecordCollator):
        self.records, self.collator = records, collator

    def __call__(self, rows: Sequence[dict]) -> dict:
        return self.collator([self.records[row["index"]] for row in rows])
