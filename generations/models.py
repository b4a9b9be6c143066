"""The domain: a Generation (one video) made of ordered Scenes, each with its exact recipe."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from pipeline.seeds import SEED_MAX  # one definition: the engine owns the seed space


def generation_upload_path(instance: Generation, filename: str) -> str:
    return f"generations/{instance.pk}/{filename}"


def scene_upload_path(instance: Scene, filename: str) -> str:
    return f"generations/{instance.generation_id}/scenes/{filename}"


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        STITCHING = "stitching"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"
        # A variations parent: its variations render; it starts when one of them is chosen.
        AWAITING_CHOICE = "awaiting_choice"

    class Quality(models.TextChoices):
        FULL = "full"
        PREVIEW = "preview"  # the model's cheapest settings: lowest resolution, shortest duration

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=64, default="queued")
    # The API calls them coherence_settings (its published name); see services/render_settings.py.
    render_settings = models.JSONField(default=dict)
    # NULL = seed control off, or not drawn yet. Drawn once under a row lock (pipeline.seeds).
    seed = models.IntegerField(null=True, blank=True, db_index=True)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=128)
    model_version = models.CharField(max_length=128, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.PositiveIntegerField()
    source_generation = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="regenerations",
    )
    # Iteration (generations/iterate/): previews, and seed variations of a parent generation.
    quality = models.CharField(max_length=8, choices=Quality.choices, default=Quality.FULL)
    # The preview this is the full-quality render of. One-to-one: the unique index is what lets a
    # preview be finalized once, even by concurrent requests (generations.iterate.finalize).
    finalized_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="finalized_as",
        editable=False,
    )
    variation_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="variations"
    )
    variation_number = models.PositiveSmallIntegerField(null=True, blank=True)  # 1-based
    variation_scope = models.CharField(max_length=16, blank=True)  # on the parent
    thumbnail = models.FileField(upload_to=generation_upload_path, blank=True, max_length=300)
    video = models.FileField(upload_to=generation_upload_path, blank=True, max_length=300)
    # The final video's digest: the file names no generation, so a replay of a file finds its
    # source here.
    video_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    coherence_score = models.FloatField(null=True, blank=True)
    coherence_report = models.JSONField(null=True, blank=True)
    # USD: estimated from the registry's prices before anything runs; actual when done.
    estimated_cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    # The start image of every chain head that has none of its own (hosted models that need one).
    reference_image = models.FileField(upload_to=generation_upload_path, blank=True, max_length=300)
    reference_image_sha256 = models.CharField(max_length=64, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The stitch's claim: who holds it and until when its heartbeat keeps it
    # (generations.lifecycle.leases).
    claimed_by = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The API consumer's completion webhook (generations.webhooks_out): where its events go, and
    # which of them (empty list: all).
    webhook = models.CharField(max_length=2000, blank=True)
    webhook_events_filter = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(seed__isnull=True) | Q(seed__gte=0, seed__lte=SEED_MAX),
                name="generation_seed_in_range",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="generation_progress_max_100"
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]
        permissions = [("use_hosted_models", "Can use hosted (paid) video models")]

    def __str__(self) -> str:
        return self.title or f"Generation {self.pk}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def seed_control(self) -> bool:
        return bool(self.render_settings.get("seed_control", True))

    @property
    def latent_reuse(self) -> bool:
        return bool(self.render_settings.get("latent_reuse", True))

    @property
    def awaits_seed(self) -> bool:
        """Seed control is on but the seed is not drawn yet (it is drawn when the generation
        starts): until then there is no seed to keep, repeat or finalize with."""
        return self.seed_control and self.seed is None


class Scene(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its predecessor, or for the start
        SUBMITTING = "submitting"  # claimed by a worker; recipe stored, provider call under way
        RUNNING = "running"  # the provider has a prediction id
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    class HandoverMethod(models.TextChoices):
        NONE = "", "none"
        # The hand-over ladder, best first (generations.lifecycle.handover chooses per scene).
        LATENT = "latent", "final latent"
        CLIP = "clip", "previous clip"
        FIRST_FRAME = "first_frame", "last frame as first-frame image"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="scenes")
    index = models.PositiveSmallIntegerField()
    prompt = models.TextField()
    duration = models.FloatField()
    continuous = models.BooleanField(default=False)
    # The scene's own start image (a chain head's first frame), as given.
    image = models.FileField(upload_to=scene_upload_path, blank=True, max_length=300)
    image_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # The seed actually sent to the model (NULL = none sent) and whether the model took it.
    seed = models.IntegerField(null=True, blank=True, db_index=True)
    seed_applied = models.BooleanField(null=True, blank=True)
    seed_note = models.TextField(blank=True)
    # A seed for this scene alone (a re-render with a new seed); NULL = the generation's seed.
    seed_override = models.IntegerField(null=True, blank=True)
    # Previews render a shorter duration; this keeps the plan's, for finalize. NULL = duration.
    planned_duration = models.FloatField(null=True, blank=True)
    # The recipe (model, version, prompt, duration, seed, size, conditioning hash), stored before
    # submission, and the exact input the provider was sent, stored when it accepted it.
    recipe = models.JSONField(null=True, blank=True)
    provider_input = models.JSONField(null=True, blank=True)
    model_version = models.CharField(max_length=128, blank=True)
    # The hand-over (generations.lifecycle.handover): the predecessor's last frame when it was
    # handed over, the sha256 of what was handed over (latent, clip or frame), how, and from which
    # scene. The API keeps its names: latent_reuse.{method, source_scene_index,
    # conditioning_sha256} and conditioning_frame_url.
    handover_frame = models.FileField(upload_to=scene_upload_path, blank=True, max_length=300)
    handover_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    handover_method = models.CharField(
        max_length=16, choices=HandoverMethod.choices, default=HandoverMethod.NONE, blank=True
    )
    handover_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prediction_id = models.CharField(max_length=128, blank=True, db_index=True)
    clip = models.FileField(upload_to=scene_upload_path, blank=True, max_length=300)
    last_frame = models.FileField(upload_to=scene_upload_path, blank=True, max_length=300)
    final_latent = models.FileField(upload_to=scene_upload_path, blank=True, max_length=300)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A submission's or completion's claim, kept alive by its worker's heartbeat (leases.py).
    claimed_by = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the poller next looks at this running prediction (NULL: not polled).
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["generation", "index"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "index"], name="scene_unique_index"),
            models.CheckConstraint(
                condition=Q(seed__isnull=True) | Q(seed__gte=0, seed__lte=SEED_MAX),
                name="scene_seed_in_range",
            ),
            models.CheckConstraint(
                condition=Q(seed_override__isnull=True)
                | Q(seed_override__gte=0, seed_override__lte=SEED_MAX),
                name="scene_seed_override_in_range",
            ),
            models.CheckConstraint(
                condition=~(Q(index=0) & Q(continuous=True)), name="first_scene_not_continuous"
            ),
        ]

    def __str__(self) -> str:
        return f"Scene {self.number} of {self.generation_id}"

    @property
    def number(self) -> int:
        """1-based, as people count scenes: code and storage say ``index`` (0-based, the plan's
        list position); what people read or type (API paths, admin, commands, messages, file
        names) says ``number``."""
        return self.index + 1

    @property
    def plan_duration(self) -> float:
        """The duration the plan asked for (a preview renders a shorter one)."""
        return self.duration if self.planned_duration is None else self.planned_duration

    @property
    def reused_from(self) -> dict | None:
        """``{"generation": id, "scene": number}`` when this scene's render was copied, not made."""
        return (self.recipe or {}).get("reused_from")

    @property
    def wall_seconds(self) -> float | None:
        if self.submitted_at and self.finished_at:
            return (self.finished_at - self.submitted_at).total_seconds()
        return None


