"""The one parser of "k=v,k=v" option strings (--model_args, --judge_args, --gen_kwargs), and the
one-line suggestions every CLI gives for a mistyped name or path."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any


class OptionError(ValueError):
    """A malformed option string; the message names the option and the bad piece."""


def _convert(value: str) -> Any:
    """"true"/"false" (any case) -> bool, "none"/"null" -> None, then int, then float, else the text unchanged."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_kv(text: str | None, what: str) -> dict[str, Any]:
    """'pretrained=PATH,batch_size=8' -> {'pretrained': 'PATH', 'batch_size': 8}, values via `_convert`.

    Pieces are split on "," and then on the first "=" (so a value may contain "=" but not ",");
    blanks around keys and values and empty pieces are ignored. `what` names the option in errors
    ("--model_args: 'x' is not key=value").
    """
    out: dict[str, Any] = {}
    for piece in (text or "").split(","):
        piece = piece.strip()
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        key = key.strip()
        if not eq or not key:
            raise OptionError(f"{what}: {piece!r} is not key=value")
        if key in out:
            raise OptionError(f"{what}: {key} given twice")
        out[key] = _convert(value.strip())
    return out


def did_you_mean(name: str, choices: dict[str, str] | list[str]) -> str:
    """' (did you mean X?)' naming the closest choice (an alias names its field), or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    if not match:
        return ""
    return f" (did you mean {(choices[match[0]] if isinstance(choices, dict) else match[0])!r}?)"


def missing_local_path(value: str) -> str | None:
    """'no such file or folder (did you mean ...?)' for a model path that looks local and is not there,
    else None. Local: absolute, relative, home, deeper than org/name, or starting in a folder that
    exists here (`ckpt/vanila` beside ./ckpt is a misspelt folder, not the hub repo ckpt/vanila)."""
    path = Path(value).expanduser()
    local = value.startswith(("/", ".", "~")) or value.count("/") > 1 or Path(value.split("/")[0]).exists()
    if not local or path.exists():
        return None
    near = did_you_mean(path.name, {p.name: str(p) for p in path.parent.iterdir()}) if path.parent.is_dir() else ""
    return f"no such file or folder{near}"


def register_once(registry: dict[str, Any], name: str, item: Any, error: type[Exception], what: str) -> Any:
    """Put `item` in a name registry; a second `name` is a programming error naming `what` it is."""
    if name in registry:
        raise error(f"{what} {name!r} registered twice")
    registry[name] = item
    return item
