"""Short links: the link item and its tombstone, the S3 redirect object, the API that
creates, lists, changes and deletes them, and their expiry."""
