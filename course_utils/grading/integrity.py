"""Scan a submitted notebook for code that tampers with grading, before it is graded.

nbgrader (https://nbgrader.readthedocs.io, "Autograding" and "Is nbgrader secure?")
runs the learner's cells and the hidden tests in one kernel, so a submission can try
to make tests pass without solving the exercise: replace ``torch.allclose``, install
IPython input/AST transformers or event hooks (IPython docs, "Custom input
transformation" and "IPython events"), read hidden tests or the gradebook, kill the
kernel, or import the course's reference implementation. :func:`scan_notebook` looks
for those patterns with the :mod:`ast` module (and a line-based regex fallback for
cells that do not parse or use ``%``/``!`` IPython syntax) in the cells a learner can
edit; locked cells are skipped because nbgrader restores them from the gradebook.

A finding is a *flag for review*, never an automatic zero: some patterns have
innocent uses. The sandbox (:mod:`.sandbox`) and the in-kernel guards (:mod:`.guard`)
are the layers that actually stop an attack; this scan makes attempts visible.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Collection, Iterable

__all__ = [
    "Finding",
    "RULES",
    "REFERENCE_MODULES",
    "is_reference_module",
    "scan_notebook",
    "scan_source",
    "course_code",
    "editable_cells",
    "locked_grade_ids",
    "summarize",
]

RULES: dict[str, str] = {
    "ipython-hooks": "changes IPython's input/AST transformers, events, magics or run_cell",
    "torch-function": "defines __torch_function__/__torch_dispatch__ (can fake any tensor result)",
    "gradebook": "touches a database or nbgrader (the gradebook)",
    "exit-signal": "exits the kernel or handles/sends signals",
    "monkeypatch": "replaces an attribute of torch, numpy, builtins, math or course_utils",
    "shadow": "rebinds a name that tests rely on (a builtin or a module) at top level",
    "import-system": "reloads modules or edits sys.modules / sys.path / import hooks",
    "path-escape": "refers to a path outside the submission or to grading folders",
    "process": "runs a shell, a subprocess or opens network connections",
    "introspection": "walks frames, the garbage collector, tracing hooks or ctypes",
    "file-read": "opens a file by an absolute, home-relative or computed path",
    "reference-import": "imports the course's reference implementation in a solution cell",
    "magic": "uses an IPython magic other than %matplotlib/%time/%timeit",
}

# The modules that hold the reference solutions, by their dotted names, with the old names that
# stay importable for a term (course_utils.moved); a submodule or name inside one counts too.
# A package of them (``from course_utils import components``) counts as the package itself.
REFERENCE_MODULES = (
    "course_utils.reference",
    "course_utils.components.sinusoidal",
    "course_utils.components.timestep_mlp",
    "course_utils.components.film",
    "course_utils.components.adagn",
    "course_utils.components.unets",
    "course_utils.components.score2d",
    "course_utils.diffusion.vpsde",
    "course_utils.lessons.lesson04.weights",  # its ARMS table holds lesson 04's finished U-Nets
    "course_utils.sinusoidal",
    "course_utils.timestep_mlp",
    "course_utils.film",
    "course_utils.adagn",
    "course_utils.unets",
    "course_utils.score2d",
    "course_utils.vpsde",
)
_REFERENCE_PACKAGES = ("course_utils.components",)


def is_reference_module(module: str, reference_modules: Iterable[str] = REFERENCE_MODULES) -> bool:
    """``module`` (a dotted import name) is, or is inside, a module of reference solutions."""
    return module in _REFERENCE_PACKAGES or any(module == r or module.startswith(r + ".") for r in reference_modules)


def _reference_regex(reference_modules: Iterable[str]) -> re.Pattern:
    """``course_utils.components.film`` or ``from course_utils.components import ... film``, for lines
    that do not parse."""
    alternatives = []
    for ref in (*reference_modules, *_REFERENCE_PACKAGES):
        parent, _, last = ref.rpartition(".")
        alternatives += [re.escape(ref) + r"\b", re.escape(parent) + r"\s+import\s+[^#]*\b" + re.escape(last) + r"\b"]
    return re.compile("|".join(alternatives))


_PROTECTED_ROOTS = {"torch", "numpy", "builtins", "course_utils", "math"}
_SHADOW_NAMES = {
    "isinstance",
    "type",
    "len",
    "abs",
    "float",
    "int",
    "round",
    "all",
    "any",
    "zip",
    "range",
    "getattr",
    "hasattr",
    "id",
    "repr",
    "AssertionError",
    "Exception",
    "torch",
    "np",
    "numpy",
    "math",
    "nn",
    "F",
    "guard",
    "assert_close",
    "allclose",
}
_IPY_ATTRS = {
    "input_transformers_post",
    "input_transformers_cleanup",
    "input_transformer_manager",
    "input_splitter",
    "ast_transformers",
    "register_magic_function",
    "register_magics",
    "set_custom_exc",
    "set_hook",
    "custom_exceptions",
    "displayhook",
    "display_pub",
}
_IPY_REPLACED = {
    "run_cell",
    "run_cell_async",
    "run_line_magic",
    "run_cell_magic",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "showtraceback",
    "_showtraceback",
}
_EXIT_CALLS = {
    "os._exit",
    "os.abort",
    "sys.exit",
    "os.kill",
    "os.killpg",
    "signal.signal",
    "signal.alarm",
    "signal.setitimer",
    "signal.pthread_kill",
    "exit",
    "quit",
}
_PROCESS_CALLS = {
    "os.system",
    "os.popen",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.posix_spawnp",
    "pty.spawn",
    "pty.fork",
}
_PROCESS_MODULES = {
    "subprocess",
    "pty",
    "socket",
    "requests",
    "urllib.request",
    "http.client",
    "asyncio.subprocess",
    "paramiko",
}
_INTROSPECTION = {
    "gc.get_objects",
    "gc.get_referrers",
    "gc.get_referents",
    "sys._getframe",
    "inspect.currentframe",
    "inspect.stack",
    "inspect.getouterframes",
    "sys.settrace",
    "sys.setprofile",
    "threading.settrace",
    "threading.setprofile",
    "sys.addaudithook",
}
_GRADEBOOK_MODULES = {"sqlite3", "sqlalchemy", "nbgrader", "psycopg2", "pymysql"}
_OPEN_CALLS = {"open", "io.open", "os.open", "builtins.open", "codecs.open"}
_BENIGN_MAGICS = {"matplotlib", "time", "timeit", "who", "whos", "precision", "pprint", "capture"}
_BAD_PATH = re.compile(
    r"(^|[/\\])\.\.([/\\]|$)|^~|^/(work|home|root|etc|proc|srv|mnt)(/|$)|gradebook|\.ipynb\b"
    r"|(^|[/\\])(submitted|autograded|solutions|source|feedback)([/\\]|$)|^(submitted|autograded|solutions|feedback)$"
)
_MAGIC_LINE = re.compile(r"^(\s*)(?:[A-Za-z_][\w.]*\s*=\s*)?(%%?|!!?)\s*(\w*)")

_REGEX_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "ipython-hooks",
        re.compile(
            r"input_transformers|ast_transformers|events\.register|register_magic"
            r"|set_custom_exc|\.(run_cell|run_line_magic|run_cell_magic)\s*=(?!=)"
        ),
    ),
    ("torch-function", re.compile(r"__torch_(function|dispatch)__")),
    ("gradebook", re.compile(r"\b(sqlite3|sqlalchemy|nbgrader|gradebook)\b")),
    ("exit-signal", re.compile(r"\bos\._exit\b|\bsys\.exit\b|\bos\.kill(pg)?\b|\bsignal\.(signal|alarm)\b")),
    (
        "monkeypatch",
        re.compile(
            r"\b(torch|np|numpy|builtins|__builtins__|course_utils|math)(\.\w+)+\s*=(?!=)"
            r"|\b(set|del)attr\(\s*(torch|np|numpy|builtins|__builtins__|course_utils|math)\b"
        ),
    ),
    ("import-system", re.compile(r"\b(importlib|imp)\.reload\b|\bsys\.(modules|meta_path|path_hooks)\b")),
    ("process", re.compile(r"\bsubprocess\b|\bos\.(system|popen|fork|exec\w*|spawn\w*)\b|\bpty\b|\bsocket\b")),
    (
        "introspection",
        re.compile(
            r"\bctypes\b|\bgc\.get_(objects|referrers|referents)\b|\bsys\._getframe\b"
            r"|\bset(trace|profile)\b"
        ),
    ),
    ("file-read", re.compile(r"\bopen\(\s*[rbf]*['\"](/|~)")),
    ("path-escape", re.compile(r"['\"][^'\"\n]*(\.\./|/\.\.|~/|/(work|home|root|etc|proc)/)[^'\"\n]*['\"]")),
]


@dataclass(frozen=True)
class Finding:
    """One suspicious spot: ``cell_index`` in the notebook, 1-based ``line`` in the cell."""

    cell_index: int
    grade_id: str | None
    line: int
    rule: str
    message: str
    snippet: str


def _meta(cell: Any) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def locked_grade_ids(nb: Any) -> set[str]:
    """grade_ids of the cells nbgrader restores (locked or graded, not solution) in ``nb``.

    Compute it from the *released* (or source) notebook and pass it to
    :func:`scan_notebook`, so a learner cannot hide code by faking locked metadata.
    """
    return {
        m["grade_id"]
        for m in map(_meta, nb.cells)
        if m.get("grade_id") and not m.get("solution") and (m.get("locked") or m.get("grade"))
    }


def editable_cells(nb: Any, locked_ids: Collection[str] | None = None) -> list[int]:
    """Indices of code cells the learner could have changed (see :func:`scan_notebook`)."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        m = _meta(cell)
        restored = not m.get("solution") and (m.get("locked") or m.get("grade"))
        if restored and (locked_ids is None or m.get("grade_id") in locked_ids):
            continue
        out.append(i)
    return out


