"""Lines of a submission that change the tools the tests rely on, found by reading the code.

The test cells protect themselves (:func:`course_lib.grading.checks.untouched` puts back what a
notebook replaced, :func:`~course_lib.grading.checks.call_own_work` sees delegation by what runs),
so such a line does not change a score. It is still worth an instructor's look: ``check`` reports
every one as a finding of kind "review", and the CSV export lists them in its ``review`` column.

What is reported, in every code cell except the (restored) test cells:

* an assignment to, or deletion of, an attribute of an imported module (``checks.expect_close = …``,
  ``np.allclose = …``, ``cl.saliency = …``), of ``builtins``/``__builtins__`` or of ``sys``;
* a swap of a function's insides (``f.__code__ = …``, ``__defaults__``, ``__kwdefaults__``, ``__globals__``);
* ``setattr``/``delattr`` on an imported module, any change of ``sys.modules``, ``importlib.reload``;
* switching the interpreter's tracing (``sys.setprofile``/``settrace``, ``threading.setprofile``/``settrace``,
  ``sys.monitoring``) and IPython's exception handling (``set_custom_exc``, ``showtraceback``, ``events.register``);
* code built at run time (``exec``, ``eval``, ``compile``), which cannot be read here.
"""

from __future__ import annotations

import ast

__all__ = ["imported_names", "tampering"]

ALWAYS_WATCHED = frozenset({"builtins", "__builtins__", "sys"})
INSIDES = frozenset({"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__dict__"})
TRACING = frozenset(
    {"sys.setprofile", "sys.settrace", "threading.setprofile", "threading.settrace", "importlib.reload", "reload"}
)
SHELL = frozenset({"set_custom_exc", "showtraceback", "register"})
DYNAMIC = frozenset({"exec", "eval", "compile"})


def python_source(cell_source: str) -> str:
    """A notebook cell as plain Python (IPython's ``%magic`` and ``!shell`` lines translated)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(cell_source)
    except Exception:  # noqa: BLE001  (IPython missing or a cell it cannot read: drop the special lines)
        return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines())


def _parse(source: str):
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def imported_names(sources) -> set[str]:
    """Every name that an ``import`` binds in ``sources`` (``import numpy as np`` → ``np``)."""
    names = set()
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Import | ast.ImportFrom):
                names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _dotted(node) -> str:
    """``a.b.c`` for an attribute chain; calls and subscripts appear as ``f()`` and ``x[]``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[]"
    return "…"


def _root(node) -> str:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _targets(node):
    targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
    stack = list(targets)
    while stack:
        target = stack.pop()
        if isinstance(target, ast.Tuple | ast.List):
            stack.extend(target.elts)
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
        else:
            yield target


def _changed_target(target, watched) -> str | None:
    if isinstance(target, ast.Attribute):
        if target.attr in INSIDES:
            return f"replaces {_dotted(target)}"
        if _root(target) in watched:
            return f"changes the module attribute {_dotted(target)}"
    if isinstance(target, ast.Subscript) and _dotted(target.value) in (
        "sys.modules",
        "__builtins__",
        "builtins.__dict__",
    ):
        return f"changes {_dotted(target.value)}"
    return None


def _suspicious_call(node: ast.Call, watched) -> str | None:
    name = _dotted(node.func)
    last = name.rsplit(".", 1)[-1]
    if name in ("setattr", "delattr", "builtins.setattr") and node.args and _root(node.args[0]) in watched:
        return f"calls {name} on {_dotted(node.args[0])}"
    if name.startswith("sys.modules."):
        return f"changes sys.modules ({name})"
    if name in TRACING or name.startswith("sys.monitoring."):
        return f"calls {name}"
    if last in SHELL and ("get_ipython" in name or "shell" in name or last == "set_custom_exc"):
        return f"changes IPython's handling of errors ({name})"
    if name in DYNAMIC:
        return f"runs code built at run time ({name})"
    if last == "update" and ("__dict__" in name or name.startswith("vars(")) and _root(node.func) in watched:
        return f"changes a module's namespace ({name})"
    return None


def tampering(source: str, watched) -> list[tuple[int, str]]:
    """``(line, what)`` for every line of ``source`` that changes a module the tests use.

    ``watched``: the names of imported modules (see :func:`imported_names`); ``builtins``,
    ``__builtins__`` and ``sys`` are always watched. A cell that is not valid Python yields nothing.
    """
    tree = _parse(source)
    if tree is None:
        return []
    watched = set(watched) | ALWAYS_WATCHED
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            for target in _targets(node):
                what = _changed_target(target, watched)
                if what:
                    found.append((node.lineno, what))
        elif isinstance(node, ast.Call):
            what = _suspicious_call(node, watched)
            if what:
                found.append((node.lineno, what))
    return sorted(set(found))
