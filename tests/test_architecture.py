"""DESIGN §2: imports only go downward; kernels import nothing from minidl."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "minidl"
# Lower number = lower level. A module may import from its own level or below.
LEVELS = {"kernels": 0, "_rng": 0, "options": 0, "struct": 0, "table": 0, "layers": 1, "data": 1, "graph": 2, "training": 3,
          "io": 3, "parallel": 3, "datasets": 4, "__init__": 5}


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


def _module_name(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("minidl",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def imported_modules(path):
    """Every minidl module ``path`` imports, at module level or inside a function."""
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    parts = ["minidl", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.level == 0 else \
                package[:len(package) - node.level + 1] + ((node.module or "").split(".") if node.module else [])
            base = ".".join(p for p in base if p)
            if not base.startswith("minidl"):
                continue
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("minidl"):
                    yield alias.name


def test_no_import_cycles_between_modules():
    """Module-level circles (a imports b imports a), lazy imports inside functions included;
    a package's __init__ re-exporting its modules does not count."""
    import networkx as nx
    graph = nx.DiGraph()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        for target in imported_modules(path):
            if target != _module_name(path) and not (PACKAGE / "/".join(target.split(".")[1:]) / "__init__.py").exists():
                graph.add_edge(_module_name(path), target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles


def test_graph_and_training_ask_layers_instead_of_testing_their_types():
    """DESIGN §4/§5: fusion and state are the layers' own business (Layer.fuse, state_names),
    and the trainer uses the network's methods, never its private layer list."""
    for folder in ("graph", "training"):
        for path in (PACKAGE / folder).glob("*.py"):
            text = path.read_text()
            for forbidden in ("BatchNormalizationLayer", "ReLULayer", "relu=", "ConvolutionLayer"):
                assert forbidden not in text, f"{path.name} mentions {forbidden}"
            if folder == "training":
                assert "._layers" not in text, f"{path.name} reaches into net._layers"


def test_every_module_stays_small():
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 420, f"{path.relative_to(PACKAGE)} is too long"