def scan_notebook(
    nb: Any,
    locked_ids: Collection[str] | None = None,
    reference_modules: Iterable[str] = REFERENCE_MODULES,
    course_sources: Collection[str] = (),
) -> list[Finding]:
    """Findings in the cells a learner can edit, in notebook order.

    Scanned: code cells without nbgrader metadata and nbgrader solution cells. Skipped:
    locked/grade cells, which nbgrader overwrites from the gradebook; when ``locked_ids``
    (see :func:`locked_grade_ids`) is given, only cells whose grade_id is in it are skipped.
    ``course_sources`` (see :func:`course_code`): editable cells whose source is exactly
    one of these are the course's own code as released (a demo cell that imports a
    helper, say), not the learner's, and are skipped too; any edit makes them scanned.
    """
    if not hasattr(nb, "cells"):
        raise TypeError(f"scan_notebook needs a notebook (nbformat.read(...)), got {type(nb).__name__}")
    findings: list[Finding] = []
    editable = editable_cells(nb, locked_ids)
    protected = set()
    for i, cell in enumerate(nb.cells):  # names locked cells import from the grading package
        if i not in editable and cell.get("cell_type") == "code":
            protected |= _grading_imports(_source(cell))
    given = set(course_sources)
    for i in editable:
        cell = nb.cells[i]
        src = _source(cell)
        if src in given:
            continue
        for line, rule, message in scan_source(src, reference_modules, protected):
            snippet = src.splitlines()[line - 1].strip()[:120] if 0 < line <= len(src.splitlines()) else ""
            findings.append(Finding(i, _meta(cell).get("grade_id"), line, rule, message, snippet))
    return findings


