"""Is it unlearned, or only hidden? Probes read the answer from the model's hidden states, where a
forgotten rumor may still be encoded though the output no longer shows it.

For one MC task (the forget set's rumor questions) and one checkpoint, every option is encoded as
the evaluator scores it (the shared encoder: prompt, image, option, end of turn) and the hidden state
at the end of its answer (its last scored token) is taken at every layer. Two readings per layer:
  - linear probe: logistic regression (scikit-learn) on those states, trained to tell the correct
    option from the others on half the items and tested on the other half (and vice versa); an item
    counts as read when its correct option gets the highest probe score among its options;
  - logit lens: the layer's states at the answer positions through the model's final norm and output
    head, the options' summed log-probabilities compared as the evaluator compares them.
Chance is 1 / options. An unlearned model whose probe accuracy stays at vanilla's while its output
accuracy fell has hidden the rumor, not removed it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from offside_data.encode import IGNORE_INDEX, Example, encode_examples

from .models.base import ModelError
from .planning import plan


@dataclass
class ProbeItems:
    """The options of every item: (request messages, visuals, option text), the item of each, the gold."""
    examples: list[Example]
    item: list[int]  # item index of each option
    correct: list[bool]  # whether the option is the item's correct one

    @property
    def chance(self) -> float:
        return len(set(self.item)) / len(self.item)


def probe_items(task: str, data_root=None, limit: int | None = None, include_path=None) -> ProbeItems:
    """The options of an MC task's documents (after `limit`), as the evaluator would score them."""
    p = plan(task, data_root=data_root, limit=limit, include_path=include_path)
    if len(p.tasks) != 1 or next(iter(p.tasks.values())).output_type != "multiple_choice":
        raise ModelError(f"probe: {task!r} must name one multiple_choice task")
    name, t = next(iter(p.tasks.items()))
    examples, item, correct = [], [], []
    for i, doc in enumerate(p.docs[name]):
        choices = t.choices(doc)
        gold = t.gold_index(doc, choices)
        for j, req in enumerate(t.requests(doc, i)):
            examples.append(Example(list(req.messages), req.continuation, list(req.visuals)))
            item.append(i)
            correct.append(j == gold)
    return ProbeItems(examples, item, correct)


def _decoder_parts(model):
    """(final norm, output head) of a transformers causal VLM, for the logit lens."""
    norm = getattr(model.get_decoder(), "norm", None)
    head = model.get_output_embeddings()
    if norm is None or head is None:
        raise ModelError(f"probe: {type(model).__name__} exposes no final norm / output head for the logit lens")
    return norm, head


@torch.inference_mode()
def layer_readings(lm, items: ProbeItems, batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(states [options, layers+1, hidden] at the end of each option's answer, logit-lens
    log-likelihoods [options, layers+1]) of an hf_vlm / qwen2_5_vl model. transformers' last hidden
    state has the final norm applied already, so the lens skips it there: the last layer's
    log-likelihoods are the evaluator's."""
    model, processor = lm.model, lm.processor
    norm, head = _decoder_parts(model)
    states, lens = [], []
    for start in range(0, len(items.examples), batch_size):
        batch = encode_examples(processor, items.examples[start:start + batch_size])
        labels = batch.pop("labels")
        batch = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        hidden = model(**batch, output_hidden_states=True).hidden_states
        mask = labels != IGNORE_INDEX
        last = mask.int().cumsum(1).argmax(1)  # each row's last scored token
        rows = torch.arange(labels.shape[0])
        states.append(torch.stack([h[rows, last].float().cpu() for h in hidden], 1))
        targets, scored = labels[:, 1:].clamp(min=0), mask[:, 1:]
        per_layer = []
        for k, h in enumerate(hidden):
            normed = h[:, :-1] if k == len(hidden) - 1 else norm(h[:, :-1])
            logp = torch.log_softmax(head(normed).float().cpu(), -1)
            per_layer.append((logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * scored).sum(1))
        lens.append(torch.stack(per_layer, 1))
    return torch.cat(states).numpy(), torch.cat(lens).numpy()


def _item_accuracy(scores: np.ndarray, items: ProbeItems) -> float:
    """Share of items whose correct option scores highest (first option wins ties, as the evaluator)."""
    item, correct = np.asarray(items.item), np.asarray(items.correct)
    return float(np.mean([correct[item == i][int(np.argmax(scores[item == i]))] for i in dict.fromkeys(items.item)]))


def probe_accuracy(states: np.ndarray, items: ProbeItems, folds: int = 2, seed: int = 0) -> list[float]:
    """Per layer: held-out item accuracy of a logistic-regression probe (items split by GroupKFold)."""
    item, correct = np.asarray(items.item), np.asarray(items.correct)
    out = []
    for layer in range(states.shape[1]):
        x = states[:, layer]
        scores = np.zeros(len(x))
        for train, test in GroupKFold(n_splits=folds).split(x, correct, groups=item):
            probe = LogisticRegression(max_iter=2000, random_state=seed).fit(x[train], correct[train])
            scores[test] = probe.decision_function(x[test])
        out.append(_item_accuracy(scores, items))
    return out


def lens_accuracy(lens: np.ndarray, items: ProbeItems) -> list[float]:
    return [_item_accuracy(lens[:, layer], items) for layer in range(lens.shape[1])]
