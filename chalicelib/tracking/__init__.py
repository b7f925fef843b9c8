"""Own event tracking: the /events collector, CORS, identities (anonymous id to user
id), and the forwarder that loads events into Stitch."""
