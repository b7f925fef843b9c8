"""The HTTP API's contract: the OpenAPI 3.1 document assembled from every feature's
part, and /docs, which renders it."""
