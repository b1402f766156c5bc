from __future__ import annotations

from bot.outbox import Outbox, retry_rule


def no_retry(_exc: Exception) -> float | None:
    return None


async def test_jobs_run_and_transient_failures_are_retried() -> None:
    outbox = Outbox("t", lambda exc: 0.0 if isinstance(exc, ConnectionError) else None, workers=1)
    outbox.start()
    attempts: list[str] = []

    async def flaky() -> None:
        attempts.append("flaky")
        if len(attempts) < 3:
            raise ConnectionError("down")

    async def broken() -> None:
        attempts.append("broken")
        raise ValueError("permanent")

    outbox.send("flaky", flaky)
    outbox.send("broken", broken)
    await outbox.join()
    assert attempts == ["flaky", "flaky", "flaky", "broken"]  # permanent errors are not retried
    assert outbox.retries == 2  # for barrage_platform_retries_total
    await outbox.close()


async def test_a_full_outbox_refuses_instead_of_growing() -> None:
    outbox = Outbox("t", no_retry, maxsize=2, workers=1)  # not started: nothing drains it

    async def job() -> None:
        return None

    assert [outbox.send(f"j{i}", job) for i in range(4)] == [True, True, False, False]
    assert outbox.dropped == 2
    assert outbox.waiting == 2  # barrage_outbound_queue


def test_the_retry_rule_waits_as_asked_refuses_refusals_and_retries_the_network() -> None:
    class Limited(Exception):
        pass

    class Refused(ConnectionError):  # a refusal may subclass a network error (PTB's BadRequest does)
        pass

    rule = retry_rule(lambda exc: 7.0 if isinstance(exc, Limited) else None, (Refused,), (ConnectionError,))
    assert rule(Limited()) == 7.0
    assert rule(Refused()) is None
    assert rule(ConnectionError()) == 1.0
    assert rule(ValueError()) is None
