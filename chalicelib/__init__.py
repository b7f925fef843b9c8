"""linktrail's application code, below the Chalice layer."""
