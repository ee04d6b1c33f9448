"""The package's import graph (scripts/import_graph.py, read with ``ast``): no import cycle, and no
import from a lower layer to a higher one or between two stages (layers in docs/development.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "emotag_cli"


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_module_has_a_layer_and_the_imports_respect_them():
    graph_tools = _import_graph()
    graph = graph_tools.build_graph(SRC)
    assert len(graph) > 100 and "forward.frame" in graph          # it read the package
    assert graph_tools.upward_imports(graph) == []


def test_no_import_cycle_between_modules_or_packages():
    graph_tools = _import_graph()
    graph = graph_tools.build_graph(SRC)
    assert graph_tools.cycles(graph) == []
    assert graph_tools.cycles(graph_tools.package_graph(graph)) == []


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The checker itself: a two-module circle and a core module importing a stage are caught."""
    graph_tools = _import_graph()
    pkg = tmp_path / "emotag_cli"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("def f():\n    from .train import step\n")
    (pkg / "train" / "step.py").write_text("from ..errors import f\nfrom . import loop\n")
    (pkg / "train" / "loop.py").write_text("from emotag_cli.train import step\n")
    graph = graph_tools.build_graph(pkg)
    assert graph_tools.cycles(graph) == [["errors", "train.loop", "train.step"]]
    up = graph_tools.upward_imports(graph)
    assert [(a, b) for a, b, _ in up] == [("errors", "train"), ("errors", "train.step")]
