"""An A/B test's part of the plan's context: each variant's content loaded (templates checked
against the database, like the broadcast's own), as a VariantSplit for the planner."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from accounts.models import Client
from templates_app.rendering import CompiledTemplate, compile_template
from templates_app.selectors import templates_for_use

from ..ab_fields import AB_SPLIT, AB_TESTING
from ..ab_planning import VariantSplit
from ..models import Broadcast, Message
from ..planning import PlanContext, versions_from_text
from ..states import WAIT_AB_TEST
from ..validation import BroadcastRequest


def ab_split(
    *,
    client: Client,
    request: BroadcastRequest,
    first: dict[str, CompiledTemplate],
    errors: dict[str, list[ValidationError]],
) -> VariantSplit | None:
    """The split of `request`'s variants (None without variants). `first`: the first variant's
    content, loaded as the broadcast's own; a problem goes into `errors` under `variants.N.…`."""
    if request.ab is None:
        return None
    if "template" in errors:  # the first variant's template, checked as the broadcast's
        errors["variants.0.template"] = errors.pop("template")
    versions: list[dict[str, CompiledTemplate]] = [first]
    for index, variant in enumerate(request.ab.variants[1:], start=1):
        if variant.template is None:
            versions.append(versions_from_text({"": variant.text or ""}))
            continue
        try:
            usable = templates_for_use(client=client, name=variant.template, channel=request.channel)
        except ValidationError as exc:
            errors[f"variants.{index}.template"] = exc.error_dict.get("template", [exc])
            versions.append({})
        else:
            versions.append({language: compile_template(t.content) for language, t in usable.items()})
    return VariantSplit(spec=request.ab, versions=versions)


def ab_seed(context: PlanContext, seed: object) -> None:
    """Seed the split of `context` (the broadcast's id): the same audience splits the same way."""
    if context.split is not None:
        context.split.seed = str(seed)


def ab_fill(broadcast: Broadcast, request: BroadcastRequest) -> None:
    """The variants and the test as asked (what a draft, an edit or the preparation plans again)."""
    spec = request.ab
    broadcast.variants = [variant.as_json() for variant in spec.variants] if spec is not None else []
    broadcast.ab_test = spec.ab_test_json() if spec is not None else None
    if spec is None:  # none, or no longer (an edit gave a text instead): nothing to decide
        broadcast.ab_status, broadcast.ab_decide_at, broadcast.ab_winner = "", None, None


def ab_prepare(context: PlanContext, broadcast: Broadcast, *, keep: bool = True) -> None:
    """Before planning: seed the split with the broadcast's id, and set when the test is decided
    (its start plus decide_after; `keep`: one set already stays, for each chunk of a preparation),
    which is when the rest's messages wait for."""
    split = context.split
    if split is None:
        return
    split.seed = str(broadcast.pk)
    spec = split.spec
    if spec.split_only or spec.decide_after is None:
        broadcast.ab_status = AB_SPLIT
        return
    if broadcast.ab_decide_at is None or not keep:
        broadcast.ab_status = AB_TESTING
        broadcast.ab_decide_at = context.start_at + spec.decide_after
    split.rest_not_before = broadcast.ab_decide_at


def ab_accept(broadcast: Broadcast, context: PlanContext) -> None:
    """After the rows are written: samples held by quiet hours push the decision back, so each
    sample has had decide_after to show its results."""
    split = context.split
    if split is None or split.spec.decide_after is None or split.latest_sample_at is None:
        return
    decide_at = split.latest_sample_at + split.spec.decide_after
    if broadcast.ab_decide_at is not None and decide_at > broadcast.ab_decide_at:
        broadcast.ab_decide_at = split.rest_not_before = decide_at
        rest = Message.objects.filter(broadcast_id=broadcast.pk, status=Message.Status.PENDING)
        rest.filter(wait_reason=WAIT_AB_TEST).update(not_before=decide_at)
