"""What an experiment runs: one Deployment per template (``<experiment>-<template>``) and a
Service for a template that asks for one; and each template's status, read from its Deployment.

A template's Pods carry the experiment's and the template's labels (its Deployment selects
only them, so two experiments never share Pods) and its pod template hash
(``ferry.dev/pod-template-hash``): what ``{{templates.NAME.podTemplateHash}}`` stands for.
Everything is owned by the Experiment. Pure functions over dicts: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from shared import workloads
from shared.experiments.spec import (
    HASH_LABEL,
    LABEL,
    TEMPLATE_LABEL,
    ExperimentSpec,
    Template,
)
from shared.objects import MANAGED_LABELS, owner_reference

Obj = dict[str, Any]


def own_labels(spec: ExperimentSpec, template: Template) -> dict[str, str]:
    """The labels that make a Pod this template's of this experiment."""
    return {LABEL: spec.name, TEMPLATE_LABEL: template.name}


def pod_template(spec: ExperimentSpec, template: Template) -> tuple[Obj, str]:
    """The template's pod template, labelled, and its hash."""
    pod = copy.deepcopy(template.template)
    meta = pod.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **own_labels(spec, template)}
    digest = workloads.revision({"spec": {"template": pod}})
    meta["labels"][HASH_LABEL] = digest
    return pod, digest


def hashes(spec: ExperimentSpec) -> dict[str, str]:
    """Template name -> pod template hash."""
    return {t.name: pod_template(spec, t)[1] for t in spec.templates}


def deployment(spec: ExperimentSpec, template: Template, owner: Obj) -> Obj:
    pod, _ = pod_template(spec, template)
    body: Obj = {
        "replicas": template.replicas,
        "selector": {"matchLabels": {**template.selector, **own_labels(spec, template)}},
        "template": pod,
    }
    if template.min_ready:
        body["minReadySeconds"] = template.min_ready
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": spec.deployment(template.name),
            "namespace": spec.namespace,
            "labels": {**MANAGED_LABELS, **own_labels(spec, template)},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": body,
    }


def service(spec: ExperimentSpec, template: Template, owner: Obj) -> Obj | None:
    """The template's Service (its ``port``, else its Pods' container ports), or None when it
    asks for none."""
    if not template.service:
        return None
    ports: list[Obj] = []
    if template.port:
        ports = [
            {
                "name": "http",
                "port": template.port,
                "targetPort": template.target_port or template.port,
                "protocol": "TCP",
            }
        ]
    for container in [] if ports else (template.template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                entry: Obj = {
                    "port": port["containerPort"],
                    "targetPort": port["containerPort"],
                    "protocol": port.get("protocol", "TCP"),
                }
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
    if not ports:
        ports = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": template.service,
            "namespace": spec.namespace,
            "labels": {**MANAGED_LABELS, **own_labels(spec, template)},
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {"selector": own_labels(spec, template), "ports": ports},
    }


def available(deployment_obj: Obj | None) -> bool:
    """Every replica of the template's Deployment is updated and available."""
    return workloads.is_ready(deployment_obj, replicas_at_least=0)


def template_status(
    template: Template, deployment_obj: Obj | None, digest: str, status: str
) -> dict[str, Any]:
    """One entry of ``status.templateStatuses`` (Argo's fields)."""
    observed = (deployment_obj or {}).get("status") or {}
    entry: dict[str, Any] = {
        "name": template.name,
        "replicas": int(observed.get("replicas", 0)),
        "updatedReplicas": int(observed.get("updatedReplicas", 0)),
        "readyReplicas": int(observed.get("readyReplicas", 0)),
        "availableReplicas": int(observed.get("availableReplicas", 0)),
        "status": status,
        "podTemplateHash": digest,
    }
    if template.service:
        entry["serviceName"] = template.service
    return entry
