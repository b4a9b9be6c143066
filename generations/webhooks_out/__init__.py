"""Webhooks *to* API consumers: a generation's ``started`` / ``scene_completed`` / ``completed``
events, signed with the consumer's own Standard Webhooks secret and delivered by the ticker.

Not to be confused with the receiver of Replicate's webhooks *to us* (generations/api/webhooks.py,
pipeline/providers/replicate_webhooks.py), with which it shares only the signature scheme.

- ``addresses``: where a webhook may go (the SSRF guard).
- ``signing``: each user's signing secret, kept encrypted; the signed headers.
- ``events``: a create's subscription, and the outbox rows written with each state change.
- ``delivery``: the ticker's pass: claim, send, store the answer, back off, give up.
"""
