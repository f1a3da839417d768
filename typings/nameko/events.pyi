from typing import Any

from nameko.messaging import Consumer

SERVICE_POOL: str
SINGLETON: str
BROADCAST: str

class EventHandler(Consumer):
    source_service: str
    event_type: str
    def __init__(self, source_service: str, event_type: str, handler_type: str = ...,
                 reliable_delivery: bool = ..., **kwargs: Any) -> None: ...
