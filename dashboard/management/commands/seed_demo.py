"""seed_demo: an idempotent demo tenant. Prints the login and an API key that works.

Running it again changes nothing but the demo key's secret: secrets are stored hashed, so the only
way to print a key that works is to rotate the demo key (same key row, new secret).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import ApiKey, Client, Membership, Scope, User
from accounts.services import api_key_create, api_key_rotate, client_create, membership_set
from wallets.models import Wallet
from wallets.services import wallet_create, wallet_topup

DEMO_CLIENT = "Demo Client"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "herald-demo"  # noqa: S105 - a documented demo login, printed on purpose
DEMO_KEY_NAME = "Demo key"


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
            api_key = ApiKey.objects.filter(client=client, name=DEMO_KEY_NAME).first()
            if api_key is None:
                api_key, raw = api_key_create(client=client, name=DEMO_KEY_NAME, scopes=Scope.values)
            else:
                raw = api_key_rotate(api_key=api_key)
        self.stdout.write(f"Login:      {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write(f"Client id:  {client.id}")
        self.stdout.write(f"API key:    {raw}")
