"""Judge a hidden test cell's observations in the grading process, never in the learner's kernel.

The kernel computes, the grader judges: a hidden test cell's *probe*
(:mod:`course_utils.grading.probe`) records what the learner's code returned; its
*judgement* -- the ``[judge] id=NAME`` block beside the ``[tests] id=NAME`` cell in
``authoring/<assignment>.py`` -- runs here, outside the sandbox, with the expected values,
tolerances and messages that never enter the kernel. ``authoring/`` is hidden from
learner kernels and never released (:mod:`course_utils.build.authoring` keeps judge blocks
out of every notebook).

A cell passes only on good evidence: exactly one observation record, of the right
cell, within size limits, every value of a known kind (:func:`parse_record`), every
observation the judgement reads present and well-formed, none left unread. Anything
else fails the cell with a message for the learner; no expected value is ever named.

A lesson may also have one ``[judgelib]`` block: helpers that every judgement of that
lesson can use (it runs before each). Inside a judgement block these names are defined: ``obs`` (:class:`Observations`),
``Fail``, ``expect``, ``expect_shape``, ``expect_dtype``, ``expect_close``, ``math``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from course_utils.grading.probe import MIME

__all__ = [
    "Fail",
    "TensorObs",
    "Observations",
    "Verdict",
    "Judgement",
    "parse_record",
    "judge_outputs",
    "load_judgements",
    "expect",
    "expect_shape",
    "expect_dtype",
    "expect_close",
    "MAX_RECORD_CHARS",
]

MAX_RECORD_CHARS = 1_000_000  # one cell's serialised record
MAX_KEYS = 64
MAX_VALUES = 20_000
MAX_MESSAGE = 500
_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
_KINDS = {"tensor", "bool", "int", "float", "str", "none", "list", "error"}
_DTYPES = {
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "bool",
    "complex64",
    "complex128",
}


class Fail(Exception):
    """A judgement's verdict that the cell fails; its text is shown to the learner."""


class Malformed(Fail):
    """The record itself is not acceptable evidence (missing, duplicated, malformed, oversized)."""


def _as_float(x: Any, where: str) -> float:
    if x in ("nan", "inf", "-inf"):
        return float(x)
    if type(x) not in (int, float):
        raise Malformed(f"the observation {where} holds a {type(x).__name__} where a number belongs")
    return float(x)


def _check_value(v: Any, where: str, depth: int = 0) -> int:
    """Validate one encoded observation; returns how many numbers it holds."""
    if depth > 4 or not isinstance(v, dict) or v.get("kind") not in _KINDS:
        raise Malformed(f"the observation {where} is malformed")
    kind = v["kind"]
    allowed = {
        "tensor": {"kind", "type", "shape", "dtype", "device", "values"},
        "list": {"kind", "items"},
        "error": {"kind", "type", "message"},
        "none": {"kind"},
    }.get(kind, {"kind", "value"})
    if set(v) != allowed:
        raise Malformed(f"the observation {where} has unexpected or missing fields")
    if kind == "tensor":
        shape, values = v["shape"], v["values"]
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or any(type(s) is not int or s < 0 for s in shape)
            or v["dtype"] not in _DTYPES
            or not isinstance(v["device"], str)
            or len(v["device"]) > 20
            or not isinstance(v["type"], str)
            or len(v["type"]) > 100
        ):
            raise Malformed(f"the tensor observation {where} is malformed")
        if values is None:
            return 0
        if not isinstance(values, list) or len(values) != math.prod(shape) or len(values) > MAX_VALUES:
            raise Malformed(f"the tensor observation {where} does not hold one value per element")
        for x in values:
            _as_float(x, where)
        return len(values)
    if kind == "list":
        items = v["items"]
        if not isinstance(items, list) or len(items) > MAX_VALUES:
            raise Malformed(f"the list observation {where} is malformed")
        return sum(_check_value(x, where, depth + 1) for x in items)
    if kind == "error":
        if not isinstance(v["type"], str) or not isinstance(v["message"], str):
            raise Malformed(f"the error observation {where} is malformed")
        return 0
    value = v.get("value")
    ok = {
        "bool": type(value) is bool,
        "int": type(value) is int and abs(value) < 2**63,
        "float": type(value) in (int, float) or value in ("nan", "inf", "-inf"),
        "str": isinstance(value, str) and len(value) <= 300,
        "none": True,
    }[kind]
    if not ok:
        raise Malformed(f"the observation {where} is malformed")
    return 1


