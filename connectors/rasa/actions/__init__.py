"""Shouwen's rasa-sdk actions, registered with rasa-sdk's own executor.

Importing this package imports rasa-sdk (about half a second), so the server does it at
the first request to /rasa, and `shouwen rasa-actions` at its start, never at import.
"""

from __future__ import annotations

from rasa_sdk.executor import ActionExecutor

from connectors.edges import EdgeParts
from connectors.rasa.actions.booking import (
    ActionAskWindow,
    ActionShouwenBook,
    ValidateShouwenBookingForm,
)
from connectors.rasa.actions.cases import ActionShouwenComplaint, ActionShouwenFault
from connectors.rasa.actions.changes import (
    ActionShouwenCancelAppointment,
    ActionShouwenReschedule,
)
from connectors.rasa.actions.handoff import ActionShouwenHandoff
from connectors.rasa.actions.progress import ActionShouwenProgress, ActionShouwenRate

ACTIONS = (
    ActionShouwenComplaint,
    ActionShouwenFault,
    ValidateShouwenBookingForm,
    ActionAskWindow,
    ActionShouwenBook,
    ActionShouwenReschedule,
    ActionShouwenCancelAppointment,
    ActionShouwenProgress,
    ActionShouwenRate,
    ActionShouwenHandoff,
)


def build_executor(parts: EdgeParts) -> ActionExecutor:
    """An executor whose actions work with `parts`: one per mounted server, nothing global,
    so two servers in one process (tests) never share one."""
    executor = ActionExecutor()
    for action in ACTIONS:
        executor.register_action(action(parts))
    return executor
