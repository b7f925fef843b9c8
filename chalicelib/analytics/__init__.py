"""Click analytics: hourly and daily rollups of the links stream, and their queries."""
