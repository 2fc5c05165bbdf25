"""The canary flow end to end, through the broker and the HTTP functions, as in the demo."""

from __future__ import annotations

from shared.state import Stage
from tests.flow.conftest import Demo


def test_a_new_image_is_promoted_step_by_step(podinfo: Demo) -> None:
    podinfo.create(steps=[{"setWeight": 20}, {"pause": {"duration": "1s"}}, {"setWeight": 50}])
    first = podinfo.wait(Stage.HEALTHY)
    assert podinfo.weight() == 0
    revision = podinfo.set_image("podinfo:2")
    assert revision != first.stable_revision
    done = podinfo.wait(Stage.HEALTHY, stable_revision=revision)
    assert done.weight == 0 and done.canary_revision == ""
    notes = [entry["note"] for entry in podinfo.history()]
    assert "step 1/3: canary weight 20%" in notes
    assert "step 3/3: canary weight 50%" in notes
    assert len(notes) == len(set(zip(notes, [e["id"] for e in podinfo.history()], strict=True)))
