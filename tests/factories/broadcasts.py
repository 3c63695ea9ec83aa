from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from broadcasts.models import Connector, Sender
from tests.factories.accounts import ClientFactory


class ConnectorFactory(DjangoModelFactory[Connector]):
    class Meta:
        model = Connector
        django_get_or_create = ("name",)

    name = "simulator"
    channel = "sms"
    backend = "simulator"
    config = factory.LazyFunction(lambda: {"failure_rate": 0.0, "delay": 0, "seed": 1, "read_rate": 0.0})
    tps = 10_000


class SenderFactory(DjangoModelFactory[Sender]):
    class Meta:
        model = Sender

    client = factory.SubFactory(ClientFactory)
    channel = "sms"
    sender = "Herald"
