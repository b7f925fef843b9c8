"""The API keys that guard /api (stored hashed) and the health report of /healthz."""
