"""Ferry's deployment manifests in ``knative/``: well formed, consistent with the code, accepted
by the real schemas, generated where they would repeat themselves, installable with kubectl.

``helpers`` reads the manifests and checks fields; ``objects`` holds the Rollouts and analysis
objects the tests try out; ``conftest`` starts the simulator with the upstream Knative CRDs and
Ferry's CRDs installed, once for the package.
"""
