"""The soak's table: requests per route with p50/p99 latencies, the errors the clients
met (and retried past), the faults injected, and each invariant with its figures."""

from __future__ import annotations

from collections.abc import Iterable

from local.soak.invariants import Check
from local.soak.ledger import Ledger
from local.soak.schedule import Injected


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def table(ledger: Ledger, injected: Injected, checks: Iterable[Check], seconds: float,
          warehouse_rows: int) -> str:
    lines = [f"{'route':<22}{'answered':>9}{'p50 ms':>9}{'p99 ms':>9}"]
    for route, values in sorted(ledger.latencies.items()):
        lines.append(f"{route:<22}{len(values):>9}{percentile(values, 0.5) * 1000:>9.0f}"
                     f"{percentile(values, 0.99) * 1000:>9.0f}")
    answered = sum(len(values) for values in ledger.latencies.values())
    lines.append(f"{'all':<22}{answered:>9}   ({ledger.sent} sent, {seconds:.0f} s of load)")
    lines += ["", "errors the clients met (and retried past):"]
    errors = sorted(ledger.errors.items())
    lines += [f"  {route:<22}{kind:<26}{n:>6}" for (route, kind), n in errors]
    if not ledger.errors:
        lines.append("  none")
    lines += [
        "", "faults injected (and survived):",
        f"  {'Stitch sink answers':<30}{_pairs(injected.stitch)}",
        f"  {'Stitch records stored':<30}{injected.stitch_records_stored} for "
        f"{warehouse_rows} warehouse rows (the rest sent again after a hang, kept once by key)",
        f"  {'Vonage fake answers':<30}{_pairs(injected.vonage)}",
        f"  {'Webhook receiver answers':<30}{_pairs(injected.webhooks)}",
        f"  {'DynamoDB throttles':<30}{injected.dynamodb_throttles} in a "
        f"{injected.throttle_window:.0f} s window",
    ]
    for name, seconds_taken in injected.restart_seconds.items():
        lines.append(f"  {'SIGKILL + restart ' + name:<30}healthy again in {seconds_taken:.1f} s")
    lines += ["", "invariants:"]
    for check in checks:
        lines.append(f"  {'FAILED' if check.failure else 'ok':<7}{check.name}: {check.figure}")
        if check.failure:
            lines.append(f"         {check.failure}")
    return "\n".join(lines)
