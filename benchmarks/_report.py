"""Small helpers shared by the benchmark scripts: one section of docs/benchmarks.md each.

docs/benchmarks.md is one page with one section per script, each between a pair of
HTML comments naming its script. A script rewrites its own section and leaves the
others, and the text around them, as they are:

    <!-- begin benchmarks/network.py -->
    ## Whole network: training epoch and inference
    ...
    <!-- end benchmarks/network.py -->

Sections keep the order of SECTION_ORDER (whole network first, then the kernels,
DESIGN §8); a script not listed there goes last.
"""
import re
from pathlib import Path

SECTION_ORDER = ("benchmarks/network.py", "benchmarks/batchnorm.py")

HEADER = """# Benchmarks

Speed of minidl measured against PyTorch CPU (and, for the kernels, NumPy and the
machine's memory bandwidth), every ratio measured in one run on one machine.
`make bench` installs the `bench` extra (torch==2.13.0 CPU) and runs the scripts in
`benchmarks/`: the whole-network benchmark first, then the kernel benchmarks. Each
script rewrites only its own section of this page.
"""

_SECTION = re.compile(r"<!-- begin (?P<name>\S+) -->\n(?P<body>.*?)<!-- end (?P=name) -->\n?", re.S)


def _begin(name):
    return f"<!-- begin {name} -->"


def _end(name):
    return f"<!-- end {name} -->"


def read_sections(text):
    """(header text, {name: body}) of a page; the header is the text before the first
    section (text between or after sections is not kept)."""
    sections = {m.group("name"): m.group("body").strip("\n") + "\n" for m in _SECTION.finditer(text)}
    first = _SECTION.search(text)
    header = text[:first.start()] if first else ""
    return header, sections


def write_section(path, name, lines):
    """Replace (or add) the section of script `name` (e.g. "benchmarks/network.py") in
    the Markdown file `path` with `lines`, keeping the other sections. A file without
    any section markers (or no file) starts from HEADER."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header, sections = read_sections(text)
    if not sections:
        if text.strip():
            print(f"{path}: no section markers; starting the page afresh")
        header = HEADER
    sections[name] = "\n".join(lines).rstrip("\n") + "\n"
    order = [n for n in SECTION_ORDER if n in sections] + [n for n in sections if n not in SECTION_ORDER]
    parts = [header.rstrip("\n") + "\n"]
    for n in order:
        # Blank lines around the body: Python-Markdown (mkdocs) needs them after raw HTML.
        parts.append(f"\n{_begin(n)}\n\n{sections[n]}\n{_end(n)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="utf-8")


def cpu_name():
    """The CPU's model name (Linux /proc/cpuinfo, else platform)."""
    import platform
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"
