"""The Rollouts and analysis objects the tests try out, and the edits that break them.

``_minimal_rollout`` is the smallest Rollout the schema accepts; ``_step``, ``_set`` and
``_drop`` make one edit to a spec; ``_analysis_examples`` use every field of the analysis
CRDs. Each call returns new objects, so a test may change them freely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tests.manifests.helpers import Obj


def _minimal_rollout(name: str) -> Obj:
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"name": "app"},
            "service": {"name": "app", "port": 80},
            "trafficRouting": {"nginx": {"stableIngress": "app"}},
            "strategy": {"canary": {"steps": [{"setWeight": 10}]}},
        },
    }


def _step(index: int, value: Any) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        spec["strategy"]["canary"]["steps"][index] = value

    return mutate


def _parent(spec: Obj, path: Sequence[str]) -> Obj:
    """The node of ``spec`` that holds the last key of ``path``."""
    node = spec
    for key in path[:-1]:
        node = node[key]
    return node


def _set(*path_and_value: Any) -> Callable[[Obj], None]:
    *path, value = path_and_value

    def mutate(spec: Obj) -> None:
        _parent(spec, path)[path[-1]] = value

    return mutate


def _drop(*path: str) -> Callable[[Obj], None]:
    def mutate(spec: Obj) -> None:
        del _parent(spec, path)[path[-1]]

    return mutate


def _analysis_examples() -> list[Obj]:
    """One AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun using every field."""
    template = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {
            "args": [
                {"name": "service-name"},
                {
                    "name": "namespace",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                },
                {"name": "errors", "value": "4"},
            ],
            "metrics": [
                {
                    "name": "success-rate",
                    "initialDelay": "1m",
                    "interval": "30s",
                    "count": 5,
                    "failureLimit": 1,
                    "inconclusiveLimit": "1",
                    "consecutiveErrorLimit": "{{args.errors}}",
                    "successCondition": "result[0] >= 0.95",
                    "failureCondition": "result[0] < 0.5",
                    "noDataPolicy": "Failed",
                    "provider": {
                        "prometheus": {
                            "address": "http://prometheus.monitoring:9090",
                            "query": 'sum(rate(http_requests_total{service="{{args.service-name}}",'
                            'namespace="{{ args.namespace }}",code!~"5.."}[1m]))',
                            "timeout": 10,
                            "insecure": False,
                            "headers": [{"key": "X-Scope-OrgID", "value": "team-a"}],
                        }
                    },
                },
                {
                    "name": "error-budget",
                    "interval": "1m",
                    "thresholdRange": {"min": 0, "max": 0.01},
                    "provider": {
                        "prometheus": {
                            "address": "https://prometheus.example.com",
                            "query": "vector(0)",
                        }
                    },
                },
            ],
            "dryRun": [{"metricName": "error-budget"}],
            "measurementRetention": [{"metricName": "success-.*", "limit": 20}],
        },
    }
    cluster_template = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "ClusterAnalysisTemplate",
        "metadata": {"name": "latency"},
        "spec": {
            "args": [
                {"name": "url"},
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            ],
            "metrics": [
                {
                    "name": "p99",
                    "thresholdRange": {"max": 500},
                    "provider": {
                        "web": {
                            "url": "{{args.url}}",
                            "method": "POST",
                            "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
                            "body": '{"window": "1m"}',
                            "jsonPath": "{$.p99}",
                            "timeoutSeconds": 5,
                            "insecure": True,
                        }
                    },
                }
            ],
        },
    }
    run = {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "podinfo-7c9f-2"},
        "spec": {
            "args": [
                {"name": "image", "value": "ghcr.io/example/smoke:1"},
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            ],
            "metrics": [
                {
                    "name": "smoke",
                    "provider": {
                        "job": {
                            "metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}},
                            "spec": {
                                "backoffLimit": 0,
                                "template": {
                                    "spec": {
                                        "restartPolicy": "Never",
                                        "containers": [
                                            {
                                                "name": "smoke",
                                                "image": "{{args.image}}",
                                                "args": ["--token", "{{args.token}}"],
                                            }
                                        ],
                                    }
                                },
                            },
                        }
                    },
                }
            ],
            "terminate": False,
        },
    }
    return [template, cluster_template, run]
