"""The layout of src/reslab: imports point down a fixed order of layers, no circles, short files, and the modules
that run before validation load no torch."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 250

# Bottom to top: a module imports only from lower layers (and from its own package). The entry point validates
# with layers 0-4 before anything heavy is imported.
LAYERS = [
    ("reslab.errors", "reslab.sweep.keys", "reslab.host"),
    ("reslab.catalog",),
    ("reslab.tasks.catalog",),
    ("reslab.run_files",),
    ("reslab.models", "reslab.data", "reslab.clock"),
    ("reslab.hparams",),  # writes the sweep's HParams experiment with run_files.atomic_write
    ("reslab.config", "reslab.sweep", "reslab.cluster", "reslab.landscape.surface", "reslab.landscape.hessian",
     "reslab.landscape.plots", "reslab.mechanisms"),
    ("reslab.tasks", "reslab.callbacks"),
    ("reslab.checkpoint_files", "reslab.ddp"),
    ("reslab.outdir",),
    ("reslab.run", "reslab.landscape.run", "reslab.export"),
    ("reslab.entry",),
    ("hydra_plugins",),  # the launchers validate and plan jobs with the entry point's rules
]


def modules() -> dict[str, Path]:
    return {".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): f
            for f in SRC.rglob("*.py")}


def layer(module: str) -> int:
    matches = [(len(prefix), i) for i, names in enumerate(LAYERS) for prefix in names
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} has no layer: add it to LAYERS"
    return max(matches)[1]


def imports(path: Path, known: dict) -> set[str]:
    """The reslab modules `path` imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_imports_point_down_the_layers():
    known = modules()
    wrong = []
    for module, path in known.items():
        for target in imports(path, known) - {module}:
            if package(target) == package(module) or target == "reslab":
                continue
            if layer(target) >= layer(module):
                wrong.append(f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    known = modules()
    graph = {m: imports(p, known) - {m, "reslab"} for m, p in known.items()}
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1 and not nxt.endswith("__init__"):
                circle = stack[stack.index(nxt):] + [nxt]
                if not all(package(m) == package(circle[0]) and m.count(".") == 1 for m in circle):
                    circles.append(" -> ".join(circle))
            elif not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node)
    assert not circles, "\n".join(circles)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_files_stay_short(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_validating_entry_point_imports_no_torch():
    code = ("import sys, reslab.entry; "
            "print(sorted(m for m in ('torch', 'lightning', 'torchvision', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


# Imports inside functions, each with its reason; every other import is at the top of its module.
DEFERRED = {
    ("reslab.entry", "reslab.ddp"): "the entry point's heavy imports, once the config is known to be good",
    ("reslab.entry", "reslab.run"): "the entry point's heavy imports, once the config is known to be good",
    ("reslab.sweep.callback", "reslab.sweep.report"): "matplotlib and scipy when a sweep ends: Hydra builds the "
                                                      "callback in every run, before the config is checked",
    ("reslab.cluster", "submitit"): "an optional extra (reslab[launchers])",
}
DEFERRED_PACKAGES = {"hydra_plugins": "Hydra imports every plugin in every app: reslab, submitit and optuna "
                                      "(optional extras) only when a launcher or sweeper is used"}


def function_imports(path: Path) -> set[str]:
    """The modules imported inside a function or method of `path`."""
    found = set()
    for function in ast.walk(ast.parse(path.read_text())):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom):
                    found.add(node.module or "")
    return found


def test_imports_are_at_the_top_but_the_listed_deferred_ones():
    stray = [f"{module} imports {name} inside a function"
             for module, path in modules().items() if module.split(".")[0] not in DEFERRED_PACKAGES
             for name in function_imports(path) if (module, name) not in DEFERRED]
    assert not stray, "\n".join(stray)
    assert all(name in function_imports(modules()[module]) for module, name in DEFERRED), "a listed import moved"
