"""What follows a click counted at the edge: the signed link.clicked webhooks."""
