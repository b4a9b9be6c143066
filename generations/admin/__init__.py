"""The Django admin. Importing the modules registers their ModelAdmins."""

from generations.admin import generations, iterate, webhooks  # noqa: F401
