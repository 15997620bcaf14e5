"""`offside-data` subcommands a benchmark adds (its release builders, its fixture writers): each is
registered by the benchmark's own module, so the core CLI names none of them."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .options import register_once


@dataclass(frozen=True)
class DataCommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # -> exit code


COMMANDS: dict[str, DataCommand] = {}


def register_command(command: DataCommand) -> DataCommand:
    return register_once(COMMANDS, command.name, command, ValueError, "offside-data command")
