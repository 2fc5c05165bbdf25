"""Flagger's metric queries as Ferry's: the built-in ones, and the templating of a query.

Flagger's built-in ``request-success-rate`` and ``request-duration`` are Prometheus queries, one
pair per metrics observer (``pkg/metrics/observers`` in Flagger: NGINX, Istio, Linkerd, the
Kubernetes HTTP metrics; the Istio observer for a provider without one of its own). A query is a
Go template: ``{{ namespace }}``, ``{{ target }}``, ``{{ name }}``, ``{{ service }}`` and
``{{ ingress }}`` (the Canary's fields) become Ferry's ``{{args.NAME}}``, arguments read from the
Rollout (``fieldRef``); ``{{ interval }}`` (the query's window) and ``{{ variables.NAME }}``
(``templateVariables``) are filled in when known, else become arguments too. Anything else in
braces is Go template syntax Ferry cannot carry. Pure: text in, text out.
"""

from __future__ import annotations

import re

from cli.ferry.converting.building import Obj

SUCCESS_RATE = "request-success-rate"
DURATION = "request-duration"


# Flagger's built-in queries, per metrics observer (pkg/metrics/observers). NGINX's are those of
# current Flagger (``canary!=""``; Ferry's local data plane answers them: tests/local/
# test_ingress.py). The kubernetes (HTTP) duration is in seconds and Flagger multiplies it by 1000:
# written here as part of the query, so thresholds stay in milliseconds.
BUILTIN: dict[str, dict[str, str]] = {
    "nginx": {
        SUCCESS_RATE: """sum(
  rate(
    nginx_ingress_controller_requests{
      namespace="{{ namespace }}",
      ingress="{{ ingress }}",
      canary!="",
      status!~"5.*"
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    nginx_ingress_controller_requests{
      namespace="{{ namespace }}",
      ingress="{{ ingress }}",
      canary!=""
    }[{{ interval }}]
  )
)
* 100""",
        DURATION: """sum(
  rate(
    nginx_ingress_controller_response_duration_seconds_sum{
      namespace="{{ namespace }}",
      ingress="{{ ingress }}",
      canary!=""
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    nginx_ingress_controller_response_duration_seconds_count{
      namespace="{{ namespace }}",
      ingress="{{ ingress }}",
      canary!=""
    }[{{ interval }}]
  )
)
* 1000""",
    },
    "istio": {
        SUCCESS_RATE: """sum(
  rate(
    istio_requests_total{
      reporter="destination",
      destination_workload_namespace="{{ namespace }}",
      destination_workload=~"{{ target }}",
      response_code!~"5.*"
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    istio_requests_total{
      reporter="destination",
      destination_workload_namespace="{{ namespace }}",
      destination_workload=~"{{ target }}"
    }[{{ interval }}]
  )
)
* 100""",
        DURATION: """histogram_quantile(
  0.99,
  sum(
    rate(
      istio_request_duration_milliseconds_bucket{
        reporter="destination",
        destination_workload_namespace="{{ namespace }}",
        destination_workload=~"{{ target }}"
      }[{{ interval }}]
    )
  ) by (le)
)""",
    },
    "linkerd": {
        SUCCESS_RATE: """sum(
  rate(
    response_total{
      namespace="{{ namespace }}",
      deployment=~"{{ target }}",
      classification!="failure",
      direction="inbound"
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    response_total{
      namespace="{{ namespace }}",
      deployment=~"{{ target }}",
      direction="inbound"
    }[{{ interval }}]
  )
)
* 100""",
        DURATION: """histogram_quantile(
  0.99,
  sum(
    rate(
      response_latency_ms_bucket{
        namespace="{{ namespace }}",
        deployment=~"{{ target }}",
        direction="inbound"
      }[{{ interval }}]
    )
  ) by (le)
)""",
    },
    "kubernetes": {
        SUCCESS_RATE: """sum(
  rate(
    http_request_duration_seconds_count{
      kubernetes_namespace="{{ namespace }}",
      kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
      status!~"5.*"
    }[{{ interval }}]
  )
)
/
sum(
  rate(
    http_request_duration_seconds_count{
      kubernetes_namespace="{{ namespace }}",
      kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
    }[{{ interval }}]
  )
)
* 100""",
        DURATION: """histogram_quantile(
  0.99,
  sum(
    rate(
      http_request_duration_seconds_bucket{
        kubernetes_namespace="{{ namespace }}",
        kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"
      }[{{ interval }}]
    )
  ) by (le)
)
* 1000""",
    },
}

VARIABLES = {
    "name": "metadata.name",
    "namespace": "metadata.namespace",
    "target": "spec.targetRef.name",
    "service": "spec.service.name",
    "ingress": "spec.trafficRouting.nginx.stableIngress",
}
"""Flagger's query variables that are fields of the Canary, and where the Rollout holds them."""
_VARIABLE = re.compile(r"\{\{\s*(name|namespace|target|service|ingress|interval)\s*\}\}")
_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*variables\.([A-Za-z0-9_-]+)\s*\}\}")

NO_QUERIES = (
    "contour",
    "gloo",
    "appmesh",
    "skipper",
    "traefik",
    "kuma",
    "apisix",
    "knative",
)
"""Providers whose built-in queries Flagger has and ``ferry convert`` does not."""


def queries_of(provider: str) -> dict[str, str] | None:
    """Flagger's built-in queries for ``provider`` (its observer factory: the Istio observer for
    a provider it has none of)."""
    if provider in ("nginx", "istio", "linkerd", "kubernetes"):
        return BUILTIN[provider]
    if provider.split(":")[0] in NO_QUERIES or provider == "osm":
        return None
    return BUILTIN["istio"]


def query_with_args(
    query: str, window: str | None, variables: dict[str, str] | None
) -> tuple[str, list[str], list[str]]:
    """Flagger's template ``query`` in Ferry's: the Canary's fields as ``{{args.NAME}}``; the
    window and template variables filled in when given (else as arguments too). Returns the
    query, the arguments it uses, and what it holds that Ferry cannot fill (empty: all of it)."""
    used: list[str] = []
    missing: list[str] = []

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "interval" and window is not None:
            return window
        if name not in used:
            used.append(name)
        return f"{{{{args.{name}}}}}"

    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if variables is None:
            arg = f"variables.{name}"
            if arg not in used:
                used.append(arg)
            return f"{{{{args.{arg}}}}}"
        if name not in variables:
            missing.append(f"templateVariables.{name}")
            return match.group(0)
        return str(variables[name])

    out = _TEMPLATE_VARIABLE.sub(variable, _VARIABLE.sub(field, query))
    leftover = re.findall(r"\{\{(?!args\.)[^}]*\}\}", out)
    return out, used, missing + leftover


def query_args(used: list[str]) -> list[Obj]:
    """The AnalysisTemplate arguments a query uses: the Canary's fields from the Rollout
    (``fieldRef``), the window and template variables without a value (the Rollout gives them)."""
    args: list[Obj] = []
    for name in used:
        if name in VARIABLES:
            args.append({"name": name, "valueFrom": {"fieldRef": {"fieldPath": VARIABLES[name]}}})
        else:
            args.append({"name": name})
    return args
