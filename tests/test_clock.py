import pytest

from sim.clock import VirtualClock


def test_actions_run_in_time_order_and_may_schedule_more():
    clock, seen = VirtualClock(0), []

    def act(name):
        seen.append((clock.now, name))
        if name == "a":
            clock.at(15, act, "c")

    clock.at(20, act, "b")
    clock.at(10, act, "a")
    clock.at(20, act, "b2")  # same time: scheduling order
    clock.run()
    assert seen == [(10, "a"), (15, "c"), (20, "b"), (20, "b2")]
    with pytest.raises(ValueError):
        clock.at(5, act, "late")
