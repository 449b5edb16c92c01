"""Error codes: the registry, the source and docs/errors.md agree; the code is safe by construction.

Codes are collected from the source structurally (the syntax tree): every call
``SomethingError("code", ...)`` and ``Rejection(worker, "code", ...)`` with a
literal code. Codes computed at run time (``FetchError(_code_of(exc), ...)``
in the S3 adapter) are registered by hand; the corpus and fuzz tests check at
run time that every code they meet is registered.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import gtconsensus
from gtconsensus import exceptions
from gtconsensus.exceptions import CODES, GtConsensusError

SOURCE = Path(gtconsensus.__file__).resolve().parent
DOCS = SOURCE.parent.parent / "docs" / "errors.md"
CORE = ["answers", "consensus", "contract", "exceptions", "fusion", "limits", "lines", "masks",
        "matching", "merging", "objects", "pngcheck", "schema", "scoring"]  # fmt: skip


def _python_files() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def _name_of(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _raised_codes() -> Iterator[tuple[str, str, str]]:
    """``(code, class name, where)`` for every literal code given to an error or a Rejection."""
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _name_of(node.func)
            where = f"{path.relative_to(SOURCE)}:{node.lineno}"
            if name in exceptions.__all__ and node.args and _literal(node.args[0]):
                yield str(_literal(node.args[0])), name, where
            elif name == "Rejection" and len(node.args) > 1 and _literal(node.args[1]):
                yield str(_literal(node.args[1])), "InputError", where


def _documented() -> dict[str, str]:
    """Code -> class name, from every table of docs/errors.md whose first column is ``code``."""
    documented: dict[str, str] = {}
    in_code_table = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_code_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "code":
            in_code_table = True
        elif in_code_table and not cells[0].startswith("---"):
            error = re.match(r"`(\w+)`", cells[1])
            for code in re.findall(r"`(\w+)`", cells[0]):
                documented.setdefault(code, error.group(1) if error else "")
    return documented


def test_every_code_raised_in_the_source_is_registered_with_its_class() -> None:
    problems = []
    for code, name, where in _raised_codes():
        raised = getattr(exceptions, name)
        if code not in CODES:
            problems.append(f"{where}: {code!r} is not in gtconsensus.exceptions.CODES")
        elif not issubclass(raised, CODES[code]):
            problems.append(f"{where}: {code!r} raised as {name}, registered as "
                            f"{CODES[code].__name__}")  # fmt: skip
    assert problems == [], "register new codes in exceptions.CODES and docs/errors.md"


def test_the_scan_finds_the_codes_it_should() -> None:
    found = {code for code, _, _ in _raised_codes()}
    assert {"bad_json", "image_too_large", "too_many_answers", "duplicate_worker"} <= found


def test_docs_list_exactly_the_registered_codes() -> None:
    documented = _documented()
    assert sorted(set(CODES) - set(documented)) == [], "codes missing from docs/errors.md"
    assert sorted(set(documented) - set(CODES)) == [], "documented codes not in CODES"


def test_docs_name_the_registered_class_of_each_code() -> None:
    documented = _documented()
    assert {c: documented[c] for c in CODES} == {c: e.__name__ for c, e in CODES.items()}


def test_registered_codes_are_snake_case_and_classes_are_of_the_tree() -> None:
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", code) for code in CODES)
    assert all(issubclass(error, GtConsensusError) for error in CODES.values())


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_error_survives_a_process_boundary(code: str) -> None:
    # Process pools and Dask send errors back pickled; the (code, message)
    # constructor needs __reduce__, or unpickling raises TypeError.
    import pickle  # only here: this test checks that the tree pickles

    error = CODES[code](code, f"message for {code}")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert (back.code, back.message, str(back)) == (error.code, error.message, str(error))


# --- safe by construction ---

_FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
_FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "yaml", "subprocess"}


def _imports_and_calls(path: Path) -> Iterator[tuple[str, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (("import", alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield "import", node.module.split(".")[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield "call", node.func.id


#: Exceptions, each with its reason (checked structurally below).
_ALLOWED = {
    ("adapters/spool.py", "pickle"): "the job-level spool pickles its own records into an "
    "anonymous 0600 tempfile.TemporaryFile and reads them back in the same process",
}


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_module_evaluates_code_or_unpickles(path: Path) -> None:
    """No eval/exec of anything, no pickle-like loaders, no shell: input is only ever parsed
    as JSON (``json.loads``), base64 and PNG, whatever its origin."""
    where = path.relative_to(SOURCE).as_posix()
    found = set(_imports_and_calls(path))
    assert {name for kind, name in found if kind == "call"} & _FORBIDDEN_CALLS == set()
    imported = {name for kind, name in found if kind == "import"} & _FORBIDDEN_MODULES
    assert {name for name in imported if (where, name) not in _ALLOWED} == set()


def test_the_spool_unpickles_only_its_own_anonymous_temporary_file() -> None:
    tree = ast.parse((SOURCE / "adapters" / "spool.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    files = [ast.unparse(c.func) for c in calls if ast.unparse(c.func).startswith("tempfile.")]
    loads = [
        ast.unparse(c) for c in calls if ast.unparse(c.func) in ("pickle.load", "pickle.loads")
    ]
    assert files == ["tempfile.TemporaryFile"]  # no name on disk that another process could swap
    assert loads == ["pickle.load(self._file)"]


@pytest.mark.parametrize("module", CORE)
def test_core_modules_neither_log_nor_print(module: str) -> None:
    """The core writes nothing anywhere: what reaches a log is what an adapter chooses, and
    errors quote the input only through ``excerpt`` (short, never image data)."""
    found = set(_imports_and_calls(SOURCE / f"{module}.py"))
    assert ("import", "logging") not in found
    assert ("call", "print") not in found
