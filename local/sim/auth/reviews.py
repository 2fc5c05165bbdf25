"""The authentication and authorization APIs: TokenRequest and the review kinds.

``POST serviceaccounts/<name>/token`` (authentication.k8s.io/v1 TokenRequest) mints a
ServiceAccount token; ``tokenreviews`` and ``selfsubjectreviews`` (authentication.k8s.io/v1) say
who a token or the caller is; ``subjectaccessreviews``, ``selfsubjectaccessreviews``,
``localsubjectaccessreviews`` and ``selfsubjectrulesreviews`` (authorization.k8s.io/v1) ask the
authorizer, as kube-apiserver's registries do, in the same wire format. Each answer is computed
and returned (201), never stored. Reads the store through the token issuer and the authorizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.sim import errors
from local.sim.auth import caller
from local.sim.auth.attributes import Attributes
from local.sim.auth.rbac import Grant, Rbac
from local.sim.auth.tokens import API_AUDIENCES, Tokens, bound_kind_plural
from local.sim.auth.users import MASTERS, UserInfo, from_json
from local.sim.clock import rfc3339
from local.sim.objects import Obj
from local.sim.store import Store

AUTHENTICATION = "authentication.k8s.io"
AUTHORIZATION = "authorization.k8s.io"
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32

Handler = Callable[[str | None, str | None, Obj], Obj]
"""Answers a POST: (namespace, name, body) -> the object to return."""


def _answer(group: str, kind: str, body: Obj, **fields: Any) -> Obj:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    return {"kind": kind, "apiVersion": f"{group}/v1", "metadata": meta, **fields}


def _invalid(kind: str, field: str, message: str) -> errors.ApiError:
    return errors.invalid(kind, AUTHORIZATION, "", [(field, message)])


def _attributes(kind: str, user: UserInfo, spec: Obj) -> Attributes:
    resource, nonresource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(resource, dict) == isinstance(nonresource, dict):
        raise _invalid(
            kind,
            "spec.resourceAttributes",
            'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
            "must be specified",
        )
    if isinstance(nonresource, dict):
        return Attributes(
            user, str(nonresource.get("verb", "")), False, path=str(nonresource.get("path", ""))
        )
    assert isinstance(resource, dict)
    return Attributes(
        user,
        str(resource.get("verb", "")),
        True,
        api_group=str(resource.get("group", "")),
        api_version=str(resource.get("version", "")),
        resource=str(resource.get("resource", "")),
        subresource=str(resource.get("subresource", "")),
        namespace=str(resource.get("namespace", "")),
        name=str(resource.get("name", "")),
    )


class Reviews:
    """The handlers of the token and review endpoints."""

    def __init__(self, store: Store, tokens: Tokens, rbac: Rbac) -> None:
        self.store = store
        self.tokens = tokens
        self.rbac = rbac

    def handlers(self) -> dict[tuple[str, str, str], Handler]:
        """(group, plural, subresource) -> handler, for the HTTP layer."""
        return {
            ("", "serviceaccounts", "token"): self.token_request,
            (AUTHENTICATION, "tokenreviews", ""): self.token_review,
            (AUTHENTICATION, "selfsubjectreviews", ""): self.self_subject_review,
            (AUTHORIZATION, "subjectaccessreviews", ""): self.subject_access_review,
            (AUTHORIZATION, "selfsubjectaccessreviews", ""): self.self_subject_access_review,
            (AUTHORIZATION, "localsubjectaccessreviews", ""): self.local_subject_access_review,
            (AUTHORIZATION, "selfsubjectrulesreviews", ""): self.self_subject_rules_review,
        }

    # ------------------------------------------------------------------ authentication

    def token_request(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        rt = self.store.registry.versions_of("", "serviceaccounts")[0]
        account = self.store.get(rt, namespace, name or "")
        spec = dict(body.get("spec") or {})
        audiences = list(spec.get("audiences") or API_AUDIENCES)
        expiration = spec.get("expirationSeconds") or 3600
        if not isinstance(expiration, int) or expiration < MIN_EXPIRATION:
            raise _request_invalid(
                name,
                f"Invalid value: {expiration}: may not specify a duration less than 10 minutes",
            )
        if expiration > MAX_EXPIRATION:
            raise _request_invalid(
                name,
                f"Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds",
            )
        bound = self._bound_object(namespace or "", spec.get("boundObjectRef"))
        token, expires = self.tokens.mint(account, audiences, expiration, bound)
        spec.update(audiences=audiences, expirationSeconds=expiration)
        spec.setdefault("boundObjectRef", None)
        meta = {"name": name, "namespace": namespace, "creationTimestamp": None}
        return _answer(
            AUTHENTICATION,
            "TokenRequest",
            {"metadata": meta},
            spec=spec,
            status={"token": token, "expirationTimestamp": rfc3339(expires)},
        )

    def _bound_object(self, namespace: str, ref: Obj | None) -> Obj | None:
        if not ref:
            return None
        kind = str(ref.get("kind", ""))
        plural = bound_kind_plural(kind)
        if plural is None:
            raise _request_invalid(
                None,
                f'Unsupported value: "{kind}": supported values: "Pod", "Secret"',
                "spec.boundObjectRef.kind",
            )
        rt = self.store.registry.versions_of("", plural)[0]
        bound = self.store.get(rt, namespace, str(ref.get("name", "")))
        uid = ref.get("uid")
        if uid and uid != bound["metadata"]["uid"]:
            raise errors.conflict(
                kind,
                "",
                str(ref.get("name")),
                f"the UID in the bound object reference ({uid}) does not match the UID in "
                "record. The object might have been deleted and then recreated",
            )
        return bound

    def token_review(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        spec = body.get("spec") or {}
        outcome = self.tokens.authenticate(str(spec.get("token") or ""), spec.get("audiences"))
        status: Obj = {"user": {}}
        if outcome.user is not None:
            status = {
                "authenticated": True,
                "user": outcome.user.to_json(),
                "audiences": list(outcome.audiences),
            }
        elif outcome.error:
            status["error"] = outcome.error
        return _answer(AUTHENTICATION, "TokenReview", body, spec=spec, status=status)

    def self_subject_review(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        user = caller.current().user
        return _answer(
            AUTHENTICATION, "SelfSubjectReview", body, status={"userInfo": user.to_json()}
        )

    # ------------------------------------------------------------------ authorization

    def _access(self, kind: str, user: UserInfo, body: Obj) -> Obj:
        """The answer to an access review of ``kind`` asking about ``user``."""
        spec = body.get("spec") or {}
        decision = self.rbac.authorize(_attributes(kind, user, spec))
        status: Obj = {"allowed": decision.allowed}
        if decision.reason:
            status["reason"] = decision.reason
        return _answer(AUTHORIZATION, kind, body, spec=spec, status=status)

    def subject_access_review(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        spec = body.get("spec") or {}
        if not spec.get("user") and not spec.get("groups"):
            raise _invalid(
                "SubjectAccessReview",
                "spec.user",
                'Invalid value: "": at least one of user or group must be specified',
            )
        return self._access("SubjectAccessReview", from_json(spec), body)

    def self_subject_access_review(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        return self._access("SelfSubjectAccessReview", caller.current().user, body)

    def local_subject_access_review(
        self, namespace: str | None, name: str | None, body: Obj
    ) -> Obj:
        spec = body.get("spec") or {}
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict):
            resource.setdefault("namespace", namespace)
            if resource["namespace"] != namespace:
                raise errors.bad_request(
                    f"spec.resourceAttributes.namespace must match namespace: {namespace}"
                )
        if spec.get("nonResourceAttributes") is not None:
            raise _invalid(
                "LocalSubjectAccessReview",
                "spec.nonResourceAttributes",
                "Invalid value: disallowed on this kind of request",
            )
        meta = dict(body.get("metadata") or {}, namespace=namespace)
        local = dict(body, metadata=meta, spec=spec)
        return self._access("LocalSubjectAccessReview", from_json(spec), local)

    def self_subject_rules_review(self, namespace: str | None, name: str | None, body: Obj) -> Obj:
        spec = body.get("spec") or {}
        user = caller.current().user
        resource_rules: list[Obj] = []
        url_rules: list[Obj] = []
        if MASTERS in user.groups:
            resource_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
            url_rules.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
        problems: list[str] = []
        for grant in self.rbac.grants(user, str(spec.get("namespace") or "")):
            if not isinstance(grant, Grant):
                problems.append(grant.message)
                continue
            rule = grant.rule
            if rule.get("resources"):
                keys = ("verbs", "apiGroups", "resources", "resourceNames")
                resource_rules.append({k: rule[k] for k in keys if rule.get(k)})
            if rule.get("nonResourceURLs"):
                url_rules.append({k: rule[k] for k in ("verbs", "nonResourceURLs")})
        status: Obj = {
            "resourceRules": resource_rules,
            "nonResourceRules": url_rules,
            "incomplete": bool(problems),
        }
        if problems:
            status["evaluationError"] = ", ".join(problems)
        return _answer(AUTHORIZATION, "SelfSubjectRulesReview", body, spec=spec, status=status)


def _request_invalid(
    name: str | None, message: str, field: str = "spec.expirationSeconds"
) -> errors.ApiError:
    return errors.invalid("TokenRequest", AUTHENTICATION, name or "", [(field, message)])
