"""The one write the dashboard owns: inviting a person by email address.

A user is created with Django's own `create_user` (no password: unusable until they set one), the
membership through `accounts.services.membership_set`, and the set-password link with Django's
password-reset token machinery, so the link dies once used or when the password changes."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Client, Membership, User
from accounts.services import membership_set


@dataclass(frozen=True)
class Invitation:
    membership: Membership
    set_password_path: str | None  # None: the person already had a password (they just gained a client)


def set_password_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("dashboard:set_password", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


@transaction.atomic
def member_invite(*, client: Client, email: str, role: str) -> Invitation:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None
    if role not in Membership.Role.values:
        raise ValidationError({"role": [f"Role must be one of {', '.join(Membership.Role.values)}."]})
    user = User.objects.filter(email__iexact=email).first() or User.objects.filter(username__iexact=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(username=email, email=email)  # no password: unusable until set
    if Membership.objects.filter(client=client, user=user).exists():
        raise ValidationError({"email": ["This person is already a member; change their role instead."]})
    membership = membership_set(client=client, user=user, role=role)
    return Invitation(membership, set_password_path(user) if created or not user.has_usable_password() else None)
