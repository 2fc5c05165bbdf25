"""API errors of the simulator, shaped as the real API server's ``Status`` objects.

Every failure the simulator reports travels as an :class:`ApiError`, so the HTTP layer can answer
with the same status code, ``reason`` and message wording that clients (the official client,
``kubectl``, Ferry) already know how to handle. This module only describes errors; it does no I/O.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call: an HTTP code, a machine-readable reason and a readable message."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``v1 Status`` body the real API server sends for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(plural, group)} "{name}" not found',
        details={"name": name, "group": group, "kind": plural},
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        details={"name": name, "group": group, "kind": plural},
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        details={"name": name, "group": group, "kind": plural},
    )


def stale(plural: str, group: str, name: str) -> ApiError:
    return conflict(
        plural,
        group,
        name,
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are ``(field, message)`` pairs."""
    qualified = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{field}: {message}" if field else message for field, message in causes)
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {text}',
        details={
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": message, "field": field}
                for field, message in causes
            ],
        },
    )


def namespace_terminating(plural: str, group: str, name: str, namespace: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f'{_qualified(plural, group)} "{name}" is forbidden: unable to create new content in '
        f"namespace {namespace} because it is being terminated",
        details={
            "name": name,
            "group": group,
            "kind": plural,
            "causes": [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def page_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def unauthorized() -> ApiError:
    """401: the request's credentials were not accepted (the body never says why)."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(group: str, resource: str, name: str, why: str) -> ApiError:
    """403 as the API server's authorizer and admission write it:
    ``<resource>[.<group>] ["<name>"] is forbidden: <why>``, or ``forbidden: <why>`` for a
    request naming no resource."""
    if not resource:
        return ApiError(403, "Forbidden", f"forbidden: {why}", details={})
    subject = _qualified(resource, group) + (f' "{name}"' if name else "")
    details = {"name": name, "group": group, "kind": resource}
    return ApiError(
        403,
        "Forbidden",
        f"{subject} is forbidden: {why}",
        details={key: value for key, value in details.items() if value},
    )
