"""Access and token reviews: SelfSubjectAccessReview (`kubectl auth can-i`),
SelfSubjectRulesReview (`kubectl auth can-i --list`), SubjectAccessReview,
LocalSubjectAccessReview, TokenReview and SelfSubjectReview (`kubectl auth whoami`)."""

from __future__ import annotations

from typing import Any

from acp.auth.identity import ANONYMOUS_USER, SA_PREFIX, Identity
from acp.auth.resolver import Unauthenticated
from acp.platform.kube import errors, validation
from acp.platform.kube.calls import Call
from acp.platform.kube.errors import Cause
from acp.platform.kube.resources import AUTHENTICATION_GROUP, AUTHORIZATION_GROUP
from acp.rbac.attributes import Attributes


def _attributes(spec: dict[str, Any]) -> Attributes:
    resource = spec.get("resourceAttributes")
    if resource is not None:
        return Attributes(
            verb=resource.get("verb", ""),
            resource=resource.get("resource", ""),
            subresource=resource.get("subresource", ""),
            api_group=resource.get("group", ""),
            namespace=resource.get("namespace", ""),
            name=resource.get("name", ""),
        )
    other = spec.get("nonResourceAttributes") or {}
    return Attributes(verb=other.get("verb", ""), path=other.get("path", "") or "/")


def _spec_causes(spec: dict[str, Any]) -> list[Cause]:
    has_resource = spec.get("resourceAttributes") is not None
    has_other = spec.get("nonResourceAttributes") is not None
    if not has_resource and not has_other:
        return [
            validation.required(
                "spec.resourceAttributes",
                "one of resourceAttributes or nonResourceAttributes must be specified",
            )
        ]
    if has_resource and has_other:
        return [
            validation.invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"],
                "cannot be specified in combination with resourceAttributes",
            )
        ]
    return []


def _invalid(kind: str, causes: list[Cause]) -> errors.KubeError:
    return errors.invalid(kind, AUTHORIZATION_GROUP, "", causes)


async def _decide(call: Call, identity: Identity, attrs: Attributes) -> dict[str, Any]:
    authorizer = call.ctx.authorizer
    if await authorizer.allowed(identity, attrs, call.cluster):
        return {"allowed": True, "reason": await authorizer.explain(identity, attrs, call.cluster)}
    return {"allowed": False}


def _answer(review: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    metadata = review.get("metadata") or {}
    metadata.setdefault("creationTimestamp", None)
    return {**review, "metadata": metadata, "status": status}


def _subject(spec: dict[str, Any], cluster: str) -> Identity:
    """The identity a SubjectAccessReview asks about, exactly as given (no implied groups)."""
    username = spec.get("user", "")
    groups = tuple(spec.get("groups") or ())
    extra = {k: tuple(v) for k, v in (spec.get("extra") or {}).items()}
    if username.startswith(SA_PREFIX):
        kind, sa_cluster = "serviceaccount", cluster
    else:
        kind, sa_cluster = ("anonymous" if username == ANONYMOUS_USER else "user"), None
    return Identity(
        username=username,
        groups=groups,
        uid=spec.get("uid", ""),
        kind=kind,
        via="review",
        cluster=sa_cluster,
        extra=extra,
    )


async def self_subject_access_review(call: Call, review: dict[str, Any]) -> dict[str, Any]:
    spec = review.get("spec") or {}
    if causes := _spec_causes(spec):
        raise _invalid("SelfSubjectAccessReview", causes)
    return _answer(review, await _decide(call, call.identity, _attributes(spec)))


async def subject_access_review(call: Call, review: dict[str, Any]) -> dict[str, Any]:
    spec = review.get("spec") or {}
    causes = _spec_causes(spec)
    if not spec.get("user") and not spec.get("groups"):
        causes.append(
            validation.invalid("spec.user", "", "at least one of user or group must be specified")
        )
    if causes:
        raise _invalid("SubjectAccessReview", causes)
    return _answer(review, await _decide(call, _subject(spec, call.cluster), _attributes(spec)))


async def local_subject_access_review(
    call: Call, review: dict[str, Any], namespace: str
) -> dict[str, Any]:
    spec = review.get("spec") or {}
    metadata = review.setdefault("metadata", {})
    if metadata.get("namespace") and metadata["namespace"] != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    metadata["namespace"] = namespace
    causes = _spec_causes(spec)
    if spec.get("nonResourceAttributes") is not None:
        causes.append(
            validation.invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"],
                "disallowed on this kind of request",
            )
        )
    if not spec.get("user") and not spec.get("groups"):
        causes.append(
            validation.invalid("spec.user", "", "at least one of user or group must be specified")
        )
    if causes:
        raise _invalid("LocalSubjectAccessReview", causes)
    resource = spec.setdefault("resourceAttributes", {})
    if resource.get("namespace", namespace) != namespace:
        raise errors.bad_request(
            f"spec.resourceAttributes.namespace must match namespace: {namespace}"
        )
    resource["namespace"] = namespace
    return _answer(review, await _decide(call, _subject(spec, call.cluster), _attributes(spec)))


async def self_subject_rules_review(call: Call, review: dict[str, Any]) -> dict[str, Any]:
    namespace = (review.get("spec") or {}).get("namespace", "")
    if not namespace:
        raise errors.bad_request("no namespace on request")
    rules = await call.ctx.authorizer.rules_for(call.identity, call.cluster, namespace)
    resource_rules, url_rules = [], []
    for rule in rules:
        if rule.non_resource_urls:
            url_rules.append(
                {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}
            )
        else:
            entry: dict[str, Any] = {"verbs": list(rule.verbs)}
            if rule.api_groups:
                entry["apiGroups"] = list(rule.api_groups)
            if rule.resources:
                entry["resources"] = list(rule.resources)
            if rule.resource_names:
                entry["resourceNames"] = list(rule.resource_names)
            resource_rules.append(entry)
    return _answer(
        review,
        {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False},
    )


def user_info(identity: Identity) -> dict[str, Any]:
    info: dict[str, Any] = {"username": identity.username, "groups": list(identity.groups)}
    if identity.uid:
        info["uid"] = identity.uid
    if identity.extra:
        info["extra"] = {k: list(v) for k, v in identity.extra.items()}
    return info


async def self_subject_review(call: Call, review: dict[str, Any]) -> dict[str, Any]:
    metadata = review.get("metadata") or {}
    metadata.setdefault("creationTimestamp", None)
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": f"{AUTHENTICATION_GROUP}/v1",
        "metadata": metadata,
        "status": {"userInfo": user_info(call.identity)},
    }


async def token_review(call: Call, review: dict[str, Any]) -> dict[str, Any]:
    spec = review.get("spec") or {}
    token = spec.get("token", "")
    if not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    try:
        identity, audiences = await call.ctx.identities.review_token(
            token, list(spec.get("audiences") or []), call.cluster
        )
    except Unauthenticated as exc:
        status: dict[str, Any] = {"authenticated": False, "user": {}, "error": str(exc)}
    else:
        status = {"authenticated": True, "user": user_info(identity), "audiences": audiences}
    return _answer(review, status)
