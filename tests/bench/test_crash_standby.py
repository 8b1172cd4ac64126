"""`bench --crash-standby`: only the turns the killed worker held count toward crash recovery."""

from __future__ import annotations

from threadloom.benchmarks.crash import Kill, TurnRecord, held_by_the_killed_worker
from threadloom.workflows.contracts import TurnRequest, UserMessage


def _record(name: str) -> TurnRecord:
    request = TurnRequest(
        thread_id=f"thread_{name}", assistant_id="asst_1", message=UserMessage(text=name)
    )
    return TurnRecord(f"thread_{name}", name, request)


def test_a_turn_counts_only_if_the_killed_worker_took_one_of_its_tasks_before_the_kill() -> None:
    on_killed, on_standby, after_restart = _record("a"), _record("b"), _record("c")
    kill = Kill(planned_ms=1000, identity="111@host", wall_s=100.0)
    kill.hit = [on_killed, on_standby, after_restart]
    starts = {
        # its first workflow task on the killed worker, then (sticky) the wait on the standby
        id(on_killed): [("111@host", 99.0), ("222@host", 99.5)],
        id(on_standby): [("222@host", 98.0), ("222@host", 99.9)],
        # a task that identity took only after the kill (a reused pid): not the dead worker's
        id(after_restart): [("222@host", 99.0), ("111@host", 101.0)],
    }

    assert held_by_the_killed_worker(kill, starts) == [on_killed]
