# Only what this platform uses of nameko 3.0.0rc11, typed for mypy; the rest stays unchecked.
from typing import Any

class _Config(dict[str, Any]):
    def setup(self, config: dict[str, Any]) -> None: ...

config: _Config
