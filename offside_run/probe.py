"""`offside probe CHECKPOINT... --task TASK`: per-layer probe and logit-lens accuracy of each checkpoint
on one MC task (offside_eval.probing), side by side with chance, as probe.md and probe.csv."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from offside_data.fileio import atomic_write_text
from offside_eval.models import load_model
from offside_eval.probing import layer_readings, lens_accuracy, probe_accuracy, probe_items

from .experiment import ExperimentError


def probe(checkpoints: list[str], task: str, out_dir: str | Path, limit: int | None = None, data_root=None,
          device: str | None = None) -> Path:
    """Write probe.csv / probe.md under out_dir (one row per layer); returns probe.md."""
    try:
        items = probe_items(task, data_root=data_root, limit=limit)
        columns: dict[str, list[float]] = {}
        for ckpt in checkpoints:
            lm = load_model("hf_vlm", {"pretrained": ckpt, "dtype": "float32", "device": device})
            states, lens = layer_readings(lm, items)
            name = Path(ckpt).name
            columns[f"{name} probe"], columns[f"{name} lens"] = probe_accuracy(states, items), lens_accuracy(lens, items)
    except ValueError as exc:  # bad task, checkpoint or data: one line
        raise ExperimentError(f"probe: {exc}") from None
    out = Path(out_dir)
    header = ["layer", *columns, "chance"]
    rows = [[layer, *(col[layer] for col in columns.values()), items.chance]
            for layer in range(len(next(iter(columns.values()))))]
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    atomic_write_text(out / "probe.csv", buf.getvalue())
    md = [f"# Probing {task} ({len(set(items.item))} items, {len(items.item)} options)", "",
          "Held-out accuracy of a linear probe per layer (items split in two) and of the logit lens (the layer "
          "read through the final norm and output head); layer 0 is the embeddings, the last row is the "
          "model's own output.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join([str(r[0]), *(f"{100 * v:.1f}%" for v in r[1:])]) + " |" for r in rows]
    return atomic_write_text(out / "probe.md", "\n".join(md) + "\n")
