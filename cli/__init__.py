"""The operator CLI, `linktrail` on the PATH (python -m cli). It talks to the HTTP API
and, for API keys, to the app table; it is not part of the Lambda package."""