def course_code(release_nb: Any) -> set[str]:
    """The source of every code cell of the released notebook (pass as ``course_sources``)."""
    return {_source(c) for c in release_nb.cells if c.get("cell_type") == "code"}


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _grading_imports(src: str) -> set[str]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils.grading"):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("course_utils.grading")}
    return names


def scan_source(
    src: str, reference_modules: Iterable[str] = REFERENCE_MODULES, protected_names: Collection[str] = ()
) -> list[tuple[int, str, str]]:
    """``(line, rule, message)`` for one cell's source, deduplicated and sorted.

    ``protected_names``: extra names that must not be rebound at top level (e.g. the
    alias under which a locked cell imported :mod:`course_utils.grading.guard`).
    """
    lines = src.splitlines()
    hits: list[tuple[int, str, str]] = []
    python_lines, regex_only = list(lines), []
    try:
        plain: ast.AST | None = ast.parse(src)
    except SyntaxError:
        plain = None
    for n, text in enumerate(lines if plain is None else []):
        n += 1
        m = _MAGIC_LINE.match(text)
        if not m:
            continue
        indent, kind, name = m.groups()
        if kind.startswith("!"):
            hits.append((n, "process", "runs a shell command (!)"))
        elif name not in _BENIGN_MAGICS:
            hits.append((n, "magic", f"uses the IPython magic {kind}{name}"))
        if kind == "%%" and n == 1:
            if name not in _BENIGN_MAGICS:  # whole cell is not Python (bash, writefile, ...)
                regex_only = list(range(1, len(lines) + 1))
                break
        python_lines[n - 1] = indent + "pass"
        regex_only.append(n)
    tree = plain
    if tree is None and len(regex_only) < len(lines):
        try:
            tree = ast.parse("\n".join(python_lines))
        except SyntaxError:
            regex_only = list(range(1, len(lines) + 1))
    if tree is not None:
        hits += _AstScanner(set(reference_modules), protected_names).scan(tree)
    for n in regex_only:
        hits += [
            (n, rule, f"matches the pattern for: {RULES[rule]}")
            for rule, pat in _REGEX_RULES
            if pat.search(lines[n - 1])
        ]
        if _reference_regex(reference_modules).search(lines[n - 1]):
            hits.append((n, "reference-import", RULES["reference-import"]))
    first: dict[tuple[int, str], str] = {}
    for line, rule, message in hits:
        first.setdefault((line, rule), message)
    return sorted((line, rule, message) for (line, rule), message in first.items())


