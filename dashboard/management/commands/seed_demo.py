"""seed_demo: an idempotent demo tenant. Prints the login and an API key that works.

It creates simulator connectors for every channel, the demo price list (routes and exchange rates),
a USD wallet with credit, a registered sender ID, contacts in two lists and templates.

Running it again changes nothing. Secrets are stored hashed, so to print a key that works it
either reads the key back from `--key-file` (what `make run` passes: var/demo-api-key, readable by
its owner only) when that file still holds the demo key's current secret, or rotates the demo key
(same key row, new secret), writes the new key there, and says that the key changed. Without
`--key-file` every run rotates it.

The demo tenant's SEND_RATE_LIMIT is DEMO_SEND_RATE_LIMIT, set when it is created (or when an older
seed left it unset): room to explore the README's examples, where the default is a production one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.channels import Channel
from accounts.models import ApiKey, Client, Membership, Scope, User
from accounts.selectors import api_key_is_usable, api_key_lookup
from accounts.services import (
    api_key_create,
    api_key_rotate,
    client_create,
    client_set_rate_limits,
    membership_set,
)
from broadcasts.models import Connector, Sender
from broadcasts.services import connector_create, sender_create
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
DEMO_SEND_RATE_LIMIT = "120/15m"
# The demo's routes name the connector "simulator" for every channel (wallets/demo.py).
SIMULATOR = "simulator"
SIMULATOR_CONFIG = {"failure_rate": 0.02, "delay": 2, "seed": 2026, "read_rate": 0.3}


def _kept_key(path: Path | None, api_key: ApiKey) -> str | None:
    """The key stored at `path`, if it still is the demo key's current, usable secret."""
    if path is None:
        return None
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    found = api_key_lookup(raw=raw)
    return raw if found is not None and found.pk == api_key.pk and api_key_is_usable(found) else None


def _keep(path: Path, raw: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(raw + "\n")
    path.chmod(0o600)  # also when the file was already there with wider permissions


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant; prints the login and an API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key-file",
            type=Path,
            help="Keep the demo API key in this file and print the same key on every run (make run: var/demo-api-key).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key_file: Path | None = options.get("key_file")
        changed = False
        with transaction.atomic():
            client = Client.objects.filter(name=DEMO_CLIENT).first()
            if client is None:
                client = client_create(
                    name=DEMO_CLIENT,
                    country="UG",
                    timezone_name="Africa/Kampala",
                    send_rate_limit=DEMO_SEND_RATE_LIMIT,
                )
            elif not client.send_rate_limit:  # seeded before the demo had its own limit; a chosen one stays
                client_set_rate_limits(client=client, send_rate_limit=DEMO_SEND_RATE_LIMIT)
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
                kept = _kept_key(key_file, api_key)
                if kept is None:
                    raw, changed = api_key_rotate(api_key=api_key), True
                else:
                    raw = kept
        if key_file is not None:
            _keep(key_file, raw)
        self.stdout.write(f"Login:      {DEMO_USERNAME} / {DEMO_PASSWORD}")
        self.stdout.write(f"Client id:  {client.id}")
        self.stdout.write(f"API key:    {raw}")
        if changed:
            self.stdout.write(
                "            (a new demo key: the previous one no longer works"
                + (f"; kept in {key_file} from now on)" if key_file is not None else ")")
            )
