"""The loan desk's header: who it acts for, the profile picker, Refresh, Pause, the interval.

::

    SANDBOX  Loan desk · profile main · key MA***01 · host   [Profile ▾] [Refresh] [Pause] [10 s ▾]

The badge names the network (in its colour), the credentials profile and its
masked key (or the given client's masked key) and the host; on mainnet it
warns of real funds. The picker (hidden with no profile configured) is the
BorrowWidget's :class:`~loan_widgets.widget.profile_picker.ProfilePicker`.
What the buttons do is the desk's (:mod:`loan_widgets.desk.widget`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..client import LoanClient
from ..credentials import mask
from ..widget.profile_picker import ProfilePicker, host_of
from ..widget.render import acting_for

__all__ = ["INTERVALS", "NETWORK_COLOURS", "DeskHeader", "badge_html"]

INTERVALS = (1, 2, 5, 10, 30, 60, 300)
NETWORK_COLOURS = {"sandbox": "#2e7d32", "testnet": "#ef6c00", "mainnet": "#c62828"}


def badge_html(client: LoanClient, profile: Any = None) -> str:
    """The badge: network, profile (or account) with the masked key, host, a mainnet warning."""
    network = client.network
    colour = NETWORK_COLOURS.get(network, "#455a64")
    who = acting_for(mask(profile.api_key) if profile else client.account,
                     profile.name if profile else None)
    host = host_of(client)
    return (
        f"<span style='background:{colour};color:#fff;border-radius:4px;padding:2px 8px;"
        f"font-weight:700;font-size:12px'>{network.upper()}</span>&nbsp; <b>Loan desk</b>"
        f" · {who}" + (f" · <span style='color:#57606a'>{html.escape(host)}</span>" if host else "")
        + (" · <b style='color:#c62828'>real funds</b>" if network == "mainnet" else "")
    )


class DeskHeader(widgets.HBox):
    """The header row; ``badge``, ``profile_picker``, ``refresh_button``, ``pause_button``,
    ``interval_picker``."""

    def __init__(self, client: LoanClient, interval: float,
                 on_client: Callable[[LoanClient, Any], None],
                 on_error: Callable[[str], None]) -> None:
        self.profile_picker = ProfilePicker(client, on_client, on_error)
        self.badge = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             layout=widgets.Layout(width="96px"))
        self.pause_button = widgets.ToggleButton(description="Pause", icon="pause",
                                                 layout=widgets.Layout(width="96px"))
        self.interval_picker = widgets.Dropdown(
            options=[(f"every {s} s" if s < 60 else f"every {s // 60} min", s)
                     for s in INTERVALS],
            layout=widgets.Layout(width="130px"),
        )
        self.set_interval(interval)
        for w, name in ((self.badge, "lw-desk-badge"), (self.refresh_button, "lw-desk-refresh"),
                        (self.pause_button, "lw-desk-pause")):
            w.add_class(name)
        super().__init__([self.badge, self.profile_picker, self.refresh_button,
                          self.pause_button, self.interval_picker],
                         layout=widgets.Layout(align_items="center", width="100%"))
        self.show(client)

    def show(self, client: LoanClient) -> None:
        """The badge for ``client`` and the profile picked."""
        self.badge.value = badge_html(client, self.profile_picker.profile)

    def show_paused(self, paused: bool) -> None:
        """Pause reads Resume while paused."""
        self.pause_button.description = "Resume" if paused else "Pause"
        self.pause_button.icon = "play" if paused else "pause"

    def set_interval(self, seconds: float) -> None:
        """Show ``seconds`` in the interval picker (added to it when not one of its choices)."""
        values = [v for _, v in self.interval_picker.options]
        if seconds not in values:
            self.interval_picker.options = [*self.interval_picker.options,
                                            (f"every {seconds:g} s", seconds)]
        self.interval_picker.value = seconds
