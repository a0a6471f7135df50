"""The boundaries ``make lint`` enforces really fail the build when crossed.

Each test copies the source tree to a temporary directory, crosses one boundary
there, and runs the real checker on the copy: ``lint-imports`` for the
architecture contracts, ``ruff`` for the per-module driver whitelist (TID251).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("shared", "services", "gateway", "threadline")
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__", "*.graphql", "*.html", "*.json", "*.md")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.fixture
def tree(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(pristine, copy)
    return copy


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # From the copy's directory, so its packages shadow the installed (editable) ones.
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ruff_banned_imports(tree: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ruff"), "check", "--no-cache", "--select", "TID251", *paths],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_as_committed_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_driver_imported_by_a_domain_module_breaks_the_build(tree: Path) -> None:
    append(tree / "services" / "journey" / "domain" / "timeline.py", "import pymongo")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "Service domains are pure" in result.stdout
    assert "services.journey.domain is not allowed to import pymongo" in result.stdout
    assert "services.journey.domain.timeline -> pymongo" in result.stdout


def test_a_domain_reaching_a_driver_through_another_module_breaks_the_build(tree: Path) -> None:
    # Indirect: the domain imports the service's MongoDB adapter, which imports pymongo.
    append(
        tree / "services" / "scoring" / "domain" / "metrics.py",
        "from services.scoring.adapters import mongo",
    )
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "services.scoring.domain is not allowed to import pymongo" in result.stdout
    assert "services.scoring.domain.metrics -> services.scoring.adapters.mongo" in result.stdout


def test_one_service_importing_another_breaks_the_build(tree: Path) -> None:
    append(tree / "services" / "journey" / "handlers.py", "import services.profile.domain")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "No service imports another" in result.stdout
    assert "services.journey is not allowed to import services.profile" in result.stdout


def test_shared_importing_a_service_breaks_the_build(tree: Path) -> None:
    append(tree / "shared" / "events.py", "import services.scoring.domain")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "shared is not allowed to import services" in result.stdout


def test_the_gateway_importing_a_service_breaks_the_build(tree: Path) -> None:
    append(tree / "gateway" / "engine.py", "import services.profile.domain")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "gateway is not allowed to import services" in result.stdout


def test_a_command_importing_the_cli_back_breaks_the_build(tree: Path) -> None:
    append(tree / "threadline" / "up.py", "from threadline.cli import build_parser")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "threadline.up is not allowed to import threadline.cli" in result.stdout


def test_a_driver_outside_adapters_apis_and_the_runtime_is_a_lint_error(tree: Path) -> None:
    handlers = "services/journey/handlers.py"
    append(tree / handlers, "import aio_pika  # noqa: F401")
    result = ruff_banned_imports(tree, handlers)
    assert result.returncode != 0
    assert "TID251 `aio_pika` is banned" in result.stdout
    assert "take shared.bus.ports" in result.stdout


def test_the_same_driver_import_is_allowed_in_an_adapter(tree: Path) -> None:
    adapter = "services/journey/adapters/mongo.py"
    append(tree / adapter, "import pymongo.errors  # noqa: F401")
    result = ruff_banned_imports(tree, adapter)
    assert result.returncode == 0, result.stdout