class HostedModelSchema(models.Model):
    """A hosted model's live input schema, fetched by ``manage.py sync_models``.

    ``input_schema`` is ``latest_version.openapi_schema``'s ``Input`` component with its $refs
    resolved (``pipeline.providers.schema.input_component``); scene inputs are built from it and
    each scene's recipe records its ``fingerprint``.
    """

    model = models.CharField(max_length=128, unique=True)
    input_schema = models.JSONField()
    fingerprint = models.CharField(max_length=64)
    latest_version_id = models.CharField(max_length=128, blank=True)
    disagreements = models.JSONField(default=list, blank=True)  # registry vs schema, at fetch
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"schema of {self.model}"


class WebhookDelivery(models.Model):
    """Seen webhook ids, so a redelivered webhook changes nothing after the first."""

    webhook_id = models.CharField(max_length=128, unique=True)
    prediction_id = models.CharField(max_length=128, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"webhook {self.webhook_id} for {self.prediction_id}"


class IdempotencyKey(models.Model):
    """An API create retried with the same Idempotency-Key returns the first result."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_per_owner")
        ]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key}"


class Lease(models.Model):
    """A named singleton claim (the poller pass, the ticker's reconcile): one holder at a time,
    across every cluster, for as long as the holder keeps renewing it."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lease {self.name} held by {self.holder or 'nobody'} until {self.expires_at}"


class ConsumerWebhookSecret(models.Model):
    """A user's signing secret for the webhooks sent to them (Standard Webhooks ``whsec_...``).

    Stored encrypted (``generations.webhooks_out.secrets``: Fernet under a key derived from
    DJANGO_SECRET_KEY), because signing needs the secret itself, not a hash of it.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    encrypted = models.TextField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"webhook signing secret of {self.owner}"


class ConsumerWebhookEvent(models.Model):
    """One event for an API consumer's webhook: the outbox row (written in the transaction of the
    state change it reports) and its delivery log. The body is frozen when the event happens, so
    every attempt sends the same bytes under the same ``webhook-id``."""

    class Event(models.TextChoices):
        STARTED = "started"
        SCENE_COMPLETED = "scene_completed"
        COMPLETED = "completed"

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt
        DELIVERED = "delivered"  # the consumer answered 2xx
        GAVE_UP = "gave_up"  # undelivered after WEBHOOK_GIVE_UP_SECONDS

    webhook_id = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept after the generation is deleted: a "completed" may still be owed for it.
    generation = models.ForeignKey(
        Generation, null=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    event = models.CharField(max_length=16, choices=Event.choices)
    url = models.CharField(max_length=2000)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, db_index=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_answer = models.TextField(blank=True)  # the first 500 characters of the answer's body
    last_error = models.TextField(blank=True)  # refused address, timeout, connection error
    created_at = models.DateTimeField(db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} webhook {self.webhook_id}"
