"""The REST API: thin views over generations.services (writes) and generations.selectors
(reads).

Every queryset goes through ``generations_visible_to``: a caller sees only their own generations
(staff see all), so another user's generation is a 404 on every verb.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generations.api.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    NOT_JSON,
    THROTTLED,
    TOO_LARGE,
    UNAUTHENTICATED,
    ApiErrorsMixin,
    error,
)
from generations.api.filters import GenerationFilter
from generations.api.health import system_health
from generations.api.iterate import CREATING_ACTIONS, IterateActionsMixin
from generations.api.parsers import BoundedJSONParser, read_body, read_multipart
from generations.api.serializers.create import (
    GenerationCreateMultipartSerializer,
    GenerationCreateSerializer,
    RegenerateSerializer,
)
from generations.api.serializers.generations import (
    GenerationDetailSerializer,
    GenerationSummarySerializer,
)
from generations.api.serializers.health import HealthSerializer
from generations.api.serializers.reports import CoherenceSerializer
from generations.api.throttles import GenerationCreateThrottle
from generations.iterate.variations import create_with_variations
from generations.models import SEED_MAX, Generation
from generations.selectors import (
    generations_visible_to,
    generations_with_scenes,
    generations_with_seed,
    may_act_on,
)
from generations.services.cancel import cancel_generation
from generations.services.create import create_generation
from generations.services.delete import delete_generation
from generations.services.idempotency import IdempotencyKeyReused, create_generation_idempotent
from generations.services.reproduce import KEEP_SEED, regenerate_generation
from generations.services.request import GenerationRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Visible ASCII and spaces, as Stripe-style clients send (a UUID is the usual choice).
IDEMPOTENCY_KEY_FORMAT = re.compile(r"[\x20-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"

GENERATION_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The generation's UUID."
)


def optional_query(name: str, schema: dict[str, Any], description: str) -> OpenApiParameter:
    """A query parameter whose empty value means "not given", as HTML forms (and DRF's browsable
    API filter form) send it; the documented schema admits the empty string to say so."""
    return OpenApiParameter(
        name,
        {"anyOf": [schema, {"type": "string", "maxLength": 0}]},
        OpenApiParameter.QUERY,
        description=description,
    )


PAGE = optional_query("page", {"type": "integer"}, "Page number (1-based); empty: the first.")
LIST_FILTERS = [
    optional_query(
        "status", {"type": "string", "enum": Generation.Status.values}, "Only this status."
    ),
    optional_query(
        "seed_value",
        {"type": "integer", "minimum": 0, "maximum": SEED_MAX},
        "Only generations with this generation seed.",
    ),
    optional_query(
        "created_after",
        {"type": "string", "format": "date-time"},
        "Created at or after this time (ISO 8601).",
    ),
    optional_query(
        "created_before",
        {"type": "string", "format": "date-time"},
        "Created before this time (ISO 8601).",
    ),
    PAGE,
]


CREATE_EXAMPLE = OpenApiExample(
    "Four scenes in two continuous pairs",
    request_only=True,
    value={
        "title": "Fox and lake",
        "scenes": [
            {"prompt": "a red fox runs through snow", "duration": 2, "continuous": False},
            {"prompt": "the fox leaps over a log", "duration": 2, "continuous": True},
            {"prompt": "a quiet lake at dawn", "duration": 2, "continuous": False},
            {"prompt": "mist rises over the lake", "duration": 2, "continuous": True},
        ],
        "coherence_settings": {"seed_mode": "shared"},
    },
)


@extend_schema_view(
    list=extend_schema(
        summary="Your generations, newest first",
        parameters=LIST_FILTERS,
        responses={
            200: GenerationSummarySerializer(many=True),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            404: error("The page does not exist."),
        },
    ),
    retrieve=extend_schema(
        summary="One generation with its scenes, recipes, timings and media URLs",
        parameters=[GENERATION_ID],
        responses={200: GenerationDetailSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    ),
)
class GenerationViewSet(
    ApiErrorsMixin,
    IterateActionsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Generations: create, list, read, regenerate, cancel, and read the coherence report."""

    queryset = Generation.objects.none()  # for the schema; get_queryset scopes to the caller
    parser_classes = [BoundedJSONParser]
    filterset_class = GenerationFilter
    ordering_fields = ["created_at", "updated_at", "finished_at", "status", "coherence_score"]
    ordering = ["-created_at"]

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        # Only create takes multipart (a plan with image files); everything else is JSON only.
        self._multipart = self.action_map.get(request.method.lower()) == "create"
        return super().initialize_request(request, *args, **kwargs)

    def get_parsers(self) -> list:
        parsers = super().get_parsers()
        return [*parsers, MultiPartParser()] if getattr(self, "_multipart", False) else parsers

    def get_queryset(self) -> QuerySet[Generation]:
        queryset = generations_visible_to(self.request.user)
        if self.action == "list":
            return queryset
        return generations_with_scenes(queryset)

    def get_serializer_class(self) -> type:
        if self.action == "list":
            return GenerationSummarySerializer
        return GenerationDetailSerializer

    def get_throttles(self) -> list:
        creating = ("create", "regenerate", *CREATING_ACTIONS)
        if self.action in creating and self.request.method == "POST":
            return [GenerationCreateThrottle()]
        return super().get_throttles()

    def _acting_on(self, action: str) -> Generation:
        """The generation named in the URL, if the caller may see it (else 404) and may do
        ``action`` to it (else 403): own generations, or staff with the model permission."""
        generation = self.get_object()
        if not may_act_on(self.request.user, generation, action):
            raise exceptions.PermissionDenied(
                f"You may see generation {generation.pk} but not {action} it "
                "(that takes the matching generation permission)."
            )
        return generation

    def _detail(self, generation: Generation, *, status_code: int) -> Response:
        """The generation as it is now (in django-q2's sync mode it may already be finished)."""
        fresh = generations_with_scenes(generations_visible_to(self.request.user)).get(
            pk=generation.pk
        )
        data = self.get_serializer(fresh).data
        # str(): the field gives a Hyperlink (a str subclass), which WSGI servers refuse in headers.
        return Response(data, status=status_code, headers={"Location": str(data["url"])})

    @extend_schema(
        summary="Create a generation (its rendering is queued)",
        # Two bodies of their own, so a generated client sends JSON unless it is given files.
        request={
            "application/json": GenerationCreateSerializer,
            "multipart/form-data": OpenApiRequest(
                GenerationCreateMultipartSerializer,
                encoding={"plan": {"contentType": "application/json"}},
            ),
        },
        examples=[CREATE_EXAMPLE],
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Optional, up to 255 visible ASCII characters (a UUID is ideal). A "
                "retry with the same key and body returns the first generation with 200 and "
                f"`{REPLAYED_HEADER}: true` instead of creating another; the same key with a "
                "different body is a 422.",
            )
        ],
        responses={
            201: GenerationDetailSerializer,
            200: OpenApiResponse(
                GenerationDetailSerializer,
                description="Replayed: this Idempotency-Key already created this generation "
                "(shown as it is now).",
            ),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            413: TOO_LARGE,
            415: error("The body must be `application/json` or `multipart/form-data`."),
            422: error("The Idempotency-Key was already used with a different body."),
            429: THROTTLED,
        },
    )
    def create(self, request: Request) -> Response:
        allowed = GenerationCreateSerializer.FIELDS
        body = (
            read_multipart(request.POST, request.FILES, allowed=allowed)
            if request.content_type.startswith("multipart/")
            else read_body(request.data, allowed=allowed)
        )
        asked = GenerationRequest(**{"scenes": None, **body})
        key = request.headers.get(IDEMPOTENCY_HEADER)
        # With "variations" the generation waits for a choice while its variations render; a
        # variations_scope alone goes there too, to be refused for want of a number.
        asks_variations = "variations" in body or "variations_scope" in body
        creator = create_with_variations if asks_variations else create_generation
        if key is None:
            generation = creator(asked, owner=request.user)
            return self._detail(generation, status_code=status.HTTP_201_CREATED)
        if not IDEMPOTENCY_KEY_FORMAT.fullmatch(key):
            raise exceptions.ValidationError(
                {IDEMPOTENCY_HEADER: ["Use 1 to 255 visible ASCII characters, e.g. a UUID."]}
            )
        try:
            generation, created = create_generation_idempotent(
                asked, owner=request.user, idempotency_key=key, creator=creator
            )
        except IdempotencyKeyReused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if created:
            return self._detail(generation, status_code=status.HTTP_201_CREATED)
        response = self._detail(generation, status_code=status.HTTP_200_OK)
        response[REPLAYED_HEADER] = "true"
        return response

    @extend_schema(
        operation_id="generations_regenerate",
        summary="Regenerate: same plan, settings, model version and (by default) seed",
        parameters=[GENERATION_ID],
        request=RegenerateSerializer,
        examples=[
            OpenApiExample("Same seed (the default)", value={}, request_only=True),
            OpenApiExample("Another seed", value={"seed": 42}, request_only=True),
            OpenApiExample("A fresh seed", value={"seed": None}, request_only=True),
        ],
        responses={
            201: GenerationDetailSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
            415: NOT_JSON,
            429: THROTTLED,
        },
    )
    @action(detail=True, methods=["post"])
    def regenerate(self, request: Request, pk: str | None = None) -> Response:
        source = self._acting_on("regenerate")
        body = read_body(request.data, allowed=RegenerateSerializer.FIELDS)
        generation = regenerate_generation(
            source=source,
            seed=body.get("seed", KEEP_SEED),
            owner=request.user,
            title=body.get("title"),
            actor=request.user,
        )
        return self._detail(generation, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="generations_cancel",
        summary="Cancel an unfinished generation (in-flight predictions are canceled too)",
        parameters=[GENERATION_ID],
        request=None,
        responses={
            200: GenerationDetailSerializer,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error("The generation had already ended (succeeded, failed or canceled)."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        generation = self._acting_on("cancel")
        if not cancel_generation(generation=generation):
            generation.refresh_from_db(fields=["status"])
            return Response(
                {
                    "detail": f"Generation {generation.pk} is {generation.status}; only an "
                    "unfinished generation can be canceled."
                },
                status=status.HTTP_409_CONFLICT,
            )
        return self._detail(generation, status_code=status.HTTP_200_OK)

    @extend_schema(
        summary="Delete a finished generation; its files go once the deletion commits",
        parameters=[GENERATION_ID],
        responses={
            204: None,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error("The generation is unfinished: cancel it first."),
        },
    )
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        generation = self._acting_on("delete")
        if not generation.is_terminal:
            return Response(
                {
                    "detail": f"Generation {generation.pk} is {generation.status}; cancel it "
                    "before deleting it."
                },
                status=status.HTTP_409_CONFLICT,
            )
        delete_generation(generation=generation)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="generations_coherence",
        summary="The coherence report (style, continuity, stability per scene and boundary)",
        parameters=[GENERATION_ID],
        responses={
            200: CoherenceSerializer,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
            409: error("Not scored: a generation is scored when it succeeds."),
        },
    )
    @action(detail=True, methods=["get"])
    def coherence(self, request: Request, pk: str | None = None) -> Response:
        generation = self.get_object()
        if generation.status != Generation.Status.SUCCEEDED or not generation.coherence_report:
            return Response(
                {
                    "detail": f"Generation {generation.pk} is {generation.status} and has no "
                    "coherence report; it is scored when it succeeds."
                },
                status=status.HTTP_409_CONFLICT,
            )
        report = generation.coherence_report
        score = generation.coherence_score
        data = {
            "generation": generation.pk,
            "score": report["score"] if score is None else score,
            "report": report,
        }
        return Response(CoherenceSerializer(data).data)


def _parse_seed(raw: str) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", raw) or int(raw) > SEED_MAX:
        raise exceptions.ValidationError(
            {"seed": [f"A seed is a whole number from 0 to {SEED_MAX}."]}
        )
    return int(raw)


@extend_schema_view(
    get=extend_schema(
        operation_id="seeds_generations",
        summary="Generations that used a seed (as generation seed or a scene's seed)",
        description="Your own generations; staff see everyone's.",
        parameters=[
            PAGE,
            OpenApiParameter(
                "seed",
                {"type": "integer", "minimum": 0, "maximum": SEED_MAX},
                OpenApiParameter.PATH,
            ),
        ],
        responses={
            200: GenerationSummarySerializer(many=True),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            404: error("The page does not exist."),
        },
        tags=["seeds"],
    )
)
class SeedGenerationsView(ApiErrorsMixin, generics.ListAPIView):
    """Which generations used a seed: the way back from a seed to the videos it made."""

    serializer_class = GenerationSummarySerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Generation]:
        seed = _parse_seed(self.kwargs["seed"])
        return generations_with_seed(seed=seed, user=self.request.user).order_by("-created_at")


class LenientTokenAuthentication(TokenAuthentication):
    """A monitor with a stale token still gets the verdict (as anonymous), not a 401."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            return None


@extend_schema_view(
    get=extend_schema(
        operation_id="health",
        summary="Database and task broker reachable? (details for staff only)",
        auth=[],
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description="Something is unreachable."),
        },
        tags=["system"],
    )
)
class HealthView(ApiErrorsMixin, APIView):
    """For load balancers and monitors: no authentication needed. Anyone gets the verdict; only
    staff get the reasons (they can name internal hosts and addresses)."""

    authentication_classes = [LenientTokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        health = system_health()
        code = status.HTTP_200_OK if health["status"] == "ok" else 503
        if not (request.user.is_active and request.user.is_staff):
            health = {"status": health["status"]}
        return Response(HealthSerializer(health).data, status=code)


@csrf_exempt  # a 404 either way; without this a POST would get Django's HTML CSRF page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown /api/ paths answer in the API's error shape, not with an HTML page."""
    detail = "Not found."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            detail = f"Not found. API paths end with a slash: {request.path}/"
    return JsonResponse({"detail": detail}, status=404)
