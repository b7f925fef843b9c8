"""Click journeys without cookies: hyperlink-auditing pings, daily salts, flows, and
the demo site whose links carry ping attributes."""
