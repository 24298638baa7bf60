"""The secret scan: planted credentials, and the artefacts that must never hold them.

A :class:`Scan` collects artefacts by kind (output, reprs, exception texts, log records,
files, widget state) and looks for needles in all of them: the planted HMAC secret, the
full API keys, slices of a generated RSA key's PEM body and its private exponent (see
:func:`needles_for`), plus whatever a test adds (a proxy password, its Base64 form).
Exceptions are scanned with their whole chain: ``__cause__``, ``__context__`` (shown or
suppressed by ``raise ... from None``) and ``__notes__``, since a debugger, a logging
handler or an error reporter may walk it.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PLANTED_KEY, PLANTED_SECRET
from . import pem as private_pem

__all__ = ["RSA_KEY", "PlantedRsa", "Scan", "chain", "every_repr", "ledger_bytes",
           "make_planted_rsa", "needles_for", "widget_state", "widget_tree"]

RSA_KEY = "PLANTEDRSAKEY0099"
"""The API key that goes with the generated RSA key."""


@dataclass(frozen=True)
class PlantedRsa:
    """A generated RSA key: its PEM texts and the substrings a leak would show."""

    private_pem: bytes
    public_pem: bytes
    private_exponent: int
    needles: dict[str, str]


def make_planted_rsa() -> PlantedRsa:
    """A fresh RSA key, with needles cut from its PEM body and its numbers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_pem(key)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    lines = pem.decode().strip().splitlines()[1:-1]  # the base64 body, 64 characters a line
    body = "".join(lines)
    needles = {f"PEM line {i} [10:50]": lines[i][10:50] for i in (1, len(lines) // 2, -2)}
    needles |= {f"PEM body [{i}:{i + 40}]": body[i : i + 40] for i in (100, 700, 1400)}
    d = key.private_numbers().d
    needles["private exponent (decimal)"] = str(d)[:40]
    needles["private exponent (hex)"] = f"{d:x}"[:40]
    return PlantedRsa(pem, public, d, needles)


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception behind it: causes and contexts, suppressed or not."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        todo += [current.__cause__, current.__context__]
        todo += [e for e in getattr(current, "exceptions", ()) if isinstance(e, BaseException)]
    return found


@dataclass
class Scan:
    """Artefacts by kind, and the needles none of them may contain."""

    needles: dict[str, str]
    artefacts: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, kind: str, data: Any) -> None:
        """Keep ``data`` (text, bytes or anything with a repr) as an artefact of ``kind``."""
        if isinstance(data, bytes):
            raw = data
        elif isinstance(data, str):
            raw = data.encode("utf-8", "surrogateescape")
        else:
            raw = json.dumps(data, default=repr).encode()
        self.artefacts.setdefault(kind, []).append(raw)

    def add_error(self, kind: str, error: BaseException) -> None:
        """An exception as a user, a log or a debugger would see it: str, repr, attributes,
        notes, arguments and traceback, for it and every exception in its chain."""
        self.add(kind, "".join(traceback.format_exception(error)))
        for link in chain(error):
            self.add(kind, str(link))
            self.add(kind, repr(link))
            self.add(kind, {k: repr(v) for k, v in getattr(link, "__dict__", {}).items()})
            self.add(kind, [repr(a) for a in link.args])
            self.add(kind, [str(n) for n in getattr(link, "__notes__", ())])
            if isinstance(link, OSError):
                self.add(kind, [repr(link.filename), repr(link.filename2)])

    def text(self, kind: str | None = None) -> str:
        """Every artefact (of ``kind``) as one text, for the checks that the scan saw output."""
        kinds = [kind] if kind else list(self.artefacts)
        return "\n".join(b.decode("utf-8", "replace") for k in kinds for b in self.artefacts[k])

    def leaks(self) -> list[str]:
        """``needle in kind`` for every needle found in any artefact."""
        found = []
        for kind, items in self.artefacts.items():
            for name, needle in self.needles.items():
                if any(needle.encode() in item for item in items):
                    found.append(f"{name} in {kind}")
        return found

    def assert_clean(self, kinds: set[str]) -> None:
        """Every expected kind was collected and is non-empty; no needle anywhere."""
        assert kinds <= set(self.artefacts), kinds - set(self.artefacts)
        for kind in kinds:
            assert sum(len(item) for item in self.artefacts[kind]) > 0, f"{kind} is empty"
        assert self.leaks() == []


def needles_for(rsa_key: PlantedRsa) -> dict[str, str]:
    """The secret, the private key's substrings and the two full API keys."""
    return {
        "HMAC secret": PLANTED_SECRET,
        "HMAC API key (unmasked)": PLANTED_KEY,
        "RSA API key (unmasked)": RSA_KEY,
        **rsa_key.needles,
    }


def ledger_bytes(path: Path) -> bytes:
    """The ledger file with its -wal and -shm companions (and journals), as bytes."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))
                    if p.is_file())


def every_repr(scan: Scan, obj: Any, kind: str = "reprs") -> None:
    """Every rich representation a notebook front end could ask ``obj`` for."""
    from IPython.lib.pretty import pretty

    scan.add(kind, repr(obj))
    scan.add(kind, str(obj))
    scan.add(kind, pretty(obj))
    for method in ("_repr_html_", "_repr_markdown_", "_repr_latex_", "_repr_json_",
                   "_repr_mimebundle_"):
        if hasattr(obj, method):
            scan.add(kind, getattr(obj, method)())


def widget_tree(root: Any) -> list[Any]:
    """``root`` and every widget its synced traits refer to (children, layouts, styles)."""
    import ipywidgets

    seen: dict[str, Any] = {}
    todo = [root]
    while todo:
        w = todo.pop()
        if w.model_id in seen:
            continue
        seen[w.model_id] = w
        for name in w.keys:
            value = getattr(w, name)
            values = value if isinstance(value, (tuple, list)) else (value,)
            todo.extend(v for v in values if isinstance(v, ipywidgets.Widget))
    return list(seen.values())


def widget_state(scan: Scan, root: Any) -> None:
    """Everything a saved notebook could hold of ``root``: each widget's synced state, every
    trait's repr, the embeddable state, and the log it wrote."""
    from ipywidgets.embed import embed_data

    for w in widget_tree(root):
        scan.add("widget state", w.get_state())
        scan.add("widget state", {name: repr(getattr(w, name)) for name in w.trait_names()})
    scan.add("widget state", embed_data(views=[root]))
    scan.add("widget state", list(root.output.outputs))
    scan.add("widget state", repr(root))
