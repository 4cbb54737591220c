"""DESIGN §2: imports only go downward; kernels import nothing from minidl."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "minidl"
# Lower number = lower level. A module may import from its own level or below.
LEVELS = {"kernels": 0, "_rng": 0, "options": 0, "struct": 0, "layers": 1, "data": 1, "graph": 2, "training": 3,
          "io": 3, "datasets": 4, "__init__": 5}


def imported_subpackages(path):
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("minidl"):
                    yield (node.module.split(".") + [""])[1] or node.names[0].name
                continue
            base = list(parts[:len(parts) - node.level])
            target = base + (node.module.split(".") if node.module else [])
            yield target[0] if target else node.names[0].name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("minidl."):
                    yield alias.name.split(".")[1]


def test_imports_only_go_downward():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for target in imported_subpackages(path):
            if target in LEVELS and LEVELS[target] > LEVELS[own]:
                problems.append(f"{path.relative_to(PACKAGE)} imports minidl.{target}")
    assert not problems, problems


def test_kernels_import_nothing_from_minidl():
    for path in (PACKAGE / "kernels").rglob("*.py"):
        targets = [t for t in imported_subpackages(path) if t != "kernels"]
        assert targets == [], f"{path.name} imports {targets}"
