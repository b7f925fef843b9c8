"""The operator CLI, `linktrail` on the PATH (python -m cli). It talks to the HTTP API
and, for API keys, to the app table; it is not part of the Lambda package.

- main.py: the argument parser and the entry point (one line on stderr per failure)
- api.py: the HTTP client and how a problem answer reads as one line
- keys.py: `keys create|list|revoke`, on DynamoDB directly
- links.py, campaigns.py: `links ...` and `campaign send`, through the API
"""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
