"""Analysis: AnalysisTemplates, AnalysisRuns and their metrics, from the spec to the verdict.

One module per concern, each importing only those listed after it (``.importlinter`` holds
the layers):

- ``runs``: a rollout's AnalysisRuns: starting them, taking one measurement, ending them;
- ``validation``: templates and runs read and checked, every problem with its field path;
  ``decisions``: a metric's and a run's phase, the next measurement's time, the run's status;
- ``arguments``: argument values, ``{{args.NAME}}``, ``fieldRef`` paths, a new run's spec;
  ``configs``: what each provider's block may say;
- ``measurements``: one measured value judged and recorded;
- ``model``: kinds, phases and the frozen dataclasses; ``fields``: reading one spec field;
- ``expressions``: the safe condition language (``successCondition``, ``failureCondition``);
  ``providers``: how one measurement is taken (``prometheus``, ``web``, ``job``), one module
  each, knowing nothing of the rest of the package nor of one another.

Decisions are pure: everything but ``runs`` and ``providers`` does no I/O, reads no clock and
logs nothing (times come in as arguments, Secrets and fields through callbacks). Only ``runs``
touches Kubernetes, the timers and the providers; only the providers reach a metric's source.
Nothing here imports ``functions`` or ``local``.

This ``__init__`` exports nothing: callers import the modules (``from shared.analysis import
model, validation``, then ``model.AnalysisPhase``, ``validation.parse_template``).
"""
