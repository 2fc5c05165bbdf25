"""Which transitions are milestones (Normal Events): a canary's life, transition by transition.

Covered: a new revision, each completed step, a pause and its resume, the promotion and the
completion are named with Argo Rollouts' reasons; a transition inside a step (analysis
running), an abort (the aborting function warns itself), an invalid spec, a first state and a
deletion are not milestones; a rollback to the stable template is.
"""

from __future__ import annotations

from shared.events import RolloutRef
from shared.milestones import message, milestone
from shared.state import RolloutState, Stage

REF = RolloutRef("shop", "web")


def state(stage: Stage, step: int = 0, canary: str = "b", version: int = 1) -> RolloutState:
    return RolloutState(
        REF.namespace,
        REF.name,
        version=version,
        stage=stage,
        step=step,
        stable_revision="a",
        canary_revision=canary,
    )


def test_a_canary_life() -> None:
    healthy = state(Stage.HEALTHY, canary="")
    life = [
        (healthy, state(Stage.SCALING), "RolloutUpdated"),
        (state(Stage.SCALING), state(Stage.STEPPING), None),
        (state(Stage.STEPPING, 0), state(Stage.STEPPING, 1), "RolloutStepCompleted"),
        (state(Stage.STEPPING, 1), state(Stage.PAUSED, 1), "RolloutPaused"),
        (state(Stage.PAUSED, 1), state(Stage.STEPPING, 2), "RolloutResumed"),
        (state(Stage.STEPPING, 2), state(Stage.ANALYZING, 2), None),
        (state(Stage.ANALYZING, 2), state(Stage.PROMOTING, 3), "RolloutPromoting"),
        (state(Stage.PROMOTING, 3), state(Stage.HEALTHY, 3, canary=""), "RolloutCompleted"),
    ]
    for old, new, reason in life:
        assert milestone(old, new) == reason, (old.stage, new.stage)


def test_what_is_not_a_milestone_and_a_rollback() -> None:
    assert milestone(state(Stage.PAUSED, 1), state(Stage.ABORTED, 1)) is None
    assert milestone(state(Stage.HEALTHY), state(Stage.INVALID)) is None
    assert milestone(RolloutState(REF.namespace, REF.name), state(Stage.INITIALIZING)) is None
    assert milestone(state(Stage.HEALTHY), None) is None
    assert milestone(state(Stage.PAUSED, 1), state(Stage.HEALTHY, 1, canary="")) == (
        "RolloutRolledBack"
    )


def test_a_completed_step_says_which() -> None:
    old = state(Stage.STEPPING, 1)
    assert message("RolloutStepCompleted", old, "step 3/4") == "step 2 completed; step 3/4"
    assert message("RolloutPaused", old, "step 2/4: paused") == "step 2/4: paused"
