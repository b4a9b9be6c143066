"""The iteration endpoints, mixed into ``GenerationViewSet`` (so the same owner scoping, 404s,
permissions and create throttle apply): re-render one scene, finalize a preview, list and choose
seed variations, and estimate a request's cost. Thin: the work is in ``generations.iterate``.

Every action that would create a generation answers GET with what it would do and cost.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from generations.api.errors import (
    BAD_REQUEST,
    CSRF_FAILED,
    FORBIDDEN,
    NOT_FOUND,
    NOT_JSON,
    THROTTLED,
    TOO_LARGE,
    UNAUTHENTICATED,
    error,
)
from generations.api.parsers import read_body
from generations.api.serializers.create import GenerationCreateSerializer
from generations.api.serializers.generations import GenerationDetailSerializer
from generations.api.serializers.iterate import (
    EstimateRequestSerializer,
    EstimateSerializer,
    FinalizeEstimateSerializer,
    FinalizeSerializer,
    RerenderPlanSerializer,
    RerenderSerializer,
    VariationSerializer,
)
from generations.iterate.estimates import CURRENCY, request_estimate
from generations.iterate.finalize import check_finalizable, finalize_estimate, finalize_preview
from generations.iterate.rerender import plan_rerender, rerender_scene
from generations.iterate.variations import (
    NoSuchVariation,
    VariationStateError,
    choose_variation,
    chosen_variation,
    ranked_variations,
)
from generations.selectors import generations_visible_to
from generations.services.reproduce import KEEP_SEED

# Actions that create (and so pay for) a generation on POST: they share the create throttle.
CREATING_ACTIONS = ("rerender", "finalize", "choose")

GENERATION_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="The UUID.")
SCENE_NUMBER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description="The scene, counted from 1."
)
VARIATION_NUMBER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description="The variation's number (1..N)."
)
NUMBER = re.compile(r"[0-9]{1,4}")


def _number(raw: str, field: str) -> int:
    if not NUMBER.fullmatch(raw):
        raise exceptions.ValidationError({field: [f"The {field} is a whole number from 1."]})
    return int(raw)


class IterateActionsMixin:
    """Endpoints under /api/generations/<id>/ for iterating on a generation."""

    @extend_schema(
        methods=["GET"],
        operation_id="generations_rerender_plan",
        summary="What re-rendering scene n would render, reuse and cost (nothing runs)",
        parameters=[GENERATION_ID, SCENE_NUMBER],
        responses={
            200: RerenderPlanSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    @extend_schema(
        methods=["POST"],
        operation_id="generations_rerender",
        summary="Re-render scene n (and the continuous scenes after it); reuse every other scene",
        parameters=[GENERATION_ID, SCENE_NUMBER],
        request=RerenderSerializer,
        examples=[
            OpenApiExample("Same prompt and seed", value={}, request_only=True),
            OpenApiExample(
                "A new prompt and a seed for this scene",
                value={"prompt": "a stormy lake at dusk", "seed": 42},
                request_only=True,
            ),
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
    @action(detail=True, methods=["get", "post"], url_path=r"scenes/(?P<number>[^/.]+)/rerender")
    def rerender(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        source = self.get_object() if request.method == "GET" else self._acting_on("regenerate")
        scene = _number(number, "scene")
        if request.method == "GET":
            planned = plan_rerender(source=source, number=scene)
            return Response(RerenderPlanSerializer(_plan_data(planned)).data)
        body = read_body(request.data, allowed=RerenderSerializer.FIELDS)
        generation = rerender_scene(
            source=source,
            number=scene,
            prompt=body.get("prompt"),
            duration=body.get("duration"),
            seed=body.get("seed", KEEP_SEED),
            owner=request.user,
            title=body.get("title"),
            actor=request.user,
        )
        return self._detail(generation, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        operation_id="generations_finalize_estimate",
        summary="What finalizing this preview at full quality costs (nothing runs)",
        parameters=[GENERATION_ID],
        responses={
            200: FinalizeEstimateSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            404: NOT_FOUND,
        },
    )
    @extend_schema(
        methods=["POST"],
        operation_id="generations_finalize",
        summary="Render a preview's plan and seed at full quality (once per preview)",
        parameters=[GENERATION_ID],
        request=FinalizeSerializer,
        responses={
            200: OpenApiResponse(
                GenerationDetailSerializer,
                description="The preview was finalized already: its full-quality generation, as "
                "it is now. Nothing new starts and nothing is billed.",
            ),
            201: OpenApiResponse(
                GenerationDetailSerializer, description="The full-quality generation, queued."
            ),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: error(
                "The preview was finalized already, as a generation you may not see (another "
                "user finalized it). Nothing new starts."
            ),
            413: TOO_LARGE,
            415: NOT_JSON,
            429: THROTTLED,
        },
    )
    @action(detail=True, methods=["get", "post"])
    def finalize(self, request: Request, pk: str | None = None) -> Response:
        preview = self.get_object() if request.method == "GET" else self._acting_on("regenerate")
        check_finalizable(preview)
        if request.method == "GET":
            cost = finalize_estimate(preview)
            data = {"estimated_cost": cost, "currency": CURRENCY, "seed": preview.seed}
            return Response(FinalizeEstimateSerializer(data).data)
        body = read_body(request.data or {}, allowed=FinalizeSerializer.FIELDS)
        generation, created = finalize_preview(
            preview=preview, owner=request.user, title=body.get("title"), actor=request.user
        )
        if created:
            return self._detail(generation, status_code=status.HTTP_201_CREATED)
        if not generations_visible_to(request.user).filter(pk=generation.pk).exists():
            message = (
                f"Preview {preview.pk} was finalized already, as a generation you may not see."
            )
            return Response({"detail": message}, status=status.HTTP_409_CONFLICT)
        return self._detail(generation, status_code=status.HTTP_200_OK)

    @extend_schema(
        operation_id="generations_variations",
        summary="Seed variations, best coherence score first",
        parameters=[GENERATION_ID],
        responses={200: VariationSerializer(many=True), 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def variations(self, request: Request, pk: str | None = None) -> Response:
        parent = self.get_object()
        chosen = chosen_variation(parent)
        items = [
            {"rank": rank, "generation": variation, "chosen": variation == chosen}
            for rank, variation in enumerate(ranked_variations(parent), start=1)
        ]
        context = self.get_serializer_context()
        return Response(VariationSerializer(items, many=True, context=context).data)

    @extend_schema(
        operation_id="generations_choose_variation",
        summary="Start the full generation with variation k's seed (its render is reused)",
        parameters=[GENERATION_ID, VARIATION_NUMBER],
        request=None,
        responses={
            200: GenerationDetailSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: error("No such generation among yours, or it has no variation k."),
            409: error("The generation is not awaiting a choice (one was made already)."),
            429: THROTTLED,
        },
    )
    @action(detail=True, methods=["post"], url_path=r"variations/(?P<number>[^/.]+)/choose")
    def choose(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        parent = self._acting_on("regenerate")
        try:
            generation = choose_variation(
                parent=parent, number=_number(number, "variation"), actor=request.user
            )
        except NoSuchVariation as exc:
            raise exceptions.NotFound(str(exc)) from None
        except VariationStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return self._detail(generation, status_code=status.HTTP_200_OK)

    @extend_schema(
        operation_id="generations_estimate",
        summary="Estimated cost of a create request: full quality, preview, variations",
        request=EstimateRequestSerializer,
        responses={
            200: EstimateSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: CSRF_FAILED,
            413: TOO_LARGE,
            415: NOT_JSON,
        },
    )
    @action(detail=False, methods=["post"])
    def estimate(self, request: Request) -> Response:
        body = read_body(request.data, allowed=GenerationCreateSerializer.FIELDS)
        fields: dict[str, Any] = {"scenes": None, **body}
        return Response(EstimateSerializer(request_estimate(**fields)).data)


def _plan_data(planned: Any) -> dict[str, Any]:
    return {
        "rendered_scenes": [index + 1 for index in planned.rendered],
        "reused_scenes": [index + 1 for index in planned.reused],
        "estimated_cost": planned.estimated_cost,
        "currency": CURRENCY,
    }
