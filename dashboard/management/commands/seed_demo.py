"""seed_demo: an idempotent demo tenant. Prints the login and an API key that works.

It creates simulator connectors for every channel, the demo price list (routes and exchange rates),
a USD wallet with credit, a registered sender ID, contacts in two lists and templates.

Running it again changes nothing but the demo key's secret: secrets are stored hashed, so the only
way to print a key that works is to rotate the demo key (same key row, new secret).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.channels import Channel
from accounts.models import ApiKey, Client, Membership, Scope, User
from accounts.services import api_key_create, api_key_rotate, client_create, membership_set
from broadcasts.models import Connector, Sender
from broadcasts.senders import connector_create, sender_create
from contacts.demo import seed_demo_contacts
from templates_app.demo import seed_demo_templates
from wallets.demo import seed_demo_routes
from wallets.models import Wallet
from wallets.services import wallet_create, wallet_topup

DEMO_CLIENT = "Demo Client"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "herald-demo"  # noqa: S105 - a documented demo login, printed on purpose
DEMO_KEY_NAME = "Demo key"
DEMO_SENDER = "Herald"
# The demo's routes name the connector "simulator" for every channel (wallets/demo.py).
SIMULATOR = "simulator"
SIMULATOR_CONFIG = {"failure_rate": 0.02, "delay": 2, "seed": 2026, "read_rate": 0.3}


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant; prints the login and an API key."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            client = Client.objects.filter(name=DEMO_CLIENT).first()
            if client is None:
                client = client_create(name=DEMO_CLIENT, country="UG", timezone_name="Africa/Kampala")
            if not Wallet.objects.filter(client=client).exists():
                wallet = wallet_create(client=client, currency="USD")
                wallet_topup(wallet=wallet, amount="100.00", note="Demo credit")
            user = User.objects.filter(username=DEMO_USERNAME).first()
            if user is None:
                user = User.objects.create_superuser(DEMO_USERNAME, "demo@herald.local", DEMO_PASSWORD)
            membership_set(client=client, user=user, role=Membership.Role.OWNER)
            if not Connector.objects.filter(name=SIMULATOR).exists():
                connector_create(
                    name=SIMULATOR, channel=Channel.SMS, backend="simulator", config=SIMULATOR_CONFIG, tps=2000
                )
            seed_demo_routes()
            if not Sender.objects.filter(client=client, sender=DEMO_SENDER).exists():
                sender_create(client=client, sender=DEMO_SENDER)
            seed_demo_contacts(client=client)
            seed_demo_templates(client=client)
            api_key = ApiKey.objects.filter(client=client, name=DEMO_KEY_NAME).first()
            if api_key is None:
                api_key, raw = api_key_create(client=client, name=DEMO_KEY_NAME, scopes=Scope.values)
            else:
                raw = api_key_rotate(api_key=api_key)
        self.stdout.write(f"Login:      {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write(f"Client id:  {client.id}")
        self.stdout.write(f"API key:    {raw}")
