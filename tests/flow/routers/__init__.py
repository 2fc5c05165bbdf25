"""Each traffic router end to end on the local runtime, against the upstream CRDs."""
