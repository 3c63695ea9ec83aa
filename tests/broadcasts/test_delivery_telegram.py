"""Telegram end to end: /start from a new chat creates the contact, a broadcast to it goes out
through the fake Bot API and counts delivered at once, and a blocked bot opts the contact out."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client

from broadcasts.connectors import http as http_engine
from broadcasts.models import Message, Reply
from contacts.models import Contact
from tests.fakes.telegram import BOT_TOKEN, FakeTelegram, running_fake, update

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t_Token-for-hooks"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    yield from running_fake()
    http_engine.close_clients()


@pytest.fixture
def bot(make_shop, fake):
    shop = make_shop(
        channel="telegram",
        backend="telegram",
        config={"bot_token": BOT_TOKEN, "secret_token": SECRET, "base_url": fake.base_url},
    )
    shop.connector.client = shop.client  # the bot belongs to this client: /start lands there
    shop.connector.save()
    return shop


def post_update(shop, body, secret: str = SECRET):
    return Client().post(
        f"/hooks/{shop.connector.pk}/inbound/",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
    )


def test_start_creates_the_contact_and_a_broadcast_reaches_it(bot, fake, daytime, django_capture_on_commit_callbacks):
    answer = post_update(bot, update(chat_id=424242, text="/start", first_name="Ada", language_code="en"))
    assert answer.status_code == 200, answer.content
    contact = Contact.objects.get(client=bot.client, telegram_chat_id="424242")
    assert (contact.first_name, contact.language) == ("Ada", "eng")
    assert Reply.objects.get().contact_id == contact.pk

    with django_capture_on_commit_callbacks(execute=True):
        response = bot.create(channel="telegram", contacts=[str(contact.pk)], text="Hi {{first_name}}")
    assert response.status_code == 201, response.content
    message = Message.objects.get(broadcast_id=response.json()["id"])
    assert (message.status, message.text) == ("delivered", "Hi Ada")
    assert message.provider_message_id.startswith("424242:")
    assert [(r.body["chat_id"], r.body["text"]) for r in fake.requests] == [(424242, "Hi Ada")]


def test_a_forged_update_is_refused(bot):
    answer = post_update(bot, update(chat_id=1, text="/start"), secret="not-the-secret")
    assert answer.status_code == 403
    assert Contact.objects.filter(telegram_chat_id="1").count() == 0


def test_a_blocked_bot_opts_the_contact_out(bot, fake, daytime, django_capture_on_commit_callbacks):
    post_update(bot, update(chat_id=777, text="/start"))
    contact = Contact.objects.get(telegram_chat_id="777")
    fake.blocked.add("777")
    with django_capture_on_commit_callbacks(execute=True):
        response = bot.create(channel="telegram", contacts=[str(contact.pk)], text="Hello")
    assert response.status_code == 201, response.content
    message = Message.objects.get(broadcast_id=response.json()["id"])
    assert (message.status, message.error_code) == ("failed", "telegram_403")
    contact.refresh_from_db()
    assert (contact.opted_out, contact.opted_out_source) == (True, "provider")
    assert bot.refresh().reserved == 0
