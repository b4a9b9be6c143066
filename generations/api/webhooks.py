"""The Replicate webhook receiver: the signature is the authentication (no token, no CSRF)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generations.api.errors import TOO_LARGE, ApiErrorsMixin, error
from generations.api.serializers.webhooks import (
    ReplicatePredictionSerializer,
    WebhookReceiptSerializer,
)
from generations.services.replicate_webhooks import receive_replicate_webhook
from pipeline.providers.replicate_webhooks import WebhookRejected, verify_replicate_webhook

# WebhookDelivery.webhook_id and .prediction_id are 128 characters wide.
MAX_ID_LENGTH = 128

SIGNATURE_HEADERS = [
    OpenApiParameter(name, str, OpenApiParameter.HEADER, required=True, description=text)
    for name, text in (
        ("webhook-id", "Delivery id; a redelivery carries the same id and changes nothing."),
        ("webhook-timestamp", "Unix seconds; older or newer than 5 minutes is refused."),
        ("webhook-signature", "`v1,<base64 HMAC-SHA256>` (Standard Webhooks)."),
    )
]


@extend_schema_view(
    post=extend_schema(
        operation_id="webhooks_replicate",
        summary="Replicate prediction webhook (Standard Webhooks signature)",
        description="Verified with REPLICATE_WEBHOOK_SECRET, applied once per `webhook-id`, and "
        "only to the scene whose prediction it names. Answers 2xx only when Replicate should "
        "stop retrying.",
        auth=[],
        parameters=SIGNATURE_HEADERS,
        request=ReplicatePredictionSerializer,
        responses={
            200: WebhookReceiptSerializer,
            400: error("Missing headers or body, a stale timestamp, or a body that is not JSON."),
            401: error("The signature does not match."),
            413: TOO_LARGE,
            503: error("REPLICATE_WEBHOOK_SECRET is unset or malformed; Replicate retries."),
        },
        tags=["webhooks"],
    )
)
class ReplicateWebhookView(ApiErrorsMixin, APIView):
    """Replicate calls this when a prediction ends (``webhook_events_filter=["completed"]``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Only for the schema: the view reads the raw body, which is what the signature covers.
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        secret = settings.REPLICATE_WEBHOOK_SECRET
        if not secret:
            return Response(
                {"detail": "Webhooks are not configured: REPLICATE_WEBHOOK_SECRET is unset."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        try:
            payload = verify_replicate_webhook(
                headers=request.headers, body=request.body, secret=secret
            )
        except WebhookRejected as exc:
            # Our own misconfiguration is a 503 (Replicate retries), never a 500.
            code = exc.status_code if exc.status_code < 500 else status.HTTP_503_SERVICE_UNAVAILABLE
            return Response({"detail": exc.message}, status=code)
        webhook_id = request.headers["webhook-id"]
        if len(webhook_id) > MAX_ID_LENGTH or len(str(payload.get("id") or "")) > MAX_ID_LENGTH:
            return Response(
                {"detail": f"webhook-id and prediction id must be at most {MAX_ID_LENGTH} chars."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        outcome = receive_replicate_webhook(webhook_id=webhook_id, payload=payload)
        return Response({"status": outcome})
