"""Ferry's command-line programs: ``ferry`` and ``kubectl ferry``.

They sit on top: they may import ``functions`` and ``shared``, and nothing imports them.
``kubectl_ferry`` speaks to the Kubernetes API only (a person's tool: RBAC decides what they
may do). ``ferry`` holds the commands production needs (``ferry serve``, the entry point of
every Knative Service, and ``ferry manifests``); the embedded local runtime adds its own
commands (``up``, ``sim``, ``demo``) through the ``ferry.commands`` entry point group, so
nothing here imports ``local`` and an installation without it still serves functions.
"""
