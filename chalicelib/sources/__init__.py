"""Sources: the write keys Segment's libraries send with, and the Tracking API (/v1)."""
