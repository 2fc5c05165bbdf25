"""Arguments (``shared.analysis.arguments``): resolving, substituting, and a new run's spec.

Covered: given arguments override the template's, required ones must be given, Secrets and
fieldRefs are read through callbacks; every missing or unreadable argument is reported without
secret values; secret values masked and redacted; ``{{args.NAME}}`` substitution, recursive and
leaving other text alone; fieldRef paths, good and bad; a run's spec keeps metrics as written and
secrets as references, and is resolved again when read back.
"""

from __future__ import annotations

import json

import pytest

from shared import models
from shared.analysis import arguments, model, validation
from tests.shared.analysis.conftest import metric, template

TEMPLATE_ARGS = (
    model.Arg("service"),
    model.Arg("threshold", value="0.95"),
    model.Arg("token", secret=model.SecretRef("api", "token")),
    model.Arg("app", field_path="metadata.labels['app']"),
)
ROLLOUT = {
    "metadata": {"name": "podinfo", "namespace": "demo", "labels": {"app": "podinfo"}},
    "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}]}}, "paused": False},
}


def secrets(name: str, key: str) -> str:
    return {("api", "token"): "s3cr3t-value"}[(name, key)]


def fields(path: str) -> str:
    return arguments.field_value(ROLLOUT, path)


def test_args_resolve_with_overrides_secrets_and_fields() -> None:
    resolved = arguments.resolve_args(
        TEMPLATE_ARGS,
        {"service": "podinfo", "threshold": "0.99", "unknown": "ignored"},
        secret=secrets,
        field=fields,
    )
    assert dict(resolved.values) == {
        "service": "podinfo",
        "threshold": "0.99",
        "token": "s3cr3t-value",
        "app": "podinfo",
    }
    assert resolved.secret_names == {"token"}


def test_args_given_as_args_may_override_a_source() -> None:
    given = [model.Arg("token", value="plain"), model.Arg("service", value="web")]
    resolved = arguments.resolve_args(TEMPLATE_ARGS, given, secret=secrets, field=fields)
    assert resolved.values["token"] == "plain" and resolved.secret_names == frozenset()


def test_every_missing_or_unreadable_arg_is_reported_without_secret_values() -> None:
    def broken_secret(name: str, key: str) -> str:
        raise KeyError(f"secret {name} not found")

    with pytest.raises(arguments.ArgsError) as info:
        arguments.resolve_args(
            (*TEMPLATE_ARGS, model.Arg("ns", field_path="metadata.uid")),
            {},
            secret=broken_secret,
            field=fields,
        )
    assert info.value.problems == [
        "args.service was not resolved: the template gives no value and none was passed",
        "args.token: cannot read secret 'api' key 'token': secret api not found",
        "args.ns: cannot read fieldRef 'metadata.uid': fieldPath 'metadata.uid': nothing at "
        "'metadata.uid'",
    ]
    assert isinstance(info.value, models.InvalidSpec)


def test_secret_values_are_masked_and_redacted() -> None:
    resolved = arguments.resolve_args(TEMPLATE_ARGS, {"service": "x"}, secret=secrets, field=fields)
    assert resolved.masked()["token"] == arguments.MASK
    assert resolved.masked()["service"] == "x"
    assert "s3cr3t" not in repr(resolved) and "s3cr3t" not in str(resolved)
    message = "401 from http://svc?token=s3cr3t-value (token s3cr3t-value)"
    assert resolved.redact(message) == "401 from http://svc?token=***** (token *****)"


def test_render_substitutes_args_recursively_and_leaves_the_rest() -> None:
    config = {
        "url": "http://{{args.service}}.{{ args.ns }}:8080/{{  args.service  }}",
        "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
        "timeoutSeconds": 5,
        "insecure": True,
        "body": "{{ .Values.x }} {{args}} {{ arg.service }}",
    }
    original = json.dumps(config)
    out = arguments.render(config, {"service": "podinfo", "ns": "demo", "token": "t"})
    assert out == {
        "url": "http://podinfo.demo:8080/podinfo",
        "headers": [{"key": "Authorization", "value": "Bearer t"}],
        "timeoutSeconds": 5,
        "insecure": True,
        "body": "{{ .Values.x }} {{args}} {{ arg.service }}",
    }
    assert json.dumps(config) == original, "the input is not changed"
    resolved = arguments.ResolvedArgs(
        {"service": "s", "ns": "n", "token": "t"}, frozenset({"token"})
    )
    assert arguments.render("{{args.token}}", resolved) == "t"
    with pytest.raises(arguments.ArgsError, match=r"\{\{args.nope\}\} names no argument"):
        arguments.render(["ok", {"q": "{{args.nope}}"}], {})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "podinfo"),
        ("metadata.labels['app']", "podinfo"),
        ('metadata.labels["app"]', "podinfo"),
        ("spec.strategy.canary.steps[0].setWeight", "20"),
        ("spec.paused", "false"),
    ],
)
def test_field_paths(path: str, value: str) -> None:
    assert arguments.field_value(ROLLOUT, path) == value


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("metadata.labels['team']", LookupError),
        ("spec.strategy.canary.steps[3]", LookupError),
        ("spec.strategy", ValueError),
        ("metadata..name", ValueError),
        ("", ValueError),
    ],
)
def test_bad_field_paths(path: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        arguments.field_value(ROLLOUT, path)


def test_a_run_spec_keeps_metrics_as_written_and_secrets_as_references() -> None:
    obj = template(
        metric(
            "m",
            interval="1m",
            provider={
                "web": {
                    "url": "http://{{args.service}}",
                    "headers": [{"key": "Authorization", "value": "{{args.token}}"}],
                }
            },
        ),
        args=[a.to_dict() for a in TEMPLATE_ARGS],
        dryRun=[{"metricName": "m"}],
        measurementRetention=[{"metricName": "m", "limit": 5}],
    )
    spec = arguments.run_spec(
        validation.parse_template(obj), {"service": "podinfo"}, field=fields, terminate=True
    )
    assert spec == {
        "metrics": obj["spec"]["metrics"],
        "args": [
            {"name": "service", "value": "podinfo"},
            {"name": "threshold", "value": "0.95"},
            {"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            {"name": "app", "value": "podinfo"},
        ],
        "dryRun": [{"metricName": "m"}],
        "measurementRetention": [{"metricName": "m", "limit": 5}],
        "terminate": True,
    }
    # The run is read back, and its arguments resolved at each measurement.
    run = validation.parse_run({"spec": spec})
    resolved = arguments.resolve_args(run.template.args, {}, secret=secrets, field=fields)
    (m,) = validation.metrics(run.template, resolved)
    assert m.config["headers"][0]["value"] == "s3cr3t-value" and m.dry_run and m.retention == 5
    with pytest.raises(arguments.ArgsError, match=r"args\.service was not resolved"):
        arguments.run_spec(validation.parse_template(obj), {})
