"""The notify routes in the access matrix (tests/gateway/test_access_matrix.py): (test id, (method,
path, json body, who may call it)). A route that reaches its service answers 503 in that test."""
from __future__ import annotations

import uuid

Route = tuple[str, str, object, set[str]]

EDITORS = {"admin", "marketer"}
LOG_READERS = {"admin", "marketer", "auditor", "manager"}


def routes(member_id: str) -> list[tuple[str, Route]]:
    message_id = str(uuid.uuid4())
    return [
        ("templates", ("GET", "/v1/notify/templates", None, EDITORS)),
        ("template", ("GET", "/v1/notify/templates/birthday/sms/en", None, EDITORS)),
        ("save-template", ("PUT", "/v1/notify/templates/birthday/sms/en", {"body": "Hi {{name}}"}, EDITORS)),
        ("preview", ("POST", "/v1/notify/templates/preview", {"key": "birthday", "channel": "sms"}, EDITORS)),
        ("messages", ("GET", f"/v1/notify/messages?member_id={member_id}", None, LOG_READERS)),
        ("message", ("GET", f"/v1/notify/messages/{message_id}", None, LOG_READERS)),
        ("member-messages", ("GET", f"/v1/members/{member_id}/messages", None, LOG_READERS | {"member"})),
        ("other-member-messages", ("GET", f"/v1/members/{uuid.uuid4()}/messages", None, LOG_READERS)),
        ("dead-letters", ("GET", "/v1/notify/dead-letters", None, {"admin"})),
        ("replay", ("POST", f"/v1/notify/dead-letters/{message_id}/replay", None, {"admin"})),
        ("wechat-oa-link", ("POST", "/v1/members/me/wechat/official-account", {"code": "c", "consent": True},
                            {"member"})),
        ("wechat-unlink", ("DELETE", "/v1/members/me/wechat", None, {"member"})),
    ]
