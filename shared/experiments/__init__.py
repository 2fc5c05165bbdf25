"""Experiments (Argo Rollouts' ``Experiment``): several versions side by side for a while.

- ``spec``: the Experiment's spec, parsed and validated; its phases, labels and names.
- ``stacks``: what an experiment runs (one Deployment per template, a Service where asked),
  and each template's status read from its Deployment. Pure.
- ``steps``: the Experiment a Rollout's ``experiment`` step creates (its templates the stable
  or canary revision's Pods, kept out of every Service of the rollout).
- ``runner``: one look at an experiment (create, observe, analyse, end, remove), committed
  with compare-and-set in its own state (``shared.state.ExperimentState``).

An Experiment's progress lives in Redis like a rollout's; the object's status is its mirror.
Nothing here writes what carries a rollout's traffic.
"""
