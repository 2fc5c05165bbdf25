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
  each, knowing nothing of the rest of the package nor of one another;
- ``redaction``: secret arguments masked in any text, in every form a source may echo them.

Secrets: a run's secret arguments are read at each measurement and never stored. Whatever a
measurement's source said, and whatever was built from the arguments, reaches the run's record
(the state, the AnalysisRun, the Rollout, Events, notes) only through
``measurements.redacted``, which masks them (``redaction``) and bounds the message; providers
keep what a source said whole and apart (``ProviderError.detail``), and never cut or quote it.

Decisions are pure: everything but ``runs`` and ``providers`` does no I/O, reads no clock and
logs nothing (times come in as arguments, Secrets and fields through callbacks); ``redaction``
only wraps the logging module's record factory, so that records made while a provider works
are masked too. Only ``runs``
touches Kubernetes, the timers and the providers; only the providers reach a metric's source.
Nothing here imports ``functions`` or ``local``.

This ``__init__`` exports nothing: callers import the modules (``from shared.analysis import
model, validation``, then ``model.AnalysisPhase``, ``validation.parse_template``).
"""
