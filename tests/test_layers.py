"""Layers point one way: data <- models <- studies, and the whole package by floors (:data:`FLOORS`).

- no module of ``dltour/data/`` imports ``dltour.models`` or ``dltour.experiments``, and none trains;
- no module of ``dltour/models/`` imports ``dltour.data`` (models never fetch);
- no study imports another study, and inside a study the findings sit below the science, the
  science below its declarations (``study_of``, :data:`MAY_IMPORT`);
- ``dltour data list`` works without importing any study;
- every module imports only modules on its own floor or below (:data:`FLOORS`), and the studies and
  the runner, side by side, never import each other;
- nothing imports the package's ``__init__`` for a name (``DltourError`` lives in ``errors``).

Imports are read with ``ast`` from the source (module level and inside functions, absolute and
relative), so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "dltour"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute dotted names; for
    ``from X import a`` both ``X`` and ``X.a`` (``a`` may be a submodule)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.add(node.args[0].value)  # importlib.import_module("dltour.models.x")
    return out


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


def violations(sub: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(PKG.parent)} imports {m}" for p in modules(sub)
            for m in sorted(imported_modules(p)) if any(within(m, f) for f in forbidden)]


def test_the_import_reader_sees_lazy_relative_and_dynamic_imports():
    fake = PKG / "data" / "probe.py"  # a name only: the source is given
    src = ("import os\nfrom dltour.data.source import fetch\n"
           "def f():\n    from dltour.models.vgg import VGGTransfer\n    from ..models import unet\n"
           "    from . import mnist\n    import importlib\n    importlib.import_module('dltour.experiments.x')\n")
    got = imported_modules(fake, src)
    assert {"os", "dltour.data.source", "dltour.models.vgg", "dltour.models.unet", "dltour.data.mnist",
            "dltour.experiments.x"} <= got


def test_data_never_imports_models_or_studies():
    assert modules("data"), PKG
    assert violations("data", ("dltour.models", "dltour.experiments")) == []


def test_models_never_import_data():
    assert modules("models")
    assert violations("models", ("dltour.data",)) == []


def test_data_never_trains():
    """No backward pass and no optimiser anywhere in the data layer: networks the demo pack ships
    are trained by ``scripts/build_demo_pack.py``; the data layer only reads their pinned weights."""
    found = []
    for p in modules("data"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("backward", "optim", "zero_grad"):
                found.append(f"{p.relative_to(PKG.parent)}:{node.lineno} .{node.attr}")
    assert found == []


#: the package's floors, bottom first: a module may import its own floor and the ones below. The
#: registry loads the studies by ``import_module`` (its plugin loader) and is exempt for that alone.
FLOORS = [
    {"errors", "_version", "gitinfo", "fileio", "claims", "seeding", "verdicts", "rules", "metrics", "losses", "device",
     "plots", "tracking"},
    {"config", "rl", "models", "train", "bench", "data"},
    {"summary"},
    {"registry"},
    {"experiments", "runner"},
    {"report", "compare"},
    {"api"},
    {"cli", "__main__", "check"},
]


def room(module: str) -> str:
    """A module's top-level name inside dltour (``dltour.runner.plan`` -> ``runner``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def floor_of(module: str) -> int | None:
    return next((i for i, f in enumerate(FLOORS) if room(module) in f), None)


def dltour_imports(p: Path) -> set[str]:
    """The dltour modules ``p`` imports (``from X import a`` counts X, and X.a when that is a module)."""
    out = set()
    for m in imported_modules(p):
        if not within(m, "dltour") or m == "dltour":
            continue
        path = PKG.parent / Path(*m.split("."))
        if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
            out.add(m)
    return out


def test_every_module_has_a_floor():
    rooms = {room(module_name(p)) for p in PKG.rglob("*.py")} - {"__init__"}
    assert rooms and {r for r in rooms if floor_of(f"dltour.{r}") is None} == set()


def test_no_import_runs_back_up():
    bad = []
    for p in PKG.rglob("*.py"):
        me = module_name(p)
        if me == "dltour":
            continue
        mine = floor_of(me)
        for m in sorted(dltour_imports(p)):
            if me == "dltour.registry" and m == "dltour.experiments":
                continue  # the plugin loader
            if floor_of(m) is None or floor_of(m) > mine:
                bad.append(f"{me} (floor {mine}) imports {m} (floor {floor_of(m)})")
    assert bad == []


def test_studies_and_the_runner_never_import_each_other():
    bad = [f"{module_name(p)} imports {m}" for side, other in (("experiments", "dltour.runner"),
                                                                 ("runner", "dltour.experiments"))
           for p in modules(side) for m in sorted(dltour_imports(p)) if within(m, other)]
    assert bad == []


def test_nothing_imports_a_name_from_the_package_init():
    bad = []
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "dltour" and node.level == 0:
                names = [a.name for a in node.names]
                if not all((PKG / f"{n}.py").exists() or (PKG / n / "__init__.py").exists() for n in names):
                    bad.append(f"{module_name(p)}:{node.lineno} from dltour import {', '.join(names)}")
    assert bad == []


def test_the_floor_rule_sees_a_planted_upward_import(tmp_path):
    """The rule can fail: a runner module that imports the report is caught."""
    fake = PKG / "runner" / "probe.py"
    assert floor_of(module_name(fake)) < floor_of("dltour.report.build")
    assert "dltour.report.build" in imported_modules(fake, "from dltour.report.build import build_report\n")


