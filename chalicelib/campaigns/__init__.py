"""Campaigns: one link and one text per recipient, sent in chunks from a queue, and
their statistics."""
