"""Reading the notification configuration: services, Secret references, subscriptions from the
ConfigMap and the Rollout's annotations, and what is wrong with them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared import subscriptions
from shared.subscriptions import Subscription

SECRET = {"slack-token": "xoxb-secret-value", "hook": "https://ci.example/hook?key=k3y"}


def rollout(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None):
    return {"metadata": {"annotations": annotations or {}, "labels": labels or {}}}


def read(data: dict[str, str] | None, obj: dict[str, Any], secret: Any = SECRET):
    return subscriptions.read(data, lambda: secret, obj)


def test_services_resolve_secret_references_and_take_their_names() -> None:
    setup = read(
        {
            "service.slack": "token: $slack-token\nmentions: ['<!here>']\n",
            "service.webhook.ci": "url: $hook\nheaders:\n  - name: X-Team\n    value: web\n",
        },
        rollout(),
    )
    assert setup.problems == ()
    assert setup.services["slack"].config["token"] == "xoxb-secret-value"
    assert setup.services["slack"].mentions == ("<!here>",)
    assert setup.services["ci"].type == "webhook"
    assert setup.services["ci"].config["url"] == SECRET["hook"]


def test_annotations_and_defaults_merge_per_recipient() -> None:
    data = {
        "service.slack": "token: $slack-token",
        "subscriptions": (
            "- recipients: [slack:releases]\n"
            "  triggers: [on-rollout-aborted]\n"
            "- recipients: [slack:other]\n"
            "  triggers: [on-rollout-completed]\n"
            "  selector: team=payments\n"
        ),
    }
    obj = rollout(
        {
            "notifications.ferry.dev/subscribe.on-rollout-updated.slack": "releases; ops",
            "notifications.ferry.dev/mentions.slack": "<@U1> <!subteam^S2>",
        },
        labels={"team": "search"},
    )
    setup = read(data, obj)
    assert setup.problems == ()
    assert setup.subscriptions == (
        Subscription("slack", "ops", frozenset({"on-rollout-updated"})),
        Subscription("slack", "releases", frozenset({"on-rollout-aborted", "on-rollout-updated"})),
    )
    assert setup.services["slack"].mentions == ("<@U1>", "<!subteam^S2>")


def test_what_is_wrong_is_said_and_left_out_without_secrets() -> None:
    data = {
        "service.pagerduty": "key: 1",
        "service.slack": "token: $missing",
        "service.teams": "recipientUrls: {a: $hook}",
        "subscriptions": "- recipients: [teams:a]\n  triggers: [on-rollout-exploded]\n",
    }
    obj = rollout({"notifications.ferry.dev/subscribe.on-rollout-aborted.slack": "x"})
    setup = read(data, obj)
    text = "\n".join(setup.problems)
    assert "unknown notification service 'pagerduty'" in text
    assert "has no key 'missing'" in text
    assert "unknown trigger 'on-rollout-exploded'" in text
    assert "no service 'slack'" in text
    assert set(setup.services) == {"teams"} and setup.subscriptions == ()
    assert "k3y" not in text and "xoxb" not in text


def test_the_secret_is_read_only_when_a_value_names_it() -> None:
    reads: list[int] = []

    def secret() -> dict[str, str]:
        reads.append(1)
        return SECRET

    subscriptions.read({"service.webhook": "url: https://x.example/"}, secret, rollout())
    assert reads == []
    setup = subscriptions.read({"service.slack": "token: $slack-token"}, lambda: None, rollout())
    assert "missing or Ferry may not read it" in setup.problems[0]


def test_no_config_map_means_no_subscriptions() -> None:
    obj = rollout({"notifications.ferry.dev/subscribe.on-rollout-aborted.slack": "x"})
    setup = read(None, obj)
    assert setup.subscriptions == () and "no service 'slack'" in setup.problems[0]


@given(st.text(max_size=200))
def test_any_text_as_configuration_is_read_or_refused_never_raises(text: str) -> None:
    setup = read(
        {"service.slack": text, "subscriptions": text},
        rollout({"notifications.ferry.dev/subscribe." + text[:20]: text}),
    )
    assert isinstance(setup.problems, tuple)


def test_selectors() -> None:
    labels = {"app": "podinfo", "team": "search"}
    assert subscriptions.selects("app=podinfo,team!=payments", labels) is True
    assert subscriptions.selects("app==other", labels) is False
    assert subscriptions.selects("team", labels) is True
    assert subscriptions.selects("!team", labels) is False
    assert subscriptions.selects("=x", labels) is None
    assert subscriptions.selects("", labels) is True


def test_the_example_configuration_reads_without_a_problem() -> None:
    from pathlib import Path

    import yaml as pyyaml

    from webhooks import people

    path = Path(__file__).parents[2] / "knative" / "examples" / "notifications.yaml"
    config, users = [d for d in pyyaml.safe_load_all(path.read_text()) if d]
    secret = {"slack-token": "xoxb-1", "teams-releases-url": "https://t.example/", "ci-token": "c"}
    shop = rollout(labels={"app.kubernetes.io/part-of": "shop"})
    setup = read(config["data"], shop, secret)
    assert setup.problems == ()
    assert set(setup.services) == {"slack", "teams", "ci"}
    assert {s.key for s in setup.subscriptions} == {"slack:releases", "teams:releases", "ci:"}
    assert people.parse(users["data"]) == {
        "U012AB3CD": people.Identity("alice@example.com"),
        "U045EF6GH": people.Identity("bob@example.com", ("platform",)),
    }
