"""``POST /api/webhook-secret/``: a new signing secret for the caller's webhooks, shown once."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generations.api.errors import CSRF_FAILED, UNAUTHENTICATED, ApiErrorsMixin
from generations.webhooks_out.signing import rotate_secret


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        help_text="`whsec_<base64>`: the Standard Webhooks signing secret of every webhook sent "
        "to you from now on. Shown this once; store it with your receiver."
    )


class WebhookSecretView(ApiErrorsMixin, APIView):
    """Make (or rotate) the caller's webhook signing secret."""

    @extend_schema(
        operation_id="webhook_secret_rotate",
        summary="A new webhook signing secret (shown once; the old one stops at once)",
        description="Deliveries from now on, retries of earlier events included, are signed "
        "with the new secret. A create with a `webhook` needs one.",
        request=None,
        responses={201: WebhookSecretSerializer, 401: UNAUTHENTICATED, 403: CSRF_FAILED},
        tags=["webhooks"],
    )
    def post(self, request: Request) -> Response:
        secret = rotate_secret(user=request.user)
        response = Response({"secret": secret}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # a secret: no cache may keep the answer
        return response
