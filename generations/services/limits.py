"""Caps on work: how much one plan may ask for, how much one user may have running, and who may
spend the operator's money on hosted models.

``create_generation`` calls these ``check_*`` functions before it writes anything. The active
count is taken in the same transaction as the insert, behind a lock on the owner's row, so two
server processes (or two threads) creating at the same moment cannot both slip under the cap: on
PostgreSQL the ``SELECT ... FOR UPDATE`` of the user row serialises them; on SQLite the IMMEDIATE
transactions of settings.py take the database's write lock at BEGIN, which does the same.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError

from coherence_project.conf import config
from generations.selectors import active_generation_count
from pipeline.providers.registry import LOCAL_PROVIDER

HOSTED_MODELS_PERMISSION = "generations.use_hosted_models"


class ActiveLimitReached(ValidationError):
    """The owner already has the most unfinished generations allowed. A ValidationError (keyed
    "owner") so commands and the admin report it like any refusal; the API answers 429."""

    def __init__(self, message: str) -> None:
        super().__init__({"owner": message})
        self.detail = message


class _Operator:
    """Who runs a management command: the operator, who holds the provider keys anyway."""

    def __repr__(self) -> str:
        return "OPERATOR"


OPERATOR: Any = _Operator()


def check_plan_limits(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The total length of a validated plan against COHERENCE_MAX_PLAN_SECONDS."""
    total = sum(scene["duration"] for scene in plan)
    if total > config.MAX_PLAN_SECONDS:
        raise ValidationError(
            {
                "scenes": f"A plan has at most {config.MAX_PLAN_SECONDS:g} seconds of video "
                f"(COHERENCE_MAX_PLAN_SECONDS); this one has {total:g}."
            }
        )
    return plan


def may_use_provider(actor: Any, provider: str) -> bool:
    """The local model is free to all; hosted ones need ``use_hosted_models`` (or the OPERATOR).
    No actor and no owner (a command creating an unowned generation) is the operator too."""
    if provider == LOCAL_PROVIDER or actor is None or actor is OPERATOR:
        return True
    return bool(getattr(actor, "is_active", False) and actor.has_perm(HOSTED_MODELS_PERMISSION))


def check_provider_allowed(*, actor: Any, provider: str) -> None:
    if not may_use_provider(actor, provider):
        raise PermissionDenied(
            f"Your account may not use the hosted provider {provider!r} (it costs money); "
            "use the local model, or ask an administrator for the 'use_hosted_models' permission."
        )


def check_active_limit(*, owner: Any) -> None:
    """Refuse a new generation while ``owner`` has COHERENCE_MAX_ACTIVE_PER_USER unfinished ones.

    Call inside the transaction that inserts the generation (see the module docstring).
    """
    if owner is None or getattr(owner, "pk", None) is None:
        return
    list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
    limit = config.MAX_ACTIVE_PER_USER
    active = active_generation_count(owner=owner)
    if active >= limit:
        raise ActiveLimitReached(
            f"You have {active} unfinished generations; at most {limit} may be queued or "
            "running at once (COHERENCE_MAX_ACTIVE_PER_USER). Wait for one to finish, or cancel "
            "one."
        )
