"""One soak run: the stack, the load and the faults together, then settling, the checks
and the table."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from local.launch import start_local_stack, stop_local_stack
from local.soak import invariants, schedule
from local.soak.invariants import Check, Stackside
from local.soak.ledger import Ledger
from local.soak.load import Load, Workers
from local.soak.receiver import Receiver
from local.soak.report import table

SETTLE_SECONDS = 120.0  # at most, after the load, for the queues, resends and receipts


@dataclass(frozen=True)
class Plan:
    duration: float = 300.0
    max_requests: int = 200_000
    seed: int = 1
    workers: Workers = field(default_factory=Workers)


@dataclass(frozen=True)
class Outcome:
    checks: list[Check]
    table: str
    ledger: Ledger
    injected: schedule.Injected

    @property
    def held(self) -> bool:
        return all(check.failure is None for check in self.checks)


def soak(plan: Plan, state_dir: Path, out: TextIO) -> int:
    """The whole run, printed to `out`; 0 when every invariant held, else 1."""
    outcome = run(plan, state_dir, out)
    out.write(outcome.table + "\n")
    out.write("soak: every invariant holds\n" if outcome.held
              else "soak: INVARIANTS FAILED (above)\n")
    out.flush()
    return 0 if outcome.held else 1


def run(plan: Plan, state_dir: Path, out: TextIO) -> Outcome:
    started = time.monotonic()
    stack = start_local_stack(state_dir)
    out.write(f"soak: stack up in {time.monotonic() - started:.0f} s ({state_dir}); "
              f"{plan.duration:.0f} s of load at most, {plan.max_requests} requests at most, "
              f"seed {plan.seed}\n")
    out.flush()
    ledger = Ledger()
    stop = threading.Event()
    injected = schedule.Injected()
    receiver = Receiver((state_dir / "webhook-secret").read_text().strip(), plan.seed)
    receiver.start()
    try:
        schedule.start_service_faults(stack)
        load = Load(stack, ledger, plan.seed, stop, plan.max_requests, receiver.url)
        threads = load.threads(plan.workers)
        threads.append(threading.Thread(
            target=schedule.run_schedule, args=(stack, plan.duration, stop, injected),
            daemon=True, name="soak-faults"))
        load_started = time.monotonic()
        for thread in threads:
            thread.start()
        stop.wait(plan.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        load_seconds = time.monotonic() - load_started
        schedule.stop_faults(stack)
        out.write(f"soak: load stopped after {load_seconds:.0f} s; settling\n")
        out.flush()

        side = Stackside(stack)
        deadline = time.monotonic() + SETTLE_SECONDS
        drained = invariants.drain(side, deadline)
        invariants.resend_refused(side, ledger)
        invariants.await_receipts(side, deadline)
        invariants.await_endings(side, deadline)
        drained = invariants.drain(side, deadline) and drained
        schedule.collect(stack, injected)
        injected.webhooks = dict(receiver.answers)
        checks = invariants.check_all(side, ledger, receiver)
        if not drained:
            checks.append(Check("the stack settled", f"within {SETTLE_SECONDS:.0f} s",
                                f"queues or campaigns still busy: {side.queue_depths()}"))
        out.write(f"soak: settled and checked in {time.monotonic() - started:.0f} s in all\n")
        rows = sum(side.warehouse().values())
        return Outcome(checks, table(ledger, injected, checks, load_seconds, rows),
                       ledger, injected)
    finally:
        stop.set()
        stop_local_stack(stack.process)
        receiver.stop()
