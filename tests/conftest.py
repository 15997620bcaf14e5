"""Shared offline fixtures: one OFFSIDE-mini and one tiny Qwen2.5-VL per test session."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser):
    parser.addoption("--all-architectures", action="store_true",
                     help="run test_architectures.py on all twelve tiny architectures, not the default subset")


def pytest_collection_modifyitems(config, items):
    """Tests marked `architectures` (the full matrix's other members) run with --all-architectures only."""
    if config.getoption("--all-architectures"):
        return
    skipped = [item for item in items if item.get_closest_marker("architectures")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not item.get_closest_marker("architectures")]


@pytest.fixture(scope="session", autouse=True)
def _offside_cache(tmp_path_factory):
    """Keep fixture builds out of the user's cache unless OFFSIDE_CACHE is set explicitly."""
    if "OFFSIDE_CACHE" not in os.environ:
        os.environ["OFFSIDE_CACHE"] = str(tmp_path_factory.mktemp("offside-cache"))
    yield


@pytest.fixture(scope="session")
def mini_root(_offside_cache):
    from offside_benchmarks.offside import ensure_mini

    return ensure_mini()


@pytest.fixture(scope="session")
def mini_items(mini_root):
    from offside_benchmarks.offside import load_items

    return load_items(mini_root)


@pytest.fixture(scope="session")
def tiny_model_dir(_offside_cache):
    from offside_data.tiny_model import ensure_tiny_model

    return ensure_tiny_model()
