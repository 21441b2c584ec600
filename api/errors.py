"""The read API's and webhooks' errors.

ApiError                  anything this package refuses
+-- TokenError            a token name or role that cannot be used (CLI, staff page)
+-- Unauthenticated       no token, an unknown one or a revoked one (401)
+-- QueryError            a query argument the API cannot honour (400)
+-- WebhookError          a webhook URL that cannot be registered
"""

from __future__ import annotations

from participate.errors import ParticipateError


class ApiError(ParticipateError):
    """Something the read API or the webhooks refuse."""


class TokenError(ApiError):
    """A token name or role that cannot be used."""


class Unauthenticated(ApiError):
    """The request carries no usable token."""


class QueryError(ApiError):
    """A query argument the API cannot honour."""


class WebhookError(ApiError):
    """A webhook URL that cannot be registered."""
