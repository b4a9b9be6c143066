"""The Django admin. Importing the modules registers their ModelAdmins."""

from generations.admin import generations, hosted_models, iterate, webhooks  # noqa: F401