def parse_record(data: Any, cell_id: str) -> dict:
    """The validated record of cell ``cell_id`` (as displayed by :meth:`Probe.emit`), or :class:`Malformed`."""
    if isinstance(data, str):
        if len(data) > MAX_RECORD_CHARS:
            raise Malformed("the observation record is too large")
        try:
            data = json.loads(data)
        except ValueError:
            raise Malformed("the observation record is not valid JSON") from None
    if len(json.dumps(data)) > MAX_RECORD_CHARS:
        raise Malformed("the observation record is too large")
    if not isinstance(data, dict) or set(data) != {"version", "cell", "obs", "environment"} or data["version"] != 1:
        raise Malformed("the observation record is malformed")
    if data["cell"] != cell_id:
        raise Malformed("the observation record belongs to another cell")
    obs, env = data["obs"], data["environment"]
    if not isinstance(obs, dict) or len(obs) > MAX_KEYS or not all(isinstance(k, str) and _KEY.match(k) for k in obs):
        raise Malformed("the observation record has malformed keys")
    if not isinstance(env, list) or len(env) > 50 or not all(isinstance(e, str) and len(e) <= 300 for e in env):
        raise Malformed("the observation record's environment list is malformed")
    if sum(_check_value(v, repr(k)) for k, v in obs.items()) > 4 * MAX_VALUES:
        raise Malformed("the observation record holds too many values")
    return data


@dataclass(frozen=True)
class TensorObs:
    """A tensor as the probe saw it: type name, shape, dtype and device names, flat values (or None)."""

    key: str
    type: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    values: tuple[float, ...] | None

    def flat(self) -> list[float]:
        """The values, row-major; fails when the probe recorded none."""
        if self.values is None:
            raise Fail(f"no values were recorded for {self.key!r}")
        return list(self.values)

    def rows(self) -> list[list[float]]:
        """The values of a 2-D tensor as a list of rows."""
        if len(self.shape) != 2:
            raise Fail(f"{self.key!r} should be 2-D, its shape is {self.shape}")
        flat, width = self.flat(), self.shape[1]
        return [flat[i * width : (i + 1) * width] for i in range(self.shape[0])]


