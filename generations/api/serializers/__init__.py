"""The API's serializers, by resource: what the API returns, and the documented shape of what it
accepts.

- ``create``: the create and regenerate request bodies;
- ``generations``: a generation and its scenes, as listed and as detailed;
- ``reports``: the coherence report;
- ``iterate``: re-render, finalize, variations and estimates (requests and responses);
- ``health`` and ``webhooks``: the health check and the provider webhook receiver;
- ``fields``: the named status enums and the absolute-URL helper they share.

Request bodies are read by ``generations.api.parsers`` (envelope) and validated by the services.
"""
