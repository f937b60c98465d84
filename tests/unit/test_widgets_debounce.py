"""The search box's debouncer: one call after the last trigger, on a loop or a timer thread."""

from __future__ import annotations

import asyncio
import threading
import time

from jwstnb.widgets._debounce import Debouncer


def test_zero_delay_calls_at_once() -> None:
    calls: list[int] = []
    debouncer = Debouncer(lambda: calls.append(1), 0)
    debouncer.trigger()
    debouncer.trigger()
    assert calls == [1, 1]
    assert not debouncer.pending


def test_bursts_collapse_into_one_call_on_a_timer_thread() -> None:
    done = threading.Event()
    calls: list[float] = []

    def fn() -> None:
        calls.append(time.monotonic())
        done.set()

    debouncer = Debouncer(fn, 0.15)
    start = time.monotonic()
    last = start
    for _ in range(5):
        debouncer.trigger()
        last = time.monotonic()
        time.sleep(0.02)
    assert debouncer.pending and calls == []
    assert done.wait(5)
    time.sleep(0.3)  # nothing else fires later
    assert len(calls) == 1
    assert calls[0] - last >= 0.14
    assert calls[0] - start >= 0.2


def test_cancel_and_flush() -> None:
    calls: list[int] = []
    debouncer = Debouncer(lambda: calls.append(1), 10)
    debouncer.trigger()
    debouncer.cancel()
    assert not debouncer.pending
    debouncer.trigger()
    debouncer.flush()
    assert calls == [1]
    assert not debouncer.pending
    debouncer.flush()
    assert calls == [1]


def test_on_a_kernel_loop_the_call_runs_on_the_loop_thread() -> None:
    seen: list[threading.Thread] = []

    async def main() -> None:
        debouncer = Debouncer(
            lambda: seen.append(threading.current_thread()), 0.05, use_loop=True
        )
        debouncer.trigger()
        debouncer.trigger()
        assert debouncer.pending
        await asyncio.sleep(0.2)
        assert not debouncer.pending

    asyncio.run(main())
    assert seen == [threading.main_thread()]


def test_outside_a_kernel_a_running_loop_is_not_relied_on() -> None:
    # Not in a Jupyter kernel: the timer thread fires even if the loop stops running.
    done = threading.Event()

    async def main() -> Debouncer:
        debouncer = Debouncer(done.set, 0.05)
        debouncer.trigger()
        return debouncer

    asyncio.run(main())  # the loop is gone before the delay ends
    assert done.wait(5)