class Observations:
    """Read access to one validated record; every read is type-checked and remembered."""

    def __init__(self, record: dict) -> None:
        self._obs: dict = record["obs"]
        self.environment: list[str] = list(record["environment"])
        self._read: set[str] = set()

    def _get(self, key: str, kind: str | tuple[str, ...], what: str | None = None) -> dict:
        self._read.add(key)
        if key not in self._obs:
            raise Malformed(f"the hidden checks recorded no observation {key!r}")
        v = self._obs[key]
        label = what or key
        if v["kind"] == "error":
            raise Fail(f"{label}: your code raised {v['type']}: {v['message']}")
        kinds = (kind,) if isinstance(kind, str) else kind
        if v["kind"] not in kinds:
            raise Fail(f"{label}: expected {' or '.join(kinds)}, your code gave {_kind_name(v)}")
        return v

    def has(self, key: str) -> bool:
        """Whether ``key`` was recorded (marks it read)."""
        self._read.add(key)
        return key in self._obs

    def failed(self, key: str) -> str | None:
        """The learner's error under ``key`` ("TypeError: ...") or None; marks it read."""
        self._read.add(key)
        v = self._obs.get(key)
        return f"{v['type']}: {v['message']}" if v and v["kind"] == "error" else None

    def tensor(self, key: str, what: str | None = None) -> TensorObs:
        """The tensor recorded under ``key`` (a non-tensor or a raised error fails, saying so)."""
        v = self._get(key, "tensor", what)
        values = None if v["values"] is None else tuple(_as_float(x, key) for x in v["values"])
        return TensorObs(key, v["type"], tuple(v["shape"]), v["dtype"], v["device"], values)

    def number(self, key: str, what: str | None = None) -> float:
        v = self._get(key, ("float", "int"), what)
        return _as_float(v["value"], key)

    def integer(self, key: str, what: str | None = None) -> int:
        return int(self._get(key, "int", what)["value"])

    def flag(self, key: str, what: str | None = None) -> bool:
        return bool(self._get(key, "bool", what)["value"])

    def text(self, key: str, what: str | None = None) -> str:
        return str(self._get(key, "str", what)["value"])

    def numbers(self, key: str, what: str | None = None) -> list[float]:
        """A recorded list of plain numbers (ints or floats)."""
        v = self._get(key, "list", what)
        out = []
        for item in v["items"]:
            if item["kind"] not in ("int", "float"):
                raise Fail(f"{what or key}: expected a list of numbers, found a {_kind_name(item)} in it")
            out.append(_as_float(item["value"], key))
        return out

    def texts(self, key: str, what: str | None = None) -> list[str]:
        v = self._get(key, "list", what)
        if any(item["kind"] != "str" for item in v["items"]):
            raise Fail(f"{what or key}: expected a list of names")
        return [item["value"] for item in v["items"]]

    def unread(self) -> list[str]:
        return sorted(set(self._obs) - self._read)


def _kind_name(v: dict) -> str:
    return f"tensor ({v['type']})" if v["kind"] == "tensor" else {"none": "None"}.get(v["kind"], v["kind"])


# --- helpers for judgement blocks ---------------------------------------------------------------


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition``."""
    if not condition:
        raise Fail(message)


def expect_shape(t: TensorObs, shape: Sequence[int | None], name: str) -> None:
    """``t`` has this shape (``None`` matches any size)."""
    ok = len(t.shape) == len(shape) and all(s is None or g == s for g, s in zip(t.shape, shape))
    if not ok:
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise Fail(f"{name} has shape {t.shape} but should have shape {want}")


def expect_dtype(t: TensorObs, dtype: str, name: str) -> None:
    if t.dtype != dtype:
        raise Fail(f"{name} has dtype {t.dtype} but should have dtype {dtype}")


def _flatten(values: Any) -> tuple[list[float], tuple[int, ...]]:
    if isinstance(values, TensorObs):
        return values.flat(), values.shape
    if not isinstance(values, (list, tuple)):
        return [float(values)], ()
    if not values:
        return [], (0,)
    parts = [_flatten(v) for v in values]
    inner = parts[0][1]
    if any(p[1] != inner for p in parts):
        raise Fail("ragged values (rows of different lengths)")
    return [x for p in parts for x in p[0]], (len(values), *inner)


def _where(index: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    if len(shape) == 1:
        return f" at position {index}"
    if len(shape) == 2:
        return f" at row {index // shape[1]}"
    idx = []
    for dim in reversed(shape):
        idx.append(index % dim)
        index //= dim
    return f" at index {tuple(reversed(idx))}"


def expect_close(actual: Any, expected: Any, atol: float = 1e-4, name: str = "the result", rtol: float = 0.0) -> None:
    """``actual`` (a :class:`TensorObs` or numbers) matches ``expected`` in shape and value.

    The message names the worst position and its error size, never an expected value.
    """
    got, shape_a = _flatten(actual)
    want, shape_e = _flatten(expected)
    if shape_a != shape_e:
        raise Fail(f"{name} has shape {shape_a} but shape {shape_e} was expected")
    worst, worst_i, bad = -1.0, -1, 0
    for i, (a, e) in enumerate(zip(got, want)):
        err = math.inf if not math.isfinite(a) else abs(a - e)
        if err > atol + rtol * abs(e):
            bad += 1
            if err > worst:
                worst, worst_i = err, i
    if bad:
        what = "is not finite" if worst == math.inf else f"max error {worst:.2g}"
        raise Fail(
            f"{name}: values differ from the expected ones{_where(worst_i, shape_a)} "
            f"({bad} of {len(got)} off; {what}; tolerance {atol:g})"
        )


# --- judgements and verdicts --------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One ``[judge]`` block: the grade id it judges and its compiled source."""

    grade_id: str
    source: str
    origin: str  # file and block, for messages about judgement bugs
    prelude: str = ""  # the lesson's [judgelib] block: helpers shared by its judgements

    def code(self):
        return compile(self.prelude + "\n" + self.source, self.origin, "exec")


