"""Support staff's view of wallets and prices. Money moves only through the admin actions, which call
wallets.services (and so write ledger entries with the note and the staff user); the ledger and the
reservations are read-only. Routes, exchange rates and client prices are edited here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.exceptions import HeraldError, describe_validation_error
from accounts.models import User

from .models import ExchangeRate, LedgerEntry, PriceOverride, Reservation, Route, Wallet
from .services import wallet_adjust, wallet_set_billing, wallet_topup
from .validators import clean_route_fields, parse_rate, validate_currency


class TopUpForm(forms.Form):
    amount = forms.CharField(help_text="In the wallet's currency, more than 0, e.g. 250.00")
    note = forms.CharField(required=False, max_length=500, help_text="E.g. the payment's reference.")


class AdjustForm(forms.Form):
    amount = forms.CharField(help_text="Signed: 10.00 adds, -10.00 takes away.")
    note = forms.CharField(max_length=500, help_text="Why: required, kept in the ledger.")


class BillingForm(forms.Form):
    billing = forms.ChoiceField(choices=Wallet.Billing.choices)
    credit_limit = forms.CharField(initial="0", help_text="How far below zero a postpaid wallet may go.")


def _staff(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin[Wallet]):
    list_display = ["client", "currency", "balance", "reserved", "available", "billing", "credit_limit", "updated_at"]
    list_filter = ["billing", "currency"]
    search_fields = ["client__name", "client__id"]
    readonly_fields = [
        "client",
        "currency",
        "balance",
        "reserved",
        "available",
        "billing",
        "credit_limit",
        "updated_at",
    ]
    fields = tuple(readonly_fields)
    actions = ["top_up", "adjust", "change_billing"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # createclient creates a wallet with its tenant

    def has_delete_permission(self, request: HttpRequest, obj: Wallet | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Wallet, form: Any, change: bool) -> None:
        """Every field is read-only: money only moves through the actions."""

    def _money_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Wallet],
        *,
        action: str,
        title: str,
        form_class: type[forms.Form],
        apply: Callable[[Wallet, dict[str, Any]], str],
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one wallet.", messages.ERROR)
            return None
        wallet = queryset.get()
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                done = apply(wallet, form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, describe_validation_error(exc))
            except HeraldError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "wallet": wallet,
            "form": form,
            "action": action,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/wallets/wallet/money_action.html", context)

    @admin.action(description="Top up the selected wallet")
    def top_up(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> HttpResponse | None:
        def apply(wallet: Wallet, data: dict[str, Any]) -> str:
            entry = wallet_topup(wallet=wallet, amount=data["amount"], note=data["note"], created_by=_staff(request))
            return f"Topped up {entry.amount:f} {wallet.currency}; the balance is now {entry.balance_after:f}."

        return self._money_action(request, queryset, action="top_up", title="Top up", form_class=TopUpForm, apply=apply)

    @admin.action(description="Adjust the selected wallet's balance")
    def adjust(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> HttpResponse | None:
        def apply(wallet: Wallet, data: dict[str, Any]) -> str:
            entry = wallet_adjust(wallet=wallet, amount=data["amount"], note=data["note"], created_by=_staff(request))
            return f"Adjusted by {entry.amount:f} {wallet.currency}; the balance is now {entry.balance_after:f}."

        return self._money_action(
            request, queryset, action="adjust", title="Adjust", form_class=AdjustForm, apply=apply
        )

    @admin.action(description="Change the selected wallet's billing and credit limit")
    def change_billing(self, request: HttpRequest, queryset: QuerySet[Wallet]) -> HttpResponse | None:
        def apply(wallet: Wallet, data: dict[str, Any]) -> str:
            wallet_set_billing(wallet=wallet, billing=data["billing"], credit_limit=data["credit_limit"])
            return f"The wallet is now {wallet.billing} with a credit limit of {wallet.credit_limit:f}."

        return self._money_action(
            request, queryset, action="change_billing", title="Change billing", form_class=BillingForm, apply=apply
        )


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "wallet",
        "kind",
        "amount",
        "balance_after",
        "reserved_after",
        "broadcast_id",
        "note",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["wallet__client__name", "broadcast_id", "note"]
    list_select_related = ["wallet__client", "created_by"]
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_filter = [("created_at", admin.DateFieldListFilter), ("updated_at", admin.DateFieldListFilter)]
    list_display = [
        "broadcast_id",
        "wallet",
        "reserved",
        "captured",
        "released",
        "refunded",
        "outstanding",
        "updated_at",
    ]
    search_fields = ["broadcast_id", "wallet__client__name"]
    list_select_related = ["wallet__client"]


class RouteForm(forms.ModelForm[Route]):
    class Meta:
        model = Route
        fields = [
            "channel",
            "country_code",
            "prefix",
            "route_code",
            "connector",
            "currency",
            "price_per_segment",
            "tier",
            "active",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        names = [
            "channel",
            "country_code",
            "prefix",
            "route_code",
            "connector",
            "currency",
            "price_per_segment",
            "tier",
        ]
        if all(name in data for name in names):
            try:
                data.update(
                    clean_route_fields(**{name: data[name] if data[name] is not None else "" for name in names})
                )
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
        return data


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin[Route]):
    form = RouteForm
    list_display = [
        "route_code",
        "channel",
        "country_code",
        "prefix",
        "tier",
        "currency",
        "price_per_segment",
        "connector",
        "active",
        "updated_at",
    ]
    list_filter = ["channel", "tier", "active", "country_code", "currency"]
    search_fields = ["route_code", "connector", "prefix", "country_code"]
    list_editable = ["price_per_segment", "active"]


class ExchangeRateForm(forms.ModelForm[ExchangeRate]):
    class Meta:
        model = ExchangeRate
        fields = ["from_currency", "to_currency", "rate"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("from_currency", "to_currency"):
            if data.get(name):
                try:
                    data[name] = validate_currency(data[name])
                except ValidationError as exc:
                    self.add_error(name, exc.messages)
        if data.get("rate") is not None:
            try:
                data["rate"] = parse_rate(data["rate"])
            except ValidationError as exc:
                self.add_error("rate", exc.message_dict["rate"])
        if data.get("from_currency") and data.get("from_currency") == data.get("to_currency"):
            self.add_error("to_currency", "The two currencies must differ.")
        return data


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin[ExchangeRate]):
    form = ExchangeRateForm
    list_display = ["from_currency", "to_currency", "rate", "updated_at"]
    list_filter = ["to_currency"]
    search_fields = ["from_currency", "to_currency"]


class PriceOverrideForm(forms.ModelForm[PriceOverride]):
    class Meta:
        model = PriceOverride
        fields = ["client", "route", "price_per_segment", "currency", "note"]

    def clean_currency(self) -> str:
        value = (self.cleaned_data.get("currency") or "").strip()
        return validate_currency(value) if value else ""


@admin.register(PriceOverride)
class PriceOverrideAdmin(admin.ModelAdmin[PriceOverride]):
    form = PriceOverrideForm
    list_display = ["client", "route", "price_per_segment", "currency", "note", "updated_at"]
    list_filter = ["route__channel", "route__tier", "route__country_code"]
    search_fields = ["client__name", "route__route_code", "route__country_code"]
    autocomplete_fields = ["client", "route"]
    list_select_related = ["client", "route"]
