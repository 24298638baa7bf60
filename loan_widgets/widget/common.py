"""Small helpers the BorrowWidget's modules share: callbacks that report, the chosen API.

* :func:`reported` runs a widget callback so that any exception lands in the
  widget's ``status`` and log (ipywidgets would swallow it);
* :func:`one_line` is an error as one line of text;
* :func:`resolve_api` is the loan API a widget starts on: the argument, else
  the client's choice, else ``%config BorrowMagics.api``, else ``legacy``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ..errors import ValidationError
from ..quote import APIS

__all__ = ["one_line", "reported", "resolve_api"]

class _Reports(Protocol):
    def _crashed(self, where: str, error: BaseException) -> None: ...


_W = TypeVar("_W", bound=_Reports)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def reported(
    method: Callable[Concatenate[_W, _P], _R],
) -> Callable[Concatenate[_W, _P], _R | None]:
    """Run a callback; any exception lands in ``status`` and ``output``, never nowhere."""

    @functools.wraps(method)
    def wrapper(self: _W, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # ipywidgets would swallow it
            self._crashed(method.__name__, error)
            return None

    return wrapper


def one_line(error: BaseException) -> str:
    """An error as one line of text (its type name when it has no message)."""
    return " ".join(str(error).split()) or type(error).__name__


def _magic_api() -> str | None:
    """The API ``%config BorrowMagics.api`` chose in the running IPython, if any."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return None
    shell = get_ipython()
    for configurable in getattr(shell, "configurables", ()):
        if type(configurable).__name__ == "BorrowMagics":
            api = getattr(configurable, "api", None)
            return api if isinstance(api, str) else None
    return None


def resolve_api(api: str | None, client: Any) -> str:
    """``api``, else the client's choice, else ``%config BorrowMagics.api``, else ``legacy``."""
    if api is None:
        chosen = getattr(client, "api", None)
        api = chosen if isinstance(chosen, str) else (_magic_api() or "legacy")
    value = str(api).strip().lower()
    if value not in APIS:
        raise ValidationError(f"api {api!r} is not known: use legacy or new")
    return value