@dataclass
class Verdict:
    passed: bool
    message: str
    environment: list[str] = field(default_factory=list)
    internal_error: str = ""  # a bug in the judgement itself (never shown to the learner)


def _namespace(obs: Observations) -> dict:
    return {
        "obs": obs,
        "Fail": Fail,
        "expect": expect,
        "expect_shape": expect_shape,
        "expect_dtype": expect_dtype,
        "expect_close": expect_close,
        "math": math,
        "__builtins__": __builtins__,
    }


def records_in(outputs: Iterable[dict]) -> list[Any]:
    """The observation records among a cell's outputs."""
    return [
        o.get("data", {}).get(MIME)
        for o in outputs
        if o.get("output_type") in ("display_data", "execute_result") and MIME in (o.get("data") or {})
    ]


def judge_outputs(judgement: Judgement, outputs: list[dict]) -> Verdict:
    """Judge one executed test cell from its outputs (the kernel's only say in the grade)."""
    records = records_in(outputs)
    if not records:
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors:
            e = errors[-1]
            return Verdict(
                False,
                _short(
                    f"this cell stopped before its hidden checks could run: "
                    f"{e.get('ename', 'Error')}: {e.get('evalue', '')}"
                ),
            )
        return Verdict(False, "the hidden checks of this cell did not run (no observations were recorded)")
    if len(records) > 1:
        return Verdict(False, "this cell holds more than one observation record: only the course's probe may record")
    try:
        record = parse_record(records[0], judgement.grade_id)
    except Malformed as exc:
        return Verdict(False, _short(str(exc)))
    obs = Observations(record)
    try:
        exec(judgement.code(), _namespace(obs))
    except Fail as exc:
        return Verdict(False, _short(str(exc)), obs.environment)
    except Exception as exc:  # a judgement bug: fail safe, and tell the instructor (log), not the learner
        return Verdict(
            False,
            "the hidden checks could not judge this cell's results",
            obs.environment,
            internal_error=f"{type(exc).__name__}: {exc} (in {judgement.origin})",
        )
    extra = obs.unread()
    if extra:
        return Verdict(
            False, _short("unexpected observations in this cell's record: " + ", ".join(extra[:5])), obs.environment
        )
    return Verdict(True, "hidden checks passed", obs.environment)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


@lru_cache(maxsize=32)
def _load(path: str, mtime: float) -> dict[str, Judgement]:
    from course_utils.build.authoring import parse_source

    cells = parse_source(Path(path).read_text())
    prelude = "\n".join(c.source for c in cells if c.kind == "judgelib")
    out: dict[str, Judgement] = {}
    for cell in cells:
        if cell.kind == "judge":
            gid = cell.attrs.get("id")
            if not gid or gid in out:
                raise ValueError(f"{path}: a [judge] block needs a unique id=NAME (got {gid!r})")
            j = Judgement(gid, cell.source, f"{Path(path).name} [judge] id={gid}", prelude)
            j.code()  # a syntax error surfaces now, not while grading
            out[gid] = j
    return out


def load_judgements(source_path: str | Path) -> dict[str, Judgement]:
    """Every ``[judge]`` block of one lesson source (``authoring/<assignment>.py``), by grade id."""
    p = Path(source_path)
    if not p.is_file():
        raise FileNotFoundError(f"no lesson source {p}: judgements live in authoring/<assignment>.py")
    return dict(_load(str(p.resolve()), p.stat().st_mtime))
