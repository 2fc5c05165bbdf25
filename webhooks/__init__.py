"""Ferry's public webhook endpoint (``ferry webhooks``): requests from outside (Slack's buttons
today) verified by their sender's receiver (``shared.receivers``), then carried out as a
command written by a Kubernetes identity through the API server, never by a side door."""
