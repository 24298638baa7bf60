"""``ProfilePicker``: choose which credentials profile a widget acts for, never a secret.

A Dropdown of the configured profiles (:mod:`loan_widgets.profiles`: name,
network and masked key, read from the profiles file, which holds no secret),
plus the client the widget was given, labelled with its network and masked
key. Picking a profile builds ``LoanClient(profile=NAME)`` with the given
client's ledger, ledger source and timeout, and hands it to ``on_client``; the
secret is read from the OS keyring by the client when it signs, and is never
a widget value, an option label or a trait. With no profile configured the
picker is hidden. Used by the BorrowWidget and the LoanDesk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .. import profiles
from ..client import LoanClient
from ..credentials import mask
from ..errors import LoanWidgetsError
from ..profiles import Profile
from .render import host_label

__all__ = ["ProfilePicker", "host_of"]

GIVEN = ""
"""The picker's value for the client the widget was given."""


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def host_of(client: LoanClient) -> str:
    """Where ``client`` sends orders, for a badge: ``host[:port]`` (never user info), the
    embedded sandbox's identity, or ``""`` before the embedded sandbox has started."""
    host = getattr(client, "host", None)
    if isinstance(host, str) and host:
        return host_label(host) if "://" in host else host
    base_url = client.settings.base_url
    if base_url is None and client.network == "sandbox":
        return ""
    return host_label(base_url or client.base_url)


class ProfilePicker(widgets.Dropdown):
    """Pick among the configured profiles; ``on_client(client, profile)`` gets the new client.

    ``value`` is a profile's name, or ``""`` for the client the widget was
    given (when that client names no stored profile). ``on_error(text)`` hears
    why a pick could not be used (the picker then goes back to the last one).
    """

    value: str | None  # the Dropdown's trait (None while it offers nothing)

    def __init__(
        self,
        client: LoanClient,
        on_client: Callable[[LoanClient, Profile | None], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.given = client
        self.given_profile: str | None = getattr(client, "profile", None)
        """The profile the given client was built with, if any."""
        self.stored: dict[str, Profile] = {}
        self.note = ""
        self._on_client = on_client
        self._on_error = on_error
        self._quiet = False
        super().__init__(
            description="Profile",
            tooltip="The credentials profile orders are signed with (the secret stays in "
                    "the OS keyring)",
            style={"description_width": "52px"},
            layout=widgets.Layout(width="260px", flex="0 0 auto"),
        )
        self.add_class("lw-profile")
        self.reload()
        self.observe(self._picked, names="value")

    @property
    def profile(self) -> Profile | None:
        """The stored profile of the client in use, if it uses one."""
        name = self.value or self.given_profile
        return self.stored.get(name) if name else None

    def reload(self) -> bool:
        """Read the profiles file again (names, networks, masked keys); hide when empty.

        Refresh does it. When the profile in use is gone, the widget goes back to the
        client it was given (and says so): ``True`` then.
        """
        try:
            self.stored = profiles.load()
            self.note = ""
        except LoanWidgetsError as error:  # a broken profiles file: say so, offer none
            self.stored, self.note = {}, _one_line(error)
        options = []
        if self.given_profile not in self.stored:
            options.append((f"as given: {self.given.network} · {self.given.account}", GIVEN))
        options += [
            (f"{p.name} · {p.network} · {mask(p.api_key)}", p.name)
            for p in sorted(self.stored.values(), key=lambda p: (p.network, p.name))
        ]
        current = self.value if self.value is not None else (
            self.given_profile if self.given_profile in self.stored else GIVEN)
        values = [v for _, v in options]
        self._quiet = True
        try:
            self.options = options
            self.value = current if current in values else values[0]
        finally:
            self._quiet = False
        self.layout.display = "" if self.stored else "none"
        if current not in values:  # the profile in use was removed: back to the given client
            self._on_error(f"profile {current!r} is no longer configured: acting for "
                           f"{self.value or 'the client as given'} again")
            self._picked({"old": current, "new": self.value})
            return True
        return False

    def client_for(self, name: str) -> LoanClient:
        """The client for profile ``name`` (the given one for ``""`` or its own profile)."""
        given = self.given
        if name in (GIVEN, self.given_profile):
            return given
        return LoanClient(profile=name, ledger=given.ledger, source=given.source,
                          timeout=given.settings.timeout)

    def _picked(self, change: Any) -> None:
        if self._quiet or change["new"] is None:
            return
        try:
            client = self.client_for(str(change["new"]))
        except LoanWidgetsError as error:
            self._quiet = True
            try:
                self.value = change["old"]
            finally:
                self._quiet = False
            self._on_error(f"profile {change['new']!r} cannot be used: {_one_line(error)}")
            return
        try:
            self._on_client(client, self.stored.get(str(change["new"])))
        except Exception as error:  # ipywidgets would swallow it: the widget says it
            self._on_error(f"switching to profile {change['new']!r} failed: "
                           f"{type(error).__name__}: {_one_line(error)}")
