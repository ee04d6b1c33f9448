"""The import graph of ``src/emotag_cli``: its cycles and its imports that run against the layers.

Reads the source with ``ast`` (nothing is imported): every ``import`` / ``from … import`` of an
``emotag_cli`` module, at any depth of the file (imports inside functions count: they are
dependencies all the same). Layers and the rules are those of docs/development.md, kept in
``LAYERS`` below; tests/test_layers.py runs the same checks.

    python scripts/import_graph.py [SRC]      # SRC: the package folder (default: src/emotag_cli)
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = "emotag_cli"

# Lowest first. A module belongs to the layer of its longest matching prefix; a module may import
# modules of its own layer or a lower one. Stages (the one layer marked so) also may not import
# one another: each reads the others' artifacts, never their code.
# (Names of main before issue 10 that are gone since — preprocess._mediapipe, cli_train, cli_eval —
# are kept so that the script measures that version too.)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("__init__", "errors", "contract", "registry", "artifact", "progress", "interrupt", "backends",
              "config")),
    ("primitives", ("media", "raster", "head", "gaussians", "image_metrics", "camera", "lip_signals")),
    ("analysis", ("motion", "scene", "preprocess.audio_features", "preprocess.aus", "preprocess.emotion",
                  "preprocess.face_align", "preprocess.face_mesh", "preprocess.identity", "preprocess.mediapipe_log",
                  "preprocess._mediapipe",
                  "track.result", "track.params")),
    ("forward", ("forward",)),
    ("artifacts", ("prior", "avatar", "shipped_prior")),
    ("stages", ("preprocess", "track", "train", "synthesis", "evaluation", "corpus")),
    ("entry", ("cli", "cli_train", "cli_eval", "doctor")),
]
STAGES = "stages"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def resolve(node: ast.ImportFrom | ast.Import, module: str, is_package: bool) -> list[str]:
    """The emotag_cli modules (relative to the package) an import statement names."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                names.append(alias.name[len(PACKAGE) + 1:] or "__init__")
        return names
    if node.level == 0:
        if not (node.module or "").startswith(PACKAGE):
            return []
        base = node.module[len(PACKAGE) + 1:]
    else:
        here = module.split(".") if module != "__init__" else []
        keep = len(here) - node.level + (1 if is_package else 0)
        base = ".".join(here[:max(keep, 0)] + ([node.module] if node.module else []))
    if node.module is None or node.level and not node.module:
        # ``from . import a, b``: each name is a module of that package
        return [f"{base}.{a.name}" if base else a.name for a in node.names]
    return [base or "__init__"] + [f"{base}.{a.name}" for a in node.names]


def build_graph(root: Path) -> dict[str, set[str]]:
    """{module: modules it imports} over every .py file under ``root`` (the package folder)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in resolve(node, module, is_package) if t in files)
        targets.discard(module)
        graph[module] = targets
    return graph


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the layer's name and matched prefix) of ``module``."""
    best = (-1, -1, "")
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if len(prefix) > best[1]:
                    best = (i, len(prefix), prefix)
    if best[0] < 0:
        raise KeyError(f"{module} is in no layer: add it to LAYERS")
    return best[0], best[2]


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str, str]]:
    """(importer, imported, why) for every import to a higher layer or between two stages."""
    bad = []
    for a, targets in sorted(graph.items()):
        la, pa = layer_of(a)
        for b in sorted(targets):
            lb, pb = layer_of(b)
            if lb > la:
                bad.append((a, b, f"{LAYERS[la][0]} -> {LAYERS[lb][0]}"))
            elif la == lb and LAYERS[la][0] == STAGES and pa != pb:
                bad.append((a, b, f"stage {pa} -> stage {pb}"))
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between top-level packages / modules (``train.adapt`` counts as ``train``)."""
    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        pa = a.split(".")[0]
        out.setdefault(pa, set()).update(b.split(".")[0] for b in targets if b.split(".")[0] != pa)
    for targets in list(out.values()):
        for b in targets:
            out.setdefault(b, set())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", nargs="?", type=Path, default=Path(__file__).resolve().parents[1] / "src" / PACKAGE)
    args = parser.parse_args()
    graph = build_graph(args.src)
    found = cycles(graph)
    up = upward_imports(graph)
    loops = cycles(package_graph(graph))
    print(f"modules {len(graph)}  imports {sum(len(v) for v in graph.values())}  module cycles {len(found)}  "
          f"package cycles {len(loops)}  upward/sideways imports {len(up)}")
    for comp in found:
        print("cycle:", " <-> ".join(comp))
    for comp in loops:
        print("package cycle:", " <-> ".join(comp))
    for a, b, why in up:
        print(f"upward: {a} -> {b} ({why})")


if __name__ == "__main__":
    main()
