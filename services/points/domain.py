"""Points' pure rules. The earning, lot and tier rules arrive with the points issue."""
from __future__ import annotations

DEFAULT_TIER = "normal"
OPENING_BALANCE = 0
