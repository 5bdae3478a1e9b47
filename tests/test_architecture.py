"""The package's shape: no import cycle between modules, and the CLI only parses and prints."""

import ast
import subprocess
import sys
from pathlib import Path

import seqlm

SRC = Path(seqlm.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_nodes(tree: ast.AST):
    """Every node, `if TYPE_CHECKING:` blocks and function-level imports included: a cycle
    hidden from the interpreter is still one layer reaching into the layer above it."""
    yield from ast.walk(tree)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Modules that `path` imports, at module level or inside functions (lazily)."""
    found = set()
    for node in all_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` needs the submodule; `from pkg import name`, pkg
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s for s in subs if s in modules] or [node.module]
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycle():
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    graph = {name: imports(path, set(files)) - {name} for name, path in files.items()}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"modules to split: {long}"


def test_cli_modules_are_thin():
    for path in (SRC / "cli").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 150, f"{path.name} holds more than parsing"


def test_settings_flags_are_declared_once():
    """Every flag of a settings dataclass comes from its field: the commands built on those
    settings never write one again."""
    from seqlm.compare.config import CompareConfig
    from seqlm.evaluate.config import EvalConfig
    from seqlm.ngram.config import NgramConfig
    from seqlm.settings import flag_fields
    from seqlm.train.config import TrainConfig

    flags = {
        "--" + field.name.replace("_", "-")
        for cls in (TrainConfig, NgramConfig, EvalConfig, CompareConfig)
        for field, _ in flag_fields(cls)
    }
    assert {"--hidden", "--order", "--smoothing", "--cache", "--budget"} <= flags
    written = set()
    for path in [SRC / "cli" / f"{name}.py" for name in ("train", "ngram", "eval", "compare")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                written |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    assert not flags & written, f"declared by hand as well: {sorted(flags & written)}"


def test_import_seqlm_does_not_load_torch():
    """The CLI's start and n-gram-only work (`seqlm score` with a 5-gram) stay light."""
    code = "import sys, seqlm, seqlm.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
