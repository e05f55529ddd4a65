"""Notice, for an instructor's review, when notebook code changed the grading environment.

No grade depends on this module. Hidden tests only *record* observations in the
kernel (:mod:`.probe`) and are judged outside it (:mod:`.judge`), so patching torch,
IPython's transformers or this module cannot make a wrong answer pass. What learner
code changed is still worth a human look, so this module:

* captures, when it is imported, private references to the originals it uses
  itself (from the C type ``torch._C.TensorBase``, which cannot be patched, and from
  ``builtins``/``math``), held in closures rather than module globals;
* :func:`snapshot` (called in the notebook's locked setup cell, before any learner
  code) records the identity of functions of torch, numpy, math and builtins, the
  class dicts of ``torch.Tensor`` and ``torch.nn.Module``, IPython's transformers,
  event callbacks and ``run_cell``, ``sys.settrace`` / ``setprofile`` / ``meta_path`` /
  ``path_hooks``, torch function/dispatch modes (IPython docs, "Custom input
  transformation", "IPython events");
* :func:`changes` lists what differs; every probe sends that list out with its
  observations and the grader turns it into a ``flagged`` status (review, no points);
* :func:`verify` raises ``AssertionError`` on any change, and the pure-Python
  comparison helpers (:func:`assert_close_literal`, ...) remain for notebooks released
  before the judge existed (a learner may open an older notebook with a newer package).

Honest limit: anything in the kernel's process can be undone by a targeted cheat; that
is why grades come from the judge, and this module only helps a reviewer.
"""

from __future__ import annotations

import builtins
import math
import os
import site
import sys
import sysconfig

import numpy
import numpy.testing
import torch
import torch.nn
import torch.nn.functional
import torch.testing

__all__ = [
    "snapshot",
    "verify",
    "changes",
    "tensor_to_floats",
    "assert_close_literal",
    "assert_exact_type",
    "assert_shape",
    "assert_dtype",
    "count_parameters",
]

_CRITICAL = {  # dotted paths that must be library code at snapshot time
    torch: ["allclose", "isclose", "equal", "eq", "is_tensor", "tensor", "as_tensor", "isfinite", "isnan"],
    torch.testing: ["assert_close"],
    numpy: ["allclose", "isclose", "array_equal", "asarray", "array", "isfinite"],
    numpy.testing: [
        "assert_allclose",
        "assert_array_equal",
        "assert_array_almost_equal",
        "assert_almost_equal",
        "assert_equal",
    ],
    math: ["isclose", "isfinite", "isnan", "fabs"],
    builtins: [
        "abs",
        "isinstance",
        "issubclass",
        "type",
        "len",
        "float",
        "int",
        "bool",
        "round",
        "all",
        "any",
        "zip",
        "range",
        "min",
        "max",
        "sum",
        "sorted",
        "list",
        "tuple",
        "dict",
        "str",
        "repr",
        "getattr",
        "hasattr",
        "id",
        "iter",
        "next",
        "enumerate",
        "print",
        "__import__",
    ],
}
_TENSOR_CRITICAL = (
    "tolist",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__len__",
    "__iter__",
    "__getitem__",
    "__sub__",
    "__rsub__",
    "__abs__",
    "__neg__",
    "__array__",
    "__repr__",
    "__format__",
    "__getattribute__",
    "__torch_function__",
    "__torch_dispatch__",
    "allclose",
    "isclose",
    "equal",
    "eq",
    "ne",
    "item",
    "float",
    "double",
    "to",
    "cpu",
    "detach",
    "clone",
    "numel",
    "size",
    "dim",
    "shape",
    "dtype",
    "device",
    "ndim",
    "abs",
    "max",
    "min",
    "all",
    "any",
    "sum",
    "mean",
    "numpy",
)
_MODULE_CRITICAL = (
    "__call__",
    "_call_impl",
    "_wrapped_call_impl",
    "parameters",
    "named_parameters",
    "_named_members",
    "modules",
    "named_modules",
    "children",
    "state_dict",
    "__getattr__",
    "__setattr__",
    "__getattribute__",
    "train",
    "eval",
)
_STRICT_MODULES = ("builtins", "math", "torch.testing", "numpy.testing")  # honest code never changes these
_IPYTHON_OWNED = {
    "exit",
    "quit",
    "get_ipython",
    "display",
    "help",
    "copyright",
    "credits",
    "license",
    "input",
}  # IPython / ipykernel swap these per cell
_SHELL_METHODS = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "showtraceback",
    "should_run_async",
)


