"""Who may do what through the HTTP API: the roles an API key carries.

* ``viewer``: reads (state, history, alerts, the registry).
* ``operator``: the operations room: reads, acknowledges and resolves alerts.
* ``technician``: field work: registers, claims and imports devices, moves and edits them,
  takes them in and out of maintenance, notes, acknowledges alerts; sets a gauge's flood
  thresholds only when registering it; issues new broker credentials only for a device
  that is not in service (planned, installed or in maintenance: on site, being set up).
* ``supervisor``: everything a technician and an operator do, plus what can silence or end a
  device: changing flood thresholds, decommissioning (final), new credentials for a device
  in service (which knocks it off the broker until reconfigured).
* ``admin``: everything, plus API keys.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    VIEWER = "viewer"
