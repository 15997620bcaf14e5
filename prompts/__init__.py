"""Jinja2 prompt templates: built-ins (the .j2 files in this package), or any file path."""
from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

import jinja2


@functools.cache
def _env() -> jinja2.Environment:
    root = importlib.resources.files("offside_data.prompts")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=False, autoescape=False)


def load_template(name: str) -> jinja2.Template:
    """A built-in template by name ("factuality" or "factuality.j2") or a path to a .j2 file."""
    path = Path(name).expanduser()
    if path.suffix and path.exists():
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined)
        return env.get_template(path.name)
    file = name if name.endswith(".j2") else f"{name}.j2"
    try:
        return _env().get_template(file)
    except jinja2.TemplateNotFound:
        raise ValueError(f"prompt template {name!r} not found (neither a file nor a built-in in "
                         "offside_data.prompts)") from None


def render(name: str, **variables) -> str:
    """Render a template to the text of one user message (surrounding whitespace stripped)."""
    try:
        return load_template(name).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ValueError(f"prompt template {name!r}: {exc}") from None


@functools.cache
def protocol_prompt(name: str, folder: str | Path) -> str:
    """A benchmark's own prompt string, kept verbatim in `folder`/NAME.txt (its benchmark's prompts folder).

    The file opens with '#' lines naming the prompt's source, then a line '---'; everything after
    that line is the prompt, byte for byte (a str.format template, so '{{' stands for '{').
    """
    text = (Path(folder) / f"{name}.txt").read_text(encoding="utf-8")
    header, sep, body = text.partition("\n---\n")
    if not sep or not all(line.startswith("#") for line in header.splitlines()):
        raise ValueError(f"prompt {name}.txt: expected '#' source lines, then '---', then the prompt")
    return body
