"""Notify service entrypoints. Channels, templates and delivery arrive with their issue;
for now the service runs on the platform (database, outbox, metrics, ping)."""
from service_runtime.base import ServiceBase


class NotifyService(ServiceBase):
    name = "notify"
