from typing import Any

class ContainerBeingKilled(Exception): ...

class RemoteError(Exception):
    exc_type: str | None
    value: str
    def __init__(self, exc_type: str | None = None, value: str = "") -> None: ...

class UnknownService(Exception):
    def __init__(self, service_name: Any) -> None: ...
