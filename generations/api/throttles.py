"""Rate limits. The rate lives in settings: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]."""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class GenerationCreateThrottle(UserRateThrottle):
    """Creating a generation (and regenerating one) costs model time: limited per user."""

    scope = "generation_create"

    def get_rate(self) -> str | None:
        # DRF copies the rates once, at import; reading them per request lets a settings override
        # (tests, a soak run) change the limit.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate set for scope {self.scope!r}.") from None
