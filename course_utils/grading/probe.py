"""Record what a learner's code does, for a judge outside the kernel (the in-kernel half of grading).

A hidden test cell contains only a *probe*: it calls the learner's code on the test
inputs and records plain observations (numbers, lists of numbers, shapes, dtype and
device names, short strings) with a :class:`Probe`. :meth:`Probe.emit` displays them as
one output of the custom MIME type :data:`MIME`; the grading process reads that output
after the notebook ran and the cell's *judgement* (``[judge]`` blocks in ``authoring/``,
:mod:`course_utils.grading.judge`) decides pass or fail there. No expected value,
tolerance or assertion ever enters the kernel, so nothing learner code can do in its
kernel (patch torch, replace this module, forge an output) can make a wrong answer pass:
a forged observation must hold the values only correct code produces.

Jupyter's display protocol carries the record (https://jupyter-client.readthedocs.io,
"Messaging", display_data; a ``+json`` MIME type's data is a JSON object).
"""

from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["MIME", "FAILED", "MAX_VALUES", "Probe"]

MIME = "application/vnd.course-utils.observations+json"
MAX_VALUES = 20_000  # numbers in one observation; the judge refuses more
_MAX_TEXT = 300


class _Failed:
    """The result of :meth:`Probe.run` when the learner's code raised (its error is recorded)."""

    def __repr__(self) -> str:
        return "FAILED"


FAILED = _Failed()


def _number(x: float) -> float | str:
    """JSON has no NaN or infinity: those travel as the strings 'nan', 'inf', '-inf'."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _flat(values: Any) -> list:
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in _flat(item)]
    return [values]


def _encode(value: Any, values: bool, depth: int = 0) -> Any:
    """A JSON-safe description of ``value``; raises TypeError/ValueError for what cannot travel."""
    import torch

    if depth > 3:
        raise ValueError("observation nested too deeply")
    if isinstance(value, torch.Tensor):
        obs: dict[str, Any] = {
            "kind": "tensor",
            "type": type(value).__qualname__,
            "shape": [int(s) for s in value.shape],
            "dtype": str(value.dtype).replace("torch.", ""),
            "device": value.device.type,
            "values": None,
        }
        if values and value.device.type != "meta":
            if value.numel() > MAX_VALUES:
                raise ValueError(f"tensor of {value.numel()} values is too large to record (at most {MAX_VALUES})")
            flat = value.detach().to("cpu").reshape(-1)  # (any shape) -> (numel,)
            if flat.is_complex():
                raise TypeError("complex tensors cannot be recorded")
            obs["values"] = [_number(float(v)) for v in flat.double().tolist()]
        return obs
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, int):
        return {"kind": "int", "value": int(value)}
    if isinstance(value, float):
        return {"kind": "float", "value": _number(value)}
    if isinstance(value, str):
        return {"kind": "str", "value": value[:_MAX_TEXT]}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, (list, tuple)):
        if len(_flat(value)) > MAX_VALUES:
            raise ValueError(f"list of more than {MAX_VALUES} values is too large to record")
        return {"kind": "list", "items": [_encode(v, values, depth + 1) for v in value]}
    raise TypeError(f"cannot record a {type(value).__module__}.{type(value).__qualname__}")


def _error(exc: BaseException) -> dict:
    return {"kind": "error", "type": type(exc).__name__, "message": str(exc)[:_MAX_TEXT]}


class Probe:
    """Observations of one hidden test cell, sent out of the kernel by :meth:`emit`.

    >>> probe = Probe("hidden_values")                       # doctest: +SKIP
    >>> probe.call("d8", sinusoidal_embedding, t, 8)         # the result, values included
    >>> out = probe.run("e500", sinusoidal_embedding, t, 256)  # type/shape/dtype only
    >>> probe.record("e500_cols", lambda: out[:, [0, 5]])     # a derived observation
    >>> probe.emit()

    Every key is recorded once; an exception raised by learner code is recorded in place
    of the value, so the judge can say what failed.
    """

    def __init__(self, cell_id: str) -> None:
        if not isinstance(cell_id, str) or not cell_id:
            raise ValueError("Probe needs the grade id of its test cell, e.g. Probe('hidden_values')")
        self.cell_id = cell_id
        self.observations: dict[str, Any] = {}

    def _put(self, key: str, obs: dict) -> None:
        if key in self.observations:
            raise ValueError(f"observation {key!r} recorded twice in cell {self.cell_id!r}")
        self.observations[key] = obs

    def record(self, key: str, value: Any, *, values: bool = True) -> None:
        """Record ``value`` (or the result of calling it, when it is a function) under ``key``.

        ``values=False`` keeps only a tensor's type, shape, dtype and device.
        """
        if key in self.observations:  # a probe's own bug: say so loudly
            raise ValueError(f"observation {key!r} recorded twice in cell {self.cell_id!r}")
        try:
            if callable(value):
                value = value()
            obs = _encode(value, values)
        except Exception as exc:  # the learner's code or its result: the judge reports it
            obs = _error(exc)
        self._put(key, obs)

    def run(self, key: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)``; record the result without values; return it (or FAILED)."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._put(key, _error(exc))
            return FAILED
        self.record(key, result, values=False)
        return result

    def call(self, key: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)``; record the result with its values; return it (or FAILED)."""
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self._put(key, _error(exc))
            return FAILED
        self.record(key, result)
        return result

    def emit(self) -> None:
        """Display the observations as one output of type :data:`MIME` (the cell's record)."""
        from IPython.display import display

        display(
            {
                MIME: {
                    "version": 1,
                    "cell": self.cell_id,
                    "obs": self.observations,
                    "environment": _environment_changes(),
                },
                "text/plain": f"[{len(self.observations)} observation(s) recorded for the grader]",
            },
            raw=True,
        )


def _environment_changes() -> list[str]:
    """What the setup cell's guard snapshot says changed (for an instructor's review only)."""
    try:
        from course_utils.grading import guard

        return [str(c)[:_MAX_TEXT] for c in guard.changes()[:20]]
    except Exception as exc:  # the guard itself was tampered with: report that instead
        return [f"guard unavailable: {type(exc).__name__}"]
