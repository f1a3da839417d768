"""The console channel is a development option that says nothing about the recipient; login codes'
phones are hashed under a key."""
from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from services.notify import channels
from services.notify.channels import ConsoleChannel, NoProvider, Outgoing, PermanentError, channel_from_env
from services.notify.recipients import KeyConfigError, PhoneHasher

PHONE, NAME = "+8613812345678", "迪丽热巴・迪力木拉提"


@pytest.fixture
def no_provider_env(monkeypatch):
    for name in ("SMS", "EMAIL", "PUSH", "WEBHOOK"):
        monkeypatch.delenv(f"NOTIFY_{name}_PROVIDER", raising=False)
    monkeypatch.delenv("NOTIFY_DEV_CONSOLE", raising=False)
    monkeypatch.delenv("NOTIFY_PHONE_HASH_KEY", raising=False)
    return monkeypatch


@pytest.mark.parametrize("channel", ["sms", "email", "push", "webhook"])
def test_the_console_channel_is_refused_unless_development_is_said(no_provider_env, channel):
    with pytest.raises(ValueError, match="NOTIFY_DEV_CONSOLE=1"):
        channel_from_env(channel)
    no_provider_env.setenv(f"NOTIFY_{channel.upper()}_PROVIDER", "console")
    with pytest.raises(ValueError, match="NOTIFY_DEV_CONSOLE=1"):
        channel_from_env(channel)
    no_provider_env.setenv("NOTIFY_DEV_CONSOLE", "1")
    assert isinstance(channel_from_env(channel), ConsoleChannel)


def test_a_channel_can_be_turned_off(no_provider_env):
    no_provider_env.setenv("NOTIFY_PUSH_PROVIDER", "none")
    push = channel_from_env("push")
    assert isinstance(push, NoProvider)
    with pytest.raises(PermanentError):
        push.send(Outgoing(message_id="m1", channel="push", to="member-1", body="hello"))


def test_the_console_channel_logs_neither_recipient_nor_message(caplog):
    message = Outgoing(message_id="m-42", channel="sms", to=PHONE, body=f"{NAME}, your code is 482913",
                       subject=f"Dear {NAME}", member_id="member-7", template="login_code")
    with caplog.at_level(logging.DEBUG, logger=channels.__name__):
        assert ConsoleChannel("sms").send(message) == "console-m-42"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "m-42" in logged and "DEVELOPMENT DELIVERY CHANNEL" in logged
    for secret in (PHONE, PHONE[3:], NAME, "482913", "your code"):
        assert secret not in logged


def test_phone_hashes_are_keyed(no_provider_env):
    key_a, key_b = base64.b64encode(b"a" * 32).decode(), base64.b64encode(b"b" * 32).decode()
    no_provider_env.setenv("NOTIFY_PHONE_HASH_KEY", key_a)
    first = PhoneHasher.from_env()
    assert first.hash(PHONE) == PhoneHasher.from_env().hash(PHONE)  # stable across processes and replicas
    assert first.hash(PHONE) != first.hash("+8613812345679")
    assert first.hash(PHONE) != hashlib.sha256(PHONE.encode()).hexdigest()
    no_provider_env.setenv("NOTIFY_PHONE_HASH_KEY", key_b)
    assert PhoneHasher.from_env().hash(PHONE) != first.hash(PHONE)


def test_without_a_phone_hash_key_notify_does_not_start_outside_development(no_provider_env):
    with pytest.raises(KeyConfigError, match="NOTIFY_PHONE_HASH_KEY"):
        PhoneHasher.from_env()
    no_provider_env.setenv("NOTIFY_PHONE_HASH_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(KeyConfigError, match="32 bytes"):
        PhoneHasher.from_env()
    no_provider_env.setenv("NOTIFY_PHONE_HASH_KEY", "not base64!")
    with pytest.raises(KeyConfigError, match="base64"):
        PhoneHasher.from_env()
    no_provider_env.delenv("NOTIFY_PHONE_HASH_KEY")
    no_provider_env.setenv("NOTIFY_DEV_CONSOLE", "1")
    assert len(PhoneHasher.from_env().hash(PHONE)) == 64
