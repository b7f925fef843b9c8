"""HTTP as the soak's clients send it: a request that got no answer, a 5xx or a 429 is
sent again (the same body and headers, so the same ids and Idempotency-Key) after a
doubling pause, as a well-behaved client does; every answer's latency and every failure
go to the ledger."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from local.soak.ledger import Ledger

ATTEMPTS = 6
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class Client:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def once(
        self, route: str, method: str, url: str, headers: dict[str, str],
        body: bytes | None = None,
    ) -> Answer | None:
        """One request; None when no answer came (counted as an error of its kind)."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.ledger.sending()
        started = time.monotonic()
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT_SECONDS
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, response.read())
        except (OSError, http.client.HTTPException) as error:
            self.ledger.failed(route, type(error).__name__)
            return None
        finally:
            connection.close()
        self.ledger.answered(route, time.monotonic() - started)
        return answer

    def send(
        self, route: str, method: str, url: str, headers: dict[str, str],
        body: bytes | None = None, ok: tuple[int, ...] = (200,), *,
        again: tuple[int, ...] = (429,),
    ) -> tuple[Answer | None, int]:
        """The request until an answer in `ok`, a 4xx not in `again`, or ATTEMPTS tries.
        Returns the last answer when it was in `ok` (else None) and how many attempts
        are in doubt: unanswered or answered 5xx, each may have been done by the stack."""
        doubtful = 0
        for attempt in range(ATTEMPTS):
            answer = self.once(route, method, url, headers, body)
            if answer is not None and answer.status in ok:
                return answer, doubtful
            if answer is None or answer.status >= 500:
                doubtful += 1
            if answer is not None:
                self.ledger.failed(route, str(answer.status))
                if answer.status < 500 and answer.status not in again:
                    return None, doubtful
            time.sleep(min(0.25 * 2**attempt, 4.0))
        return None, doubtful