def _build():  # one closure on purpose: the originals live in its cells
    _type, _isinstance, _len, _abs, _float, _int, _str, _id = type, isinstance, len, abs, float, int, str, id
    _tuple, _list, _dict, _set, _zip, _enumerate, _getattr = tuple, list, dict, set, zip, enumerate, getattr
    _vars, _any, _all, _reversed, _bool = vars, any, all, reversed, bool
    _classmethod, _staticmethod, _Exception = classmethod, staticmethod, Exception
    _AssertionError, _ValueError = AssertionError, ValueError
    _isnan, _isinf = math.isnan, math.isinf
    _realpath, _sep, _startswith = os.path.realpath, os.sep, str.startswith
    _obj_getattr, _dict_get, _dict_values = object.__getattribute__, dict.get, dict.values
    _Tensor, _Base, _Parameter, _Module = torch.Tensor, torch._C.TensorBase, torch.nn.Parameter, torch.nn.Module
    _tolist, _detach, _cpu, _numel = _Base.tolist, torch._C.TensorBase.detach, _Base.cpu, _Base.numel
    _shape_of, _dtype_of = _Base.shape.__get__, _Base.dtype.__get__
    _fn_modes, _dispatch_modes = torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack
    _gettrace, _getprofile = sys.gettrace, sys.getprofile
    _modules_dict = sys.modules
    _self_module = sys.modules[__name__]

    lib_dirs = {
        _realpath(p)
        for p in [
            *site.getsitepackages(),
            *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
            os.path.dirname(os.__file__),
            os.path.dirname(os.path.dirname(_realpath(__file__))),
        ]
        if p
    }  # + the course_utils package
    lib_dirs = _tuple(d.rstrip(_sep) + _sep for d in lib_dirs)
    state: dict = {}

    def static(cls, name):
        for k in _type.__dict__["__mro__"].__get__(cls):
            d = _type.__dict__["__dict__"].__get__(k)
            if name in d:
                return d[name]
        return None

    def code_in_library(fn) -> bool:
        if _isinstance(fn, (_classmethod, _staticmethod)):
            fn = fn.__func__
        fn = _getattr(fn, "fget", fn)
        code = _getattr(fn, "__code__", None)
        return code is None or _startswith(_realpath(code.co_filename), lib_dirs)

    def from_library(obj, depth: int = 0) -> bool:
        """False when ``obj`` is, wraps or is an instance of code written outside library dirs.

        C callables pass (they cannot be written in a notebook cell); functions, methods,
        partials and objects are judged by the files of their code objects.
        """
        if depth > 4:
            return False
        if _getattr(obj, "__code__", None) is not None or _isinstance(obj, (_classmethod, _staticmethod)):
            return code_in_library(obj)
        for attr in ("__func__", "__wrapped__", "func", "fget"):
            inner = _getattr(obj, attr, None) if _type(obj) is not _type else static(obj, attr)
            if inner is not None and inner is not obj and not from_library(inner, depth + 1):
                return False
        owner = obj if _isinstance(obj, _type) else _type(obj)
        for k in _type.__dict__["__mro__"].__get__(owner):
            for v in _type.__dict__["__dict__"].__get__(k).values():
                if not code_in_library(v):
                    return False
        return True

    def module_items(mod) -> dict:
        return {k: v for k, v in _vars(mod).items() if not _startswith(k, "_")}

    def shell():
        ipy = _dict_get(_modules_dict, "IPython")
        getter = _getattr(ipy, "get_ipython", None) if ipy is not None else None
        return getter() if getter is not None else None

    def capture() -> dict:
        snap = {"modules": {}, "classes": {}, "lists": {}, "values": {}}
        for mod in (torch, torch.testing, torch.nn, torch.nn.functional, numpy, numpy.testing, math):
            snap["modules"][mod.__name__] = module_items(mod)
        snap["modules"]["builtins"] = {
            k: v
            for k, v in _vars(builtins).items()
            if k not in _IPYTHON_OWNED and (not _startswith(k, "_") or k in ("__import__", "__build_class__"))
        }
        for cls in (_Tensor, _Module):
            snap["classes"][f"{cls.__module__}.{cls.__qualname__}"] = _dict(_vars(cls))
        vals = snap["values"]
        for cls, names in ((_Tensor, _TENSOR_CRITICAL), (_Module, _MODULE_CRITICAL)):
            for n in names:  # what attribute lookup finds, wherever in the MRO it lives
                vals[f"{cls.__module__}.{cls.__qualname__}.{n}"] = static(cls, n)
        for mod, names in _CRITICAL.items():
            for n in names:
                vals[f"{mod.__name__}.{n}"] = _getattr(mod, n, None)
        vals["sys.gettrace()"], vals["sys.getprofile()"] = _gettrace(), _getprofile()
        vals["torch function modes"], vals["torch dispatch modes"] = _fn_modes(), _dispatch_modes()
        for name in (
            "torch",
            "numpy",
            "math",
            "builtins",
            "torch.testing",
            "numpy.testing",
            "torch.nn",
            "torch.nn.functional",
            "sys",
            __name__,
        ):
            vals[f"sys.modules[{name!r}]"] = _dict_get(_modules_dict, name)
        lists = snap["lists"]
        lists["sys.meta_path"], lists["sys.path_hooks"] = _list(sys.meta_path), _list(sys.path_hooks)
        sh = shell()
        if sh is not None:
            vals["IPython shell"], vals["IPython shell class"] = sh, _type(sh)
            for m in _SHELL_METHODS:
                vals[f"IPython {m}"] = _dict_get(_vars(sh), m, static(_type(sh), m))
            vals["IPython compile"] = _getattr(sh, "compile", None)
            vals["IPython custom_exceptions"] = _getattr(sh, "custom_exceptions", None)
            for attr in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
                lists[f"IPython {attr}"] = _list(_getattr(sh, attr, None) or [])
            mgr = _getattr(sh, "input_transformer_manager", None)
            vals["IPython input_transformer_manager"] = mgr
            for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
                lists[f"IPython input_transformer_manager.{attr}"] = _list(_getattr(mgr, attr, None) or [])
            events = _getattr(_getattr(sh, "events", None), "callbacks", None) or {}
            for ev, cbs in events.items():
                lists[f"IPython events[{ev!r}]"] = _list(cbs)
        return snap

    def diff(old: dict, new: dict) -> list:
        """Critical entries must be identical; elsewhere only notebook-written code counts
        (torch itself re-wraps some functions, e.g. ``torch.manual_seed`` when dynamo loads)."""
        out = []
        for where, strict in (("modules", _STRICT_MODULES), ("classes", ())):
            for owner, items in old[where].items():
                now = new[where].get(owner, {})
                for k, v in items.items():
                    w = _dict_get(now, k, diff)
                    if w is diff:
                        out.append(f"{owner}.{k} deleted")
                    elif w is not v and (owner in strict or not from_library(w)):
                        out.append(f"{owner}.{k} replaced")
                if where == "classes":
                    out += [f"{owner}.{k} added" for k, w in now.items() if k not in items and not from_library(w)]
        for key, v in old["values"].items():
            if _dict_get(new["values"], key, diff) is not v and not (_type(v) is _int and new["values"].get(key) == v):
                out.append(f"{key} changed" if key[-1] in ")]" or " " in key else f"{key} replaced")
        for key, items in new["lists"].items():
            before = old["lists"].get(key, [])
            ids = {_id(x) for x in before}
            added = [x for x in items if _id(x) not in ids and not from_library(x)]
            if added:
                out.append(f"{key}: {_len(added)} hook(s) added by notebook code")
        return out

    def snapshot() -> bool:
        """Record the grading environment (once per kernel; later calls return False)."""
        if state:
            return False
        pre = []
        for mod, names in _CRITICAL.items():
            for n in names:
                obj = _getattr(mod, n, None)
                if obj is None or not from_library(obj):
                    pre.append(f"{mod.__name__}.{n} was already replaced before the setup cell")
        for n in _TENSOR_CRITICAL:
            if not from_library(static(_Tensor, n)):
                pre.append(f"torch.Tensor.{n} was already replaced before the setup cell")
        state["pre"] = pre
        state["snap"] = capture()
        return True

    def changes() -> list:
        """What differs from the snapshot (an empty list when nothing does)."""
        if not state:
            return ["guard.snapshot() was not called by the setup cell (or the guard module was reloaded)"]
        out = _list(state["pre"])
        if _dict_get(_modules_dict, __name__) is not _self_module:
            out.append(f"sys.modules[{__name__!r}] replaced")
        return _list(_dict.fromkeys(out + diff(state["snap"], capture())))

    def verify() -> None:
        """Raise AssertionError when the grading environment changed since :func:`snapshot`."""
        found = changes()
        if found:
            more = f" (and {_len(found) - 6} more)" if _len(found) > 6 else ""
            raise _AssertionError("grading environment was modified: " + "; ".join(found[:6]) + more)

    def type_name(x) -> str:
        t = _type(x)
        return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"

    def assert_exact_type(x, cls, name: str = "the result") -> None:
        """``type(x) is cls`` exactly (subclasses can override comparisons, so they fail)."""
        if _type(x) is not cls:
            raise _AssertionError(
                f"{name} should be a {cls.__module__}.{cls.__qualname__} "
                f"(exactly that type), but it is a {type_name(x)}"
            )

    def no_modes(name: str) -> None:
        if _fn_modes() or _dispatch_modes():
            raise _AssertionError(f"cannot check {name}: a torch function/dispatch mode is active")

    def tensor_to_floats(x, name: str = "the result"):
        """The values of an exact ``torch.Tensor`` as nested Python floats (read via originals)."""
        assert_exact_type(x, _Tensor, name)
        no_modes(name)
        try:
            values = _tolist(_cpu(_detach(x)))
        except _Exception as exc:  # meta tensors, sparse, ...
            raise _AssertionError(f"cannot read the values of {name}: {type_name(exc)}") from None
        return to_floats(values, name)

    def to_floats(values, name):
        if _type(values) in (_list, _tuple):
            return [to_floats(v, name) for v in values]
        if _type(values) in (_float, _int, _bool):
            return _float(values)
        raise _AssertionError(f"{name} contains a {type_name(values)}, expected real numbers")

    def flatten(values, name):
        if _type(values) is not _list:
            return [values], ()
        if not values:
            return [], (0,)
        parts = [flatten(v, name) for v in values]
        inner = parts[0][1]
        if _any(p[1] != inner for p in parts):
            raise _AssertionError(f"{name} is ragged (rows of different lengths)")
        return [x for p in parts for x in p[0]], (_len(values), *inner)

    def where(index: int, shape) -> str:
        if not shape:
            return ""
        if _len(shape) == 1:
            return f" at position {index}"
        if _len(shape) == 2:
            return f" at row {index // shape[1]}"
        idx = []
        for dim in _reversed(shape):
            idx.append(index % dim)
            index //= dim
        return f" at index {_tuple(_reversed(idx))}"

    def assert_close_literal(actual, expected, atol: float = 1e-4, rtol: float = 0.0, name: str = "the result") -> None:
        """``actual`` (exact tensor, or real number/list) matches the literal ``expected``.

        The message names the first worst position and the error, never expected values.
        """
        if _type(atol) not in (_float, _int) or _type(rtol) not in (_float, _int) or atol < 0 or rtol < 0:
            raise _ValueError("atol and rtol must be non-negative numbers")
        got = tensor_to_floats(actual, name) if _isinstance(actual, _Base) else to_floats(actual, name)
        flat_a, shape_a = flatten(got, name)
        flat_e, shape_e = flatten(to_floats(expected, "the expected value"), "the expected value")
        if shape_a != shape_e:
            raise _AssertionError(f"{name} has shape {shape_a} but shape {shape_e} was expected")
        worst, worst_i, bad = -1.0, -1, 0
        for i, (a, e) in _enumerate(_zip(flat_a, flat_e)):
            err = _float("inf") if _isnan(a) or _isinf(a) else _abs(a - e)
            excess = err - (atol + rtol * _abs(e))
            if excess > 0:
                bad += 1
                if err > worst:
                    worst, worst_i = err, i
        if bad:
            what = "is not finite" if worst == _float("inf") else f"max error {worst:.2g}"
            raise _AssertionError(
                f"{name}: values differ from the expected ones{where(worst_i, shape_a)} "
                f"({bad} of {_len(flat_a)} off; {what}; atol {atol:g}, rtol {rtol:g})"
            )

    def assert_shape(x, shape, name: str = "the result") -> None:
        """Exact tensor with this shape; ``None`` in ``shape`` matches any size."""
        assert_exact_type(x, _Tensor, name)
        got = _tuple(_shape_of(x))
        ok = _len(got) == _len(shape) and _all(s is None or g == s for g, s in _zip(got, shape))
        if not ok:
            want = (
                "("
                + ", ".join("any" if s is None else _str(s) for s in shape)
                + ("," if _len(shape) == 1 else "")
                + ")"
            )
            raise _AssertionError(f"{name} has shape {got} but should have shape {want}")

    def assert_dtype(x, dtype, name: str = "the result") -> None:
        """Exact tensor with ``dtype`` (e.g. ``torch.float32``)."""
        assert_exact_type(x, _Tensor, name)
        got = _dtype_of(x)
        if got is not dtype:
            raise _AssertionError(f"{name} has dtype {got} but should have dtype {dtype}")

    def count_parameters(module, name: str = "the module") -> int:
        """Number of distinct parameters, read from the modules' own dicts (no overridable methods)."""
        if not _isinstance(module, _Module):
            raise _AssertionError(f"{name} should be a torch.nn.Module, but it is a {type_name(module)}")
        total, seen, stack = 0, _set(), [module]
        while stack:
            m = stack.pop()
            d = _obj_getattr(m, "__dict__")
            params, children = _dict_get(d, "_parameters", {}), _dict_get(d, "_modules", {})
            if not _isinstance(params, _dict) or not _isinstance(children, _dict):
                raise _AssertionError(f"{name} has unusual parameter storage; cannot count its parameters")
            for p in _dict_values(params):
                if p is None or _id(p) in seen:
                    continue
                if _type(p) is not _Parameter:
                    raise _AssertionError(f"{name} holds a {type_name(p)} where a Parameter belongs")
                seen.add(_id(p))
                total += _numel(p)
            stack += [c for c in _dict_values(children) if c is not None]
        return total

    return (
        snapshot,
        verify,
        changes,
        tensor_to_floats,
        assert_close_literal,
        assert_exact_type,
        assert_shape,
        assert_dtype,
        count_parameters,
    )


(
    snapshot,
    verify,
    changes,
    tensor_to_floats,
    assert_close_literal,
    assert_exact_type,
    assert_shape,
    assert_dtype,
    count_parameters,
) = _build()
del _build
