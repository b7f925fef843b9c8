"""`make soak`: the whole local stack under concurrent load while things fail, and at the
end a proof that nothing was lost or doubled.

    python -m local.soak [--duration 300] [--max-requests 200000] [--seed 1]

It starts its own stack through `make dev`'s entry point (local.launch: free loopback
ports, a fresh state directory) and runs, in threads (load.py): people and link-preview
bots clicking links on the short domain; link creation, some links texted, some with a
click webhook to a loopback receiver (receiver.py, refusing 10%), some expiring or used up
mid-run; campaigns;
/events posts (analytics.js's shape) and /v1/batch posts (Segment's, with the stack's
write key); /ping hops from several visitors. The Vonage fake posts its signed receipts
as it does in `make dev`.

Meanwhile (schedule.py) the Stitch sink fails 30% of requests (500, 503, or a hang past
the app's timeout after storing the rows), the Vonage fake answers 20% 500 and 5% 429
with Retry-After, the app server and the pumps are each SIGKILLed and restarted once, and
DynamoDB throttles 30% of the app's and the pumps' calls for a minute (a quarter of a
shorter run).

Then the faults stop, the clients resend the texts Vonage refused (as a person would with
POST /api/links/{code}/resend), the queues drain, and invariants.py checks what the
stack holds against what the clients were told (ledger.py): clicks, their rollups, their
warehouse rows and webhooks, events, links and their redirects, texts per recipient,
campaigns, hops, dead letters. report.py prints the table;
the exit status is 1 when any invariant failed.
"""