def study_of(module: str) -> tuple[str, str]:
    """(study, role) of a module of ``dltour/experiments/``: each study is a package ``x`` whose
    ``__init__`` declares it (role ``study``), ``x.science`` holds what a run does and ``x.findings``
    what the runs mean."""
    parts = module.split(".")
    return parts[2], (parts[3] if len(parts) > 3 else "study")


#: what each part of a study may import of its own study: the findings sit at the bottom, the science
#: above them (it reads their constants), the study's declarations on top; nothing of another study
MAY_IMPORT = {"findings": set(), "science": {"findings"}, "study": {"science", "findings"}}


def study_targets(p: Path, mods: set[str], source: str | None = None) -> set[str]:
    """The modules of experiments/ that ``p`` imports, each ``from X import y`` naming the
    submodule ``X.y`` when there is one (not also the package ``X`` it passes through)."""
    tree = ast.parse(p.read_text() if source is None else source)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in mods else node.module)
    return out & mods


def bad_study_imports(p: Path, mods: set[str], source: str | None = None) -> list[str]:
    """The imports of ``p`` (a module of experiments/) that break the study rule."""
    me = module_name(p)
    study, role = study_of(me)
    bad = []
    for m in sorted(study_targets(p, mods, source)):
        other, part = study_of(m)
        if other != study or part not in MAY_IMPORT[role]:
            bad.append(f"{me} imports {m}")
    return bad


def study_modules() -> set[str]:
    return {module_name(p) for p in modules("experiments") if module_name(p) != "dltour.experiments"}


def test_no_study_imports_another_study():
    """Inside experiments/, a study's findings import nothing of it, its science only its findings,
    its ``__init__`` (the declarations) its science and findings; no study imports another."""
    mods = study_modules()
    assert len({study_of(m)[0] for m in mods}) >= 9
    assert {study_of(m)[1] for m in mods} == set(MAY_IMPORT)
    bad = [b for p in modules("experiments") if module_name(p) in mods for b in bad_study_imports(p, mods)]
    assert bad == []


def test_the_study_rule_sees_planted_imports():
    """The rule can fail: findings importing their science, science importing its declarations, a
    study importing another; and lets the allowed imports through."""
    mods = {"dltour.experiments.a", "dltour.experiments.a.science", "dltour.experiments.a.findings",
            "dltour.experiments.b", "dltour.experiments.b.science"}
    exp = PKG / "experiments"
    fin, sci, decl = exp / "a" / "findings.py", exp / "a" / "science.py", exp / "a" / "__init__.py"
    assert bad_study_imports(fin, mods, "from dltour.experiments.a.science import train_step\n")
    assert bad_study_imports(fin, mods, "from dltour.experiments.a import science\n")
    assert bad_study_imports(sci, mods, "from dltour.experiments.a import AStudy\n")
    assert bad_study_imports(sci, mods, "from dltour.experiments.b import science\n")
    assert bad_study_imports(decl, mods, "import dltour.experiments.b.science\n")
    assert not bad_study_imports(sci, mods, "from dltour.experiments.a import findings\n")
    assert not bad_study_imports(decl, mods, "from dltour.experiments.a import findings, science\n")


def test_every_module_that_registers_a_dataset_is_imported_by_the_data_package():
    import dltour.data as data_pkg

    registering = set()
    for p in modules("data"):
        if p.name in ("__init__.py", "source.py"):
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_dataset":
                registering.add(module_name(p))
    assert registering and registering <= {m.__name__ for m in data_pkg.FAMILIES}


_DATA_LIST = """
import json, sys
from dltour import cli
rc = cli.app(["data", "list"], standalone_mode=False)
from dltour.data import MANIFEST
print(json.dumps({"rc": rc, "datasets": sorted(MANIFEST),
                  "studies": sorted(m for m in sys.modules if m.startswith("dltour.experiments")),
                  "models": sorted(m for m in sys.modules if m.startswith("dltour.models")),
                  "torch": "torch" in sys.modules}))
"""


@pytest.fixture(scope="module")
def data_list_run() -> dict:
    """``dltour data list`` in a fresh interpreter (this test process may already hold the studies)."""
    p = subprocess.run([sys.executable, "-c", _DATA_LIST], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_data_list_imports_no_study_and_no_model(data_list_run):
    assert data_list_run["rc"] in (None, 0)
    assert data_list_run["studies"] == [] and data_list_run["models"] == []
    assert not data_list_run["torch"]  # the data package registers its datasets without torch


def test_data_list_shows_every_family(data_list_run):
    names = data_list_run["datasets"]
    for want in ("airline", "cifar10", "cifar100", "glove-6b", "got-scripts", "imdb", "mnist-test-images",
                 "mnist-test-labels", "mnist-train-images", "mnist-train-labels", "tiny-imagenet-200",
                 "tinyshakespeare"):
        assert want in names


_STUDIES_ADD = """
import json
from dltour.data import MANIFEST
before = set(MANIFEST)
from dltour.registry import all_studies
all_studies()
print(json.dumps(sorted(set(MANIFEST) - before)))
"""


def test_the_studies_register_no_dataset_of_their_own():
    """Importing every study adds nothing to what ``import dltour.data`` registered (fresh interpreter)."""
    p = subprocess.run([sys.executable, "-c", _STUDIES_ADD], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []


def test_the_task_map_the_report_reads_agrees_with_the_registry():
    """``claims.TASKS`` (read by the report and ``--config`` so that they import no study) names
    the study that the registry holds for every task, and every task of the claims."""
    from dltour.claims import CLAIMS, TASKS
    from dltour.registry import all_studies

    assert TASKS == {s.task: s.name for s in all_studies()}
    assert set(TASKS) == {c.task for c in CLAIMS.values()}
