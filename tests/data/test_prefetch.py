import threading
import time

import pytest

from cnn.data.prefetch import Prefetcher


def test_items_arrive_transformed_and_in_order():
    with Prefetcher(iter(range(50)), lambda x: x * x, size=3) as items:
        assert list(items) == [x * x for x in range(50)]


def test_the_producer_runs_ahead_by_at_most_size_items():
    produced = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    with Prefetcher(source(), size=2) as items:
        assert next(items) == 0
        time.sleep(0.3)
        # One handed out, two queued, and one more read and waiting for room.
        assert len(produced) <= 4


def test_an_error_in_the_source_is_raised_in_the_consumer():
    def source():
        yield 1
        raise OSError("disk gone")

    with Prefetcher(source()) as items:
        assert next(items) == 1
        with pytest.raises(OSError, match="disk gone"):
            next(items)


def test_close_stops_an_endless_producer():
    def endless():
        while True:
            yield 0

    items = Prefetcher(endless(), size=1)
    next(items)
    items.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