class _AstScanner(ast.NodeVisitor):
    """Walks one cell; ``aliases`` maps local names to the module path they stand for."""

    def __init__(self, reference_modules: set[str], protected: Collection[str] = ()):
        self.refs, self.protected = reference_modules, set(protected)
        self.aliases: dict[str, str] = {
            "np": "numpy",
            "nn": "torch.nn",
            "F": "torch.nn.functional",
            "__builtins__": "builtins",
        }
        self.hits: list[tuple[int, str, str]] = []
        self.depth = 0

    def scan(self, tree: ast.AST) -> list[tuple[int, str, str]]:
        for node in ast.walk(tree):  # imports first, so aliases are known everywhere
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self.visit(tree)
        return self.hits

    def add(self, node: ast.AST, rule: str, detail: str) -> None:
        self.hits.append((getattr(node, "lineno", 1), rule, detail))

    def name_of(self, node: ast.AST) -> str | None:
        """Canonical dotted name of ``a.b.c`` (aliases resolved), else None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            parts.append("<ipython>")
        elif isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
        else:
            return None
        return ".".join(reversed(parts))

    def check_module(self, node: ast.AST, module: str) -> None:
        root = module.split(".")[0]
        if root in _GRADEBOOK_MODULES:
            self.add(node, "gradebook", f"imports {module}")
        if module in _PROCESS_MODULES or root in {"subprocess", "pty", "socket", "requests"}:
            self.add(node, "process", f"imports {module}")
        if root in {"ctypes", "cffi"}:
            self.add(node, "introspection", f"imports {module}")
        if is_reference_module(module, self.refs):
            self.add(node, "reference-import", f"imports {module} (the reference solution)")

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.check_module(node, a.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            self.check_module(node, node.module)
            for a in node.names:
                self.check_module(node, f"{node.module}.{a.name}")

    def _scoped(self, node: ast.AST) -> None:
        name = getattr(node, "name", None)
        if name in {"__torch_function__", "__torch_dispatch__"}:
            self.add(node, "torch-function", f"defines {name}")
        elif self.depth == 0 and (name in _SHADOW_NAMES or name in self.protected):
            self.add(node, "shadow", f"defines {name!r} at top level, hiding the one tests use")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scoped

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _IPY_ATTRS or (
            node.attr in {"register", "callbacks", "unregister"}
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "events"
        ):
            self.add(node, "ipython-hooks", f"uses IPython's {node.attr}")
        if node.attr in {"__torch_function__", "__torch_dispatch__"}:
            self.add(node, "torch-function", f"uses {node.attr}")
        name = self.name_of(node) or ""
        if name.startswith(("sys.modules", "sys.meta_path", "sys.path_hooks")):
            self.add(node, "import-system", f"uses {'.'.join(name.split('.')[:2])}")
        if name in {"sys.path.insert", "sys.path.append", "sys.path.extend"}:
            self.add(node, "import-system", f"changes where modules are imported from ({name})")
        self.generic_visit(node)

    def _target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, verb)
            return
        if isinstance(target, ast.Starred):
            return self._target(target.value, verb)
        if isinstance(target, ast.Name):
            if self.depth == 0 and (target.id in _SHADOW_NAMES or target.id in self.protected):
                self.add(target, "shadow", f"{verb} the name {target.id!r} that tests rely on")
            return
        base = target.value if isinstance(target, (ast.Attribute, ast.Subscript)) else None
        name = self.name_of(base) if base is not None else None
        if name is None:
            return
        full = self.name_of(target) if isinstance(target, ast.Attribute) else name + "[...]"
        if isinstance(target, ast.Attribute) and target.attr in _IPY_REPLACED | _IPY_ATTRS:
            self.add(target, "ipython-hooks", f"{verb} IPython's {target.attr}")
        elif name.split(".")[0] in _PROTECTED_ROOTS and not name.startswith("torch.backends"):
            self.add(target, "monkeypatch", f"{verb} {full}")
        elif name.startswith("sys."):
            self.add(
                target,
                "import-system" if "modules" in name or "path" in name else "introspection",
                f"{verb} {full or name}",
            )

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, "replaces")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, "changes")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._target(node.target, "replaces")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t, "deletes")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.name_of(node.func) or ""
        args = node.args
        first = self.name_of(args[0]) if args else None
        const = args[0].value if args and isinstance(args[0], ast.Constant) else None
        if name in _EXIT_CALLS:
            self.add(node, "exit-signal", f"calls {name}()")
        if (
            name in _PROCESS_CALLS
            or name.startswith(("subprocess.", "os.exec", "os.spawn"))
            or name.endswith(("<ipython>.system", "<ipython>.getoutput"))
        ):
            self.add(node, "process", f"calls {name.replace('<ipython>', 'get_ipython()')}()")
        if name in {"importlib.reload", "imp.reload"}:
            self.add(node, "import-system", "reloads a module")
        if name in _INTROSPECTION:
            self.add(node, "introspection", f"calls {name}()")
        if name in {"setattr", "delattr", "object.__setattr__", "type.__setattr__"} and first:
            if first.split(".")[0] in _PROTECTED_ROOTS:
                self.add(node, "monkeypatch", f"{name}() on {first}")
            elif first.startswith("<ipython>"):
                self.add(node, "ipython-hooks", f"{name}() on the IPython shell")
        if name in {"importlib.import_module", "__import__"} and isinstance(const, str):
            self.check_module(node, const)
        if name in _OPEN_CALLS and args:
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            reading = not (
                isinstance(mode, ast.Constant) and isinstance(mode.value, str) and set(mode.value) & set("wax")
            )
            if isinstance(const, str):
                if const.startswith(("/", "~")) or ".." in const:
                    self.add(node, "file-read", f"opens {const!r}")
            elif reading:
                self.add(node, "file-read", "opens a file whose path is computed at run time")
        if name in {"os.path.expanduser", "pathlib.Path.home", "Path.home", "os.path.expandvars"}:
            self.add(node, "path-escape", f"calls {name}()")
        if (
            name.endswith(("<ipython>.run_line_magic", "<ipython>.run_cell_magic"))
            and isinstance(const, str)
            and const not in _BENIGN_MAGICS
        ):
            self.add(node, "magic", f"runs the magic {const!r}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self.add(node, "monkeypatch", "uses __builtins__")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) < 500 and _BAD_PATH.search(node.value):
            rule = "gradebook" if "gradebook" in node.value.lower() else "path-escape"
            self.add(node, rule, f"refers to the path {node.value[:60]!r}")


def summarize(findings: Iterable[Finding]) -> str:
    """A short report for the instructor (findings are for review, not penalties)."""
    findings = list(findings)
    if not findings:
        return "integrity scan: nothing to review"
    counts = Counter(f.rule for f in findings)
    head = f"integrity scan: {len(findings)} finding(s) to review (not penalised automatically): " + ", ".join(
        f"{rule} x{n}" for rule, n in sorted(counts.items())
    )
    lines = [head]
    for f in findings:
        where = f"cell {f.cell_index}" + (f" ({f.grade_id})" if f.grade_id else "")
        lines.append(f"  - {where}, line {f.line}: [{f.rule}] {f.message}: {f.snippet}")
    return "\n".join(lines)
