from typing import Any

from kombu.entity import Queue
from nameko.amqp.consume import Consumer as _AmqpConsumer
from nameko.extensions import Entrypoint

class Consumer(Entrypoint):
    queue: Queue
    consumer: _AmqpConsumer
    def handle_message(self, body: Any, message: Any) -> None: ...
    def handle_message_processed(self, message: Any, result: Any = None, exc_info: Any = None) -> None: ...

def decode_from_headers(headers: dict[str, Any]) -> dict[str, Any]: ...
