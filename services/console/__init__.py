"""The staff console and the member page: a small web service that speaks only the gateway's /v1 API."""
