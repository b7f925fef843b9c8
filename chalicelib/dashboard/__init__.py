"""The operators' dashboard: a client of the HTTP API, served by the app."""
