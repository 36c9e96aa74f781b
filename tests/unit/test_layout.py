"""The layout rules of the package: no module over 400 lines, no function over 60, a small top level.

A function's length runs from its ``def`` line to its last line (decorators excluded); nested functions and
methods are measured on their own as well as inside the function that holds them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mallm_gan

PACKAGE = Path(mallm_gan.__file__).resolve().parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# the modules that sit at the top of the package; everything else lives in a stage's folder
TOP_LEVEL = {"__init__", "errors", "settings", "synthesizer", "runstate"}


def long_modules(root: Path) -> list[str]:
    """``"pkg/mod.py: N lines"`` for each module under ``root`` over the limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(root.parent).as_posix()}: {count} lines")
    return found


def long_functions(root: Path) -> list[str]:
    """``"pkg/mod.py:LINE Qualified.name: N lines"`` for each function or method under ``root`` over the limit."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        name = path.relative_to(root.parent).as_posix()
        found.extend(f"{name}:{line} {qualname}: {count} lines" for qualname, line, count in _over_limit(tree))
    return found


def _over_limit(tree: ast.AST) -> list[tuple[str, int, int]]:
    over: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                # lineno is the def line itself: decorators sit above it and are not counted
                count = (child.end_lineno or child.lineno) - child.lineno + 1
                if count > MAX_FUNCTION_LINES:
                    over.append((prefix + child.name, child.lineno, count))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return over


def stray_top_level_modules(root: Path) -> list[str]:
    """The modules at the top of ``root`` other than the shared ones (a stage's folder is not a module)."""
    return sorted(path.name for path in root.glob("*.py") if path.stem not in TOP_LEVEL)


def test_no_module_over_the_line_limit() -> None:
    found = long_modules(PACKAGE)
    assert not found, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(found)


def test_no_function_over_the_line_limit() -> None:
    found = long_functions(PACKAGE)
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)


def test_top_level_holds_only_the_shared_modules() -> None:
    found = stray_top_level_modules(PACKAGE)
    assert not found, f"modules at the top level beside {sorted(TOP_LEVEL)}: {found}"


def _lines(count: int, indent: str) -> str:
    return "".join(f"{indent}x{i} = {i}\n" for i in range(count))


def test_the_checks_name_what_is_over_and_only_that(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "stage").mkdir(parents=True)
    # 60 lines with its def, two decorators above: within the limit
    fits = "@first\n@second\ndef fits():\n" + _lines(MAX_FUNCTION_LINES - 1, "    ")
    # a method of 61 lines, and a nested function of 61 lines inside a function of 64
    method = "class Holder:\n    def grows(self):\n" + _lines(MAX_FUNCTION_LINES, "        ")
    nested = "def outer():\n    y = 0\n    def inner():\n" + _lines(MAX_FUNCTION_LINES, "        ") + "    return y\n"
    (root / "stage" / "code.py").write_text(fits + method + nested, encoding="utf-8")
    (root / "stage" / "edge.py").write_text(_lines(MAX_MODULE_LINES, ""), encoding="utf-8")
    (root / "stage" / "long.py").write_text(_lines(MAX_MODULE_LINES + 1, ""), encoding="utf-8")
    (root / "errors.py").write_text("", encoding="utf-8")
    (root / "helpers.py").write_text("", encoding="utf-8")

    assert long_modules(root) == ["pkg/stage/long.py: 401 lines"]
    # fits takes lines 1-62 (two decorators, then 60), Holder is line 63: grows starts on line 64
    start = 2 + MAX_FUNCTION_LINES + 2
    assert long_functions(root) == [
        f"pkg/stage/code.py:{start} Holder.grows: 61 lines",
        f"pkg/stage/code.py:{start + 61} outer: 64 lines",
        f"pkg/stage/code.py:{start + 61 + 2} outer.inner: 61 lines",
    ]
    assert stray_top_level_modules(root) == ["helpers.py"]
