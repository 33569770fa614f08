"""`flywheel bench groundtruth` at a toy size: it loads, times and checks what it claims (the speed goals themselves
are benchmarks, not tests). Its check is the one that matters here: after nights of new events spread over the
history's intents, the incremental run equals a full recompute."""

from __future__ import annotations

from flywheel_lab.bench.groundtruth import bench_one, per_event_ratio


def test_bench_groundtruth_runs_and_its_incremental_nights_equal_a_full_recompute(settings):
    small = bench_one(settings, 20_000, repeats=1, new_events=2_000)
    assert small.events == 20_000 and small.requests == 4_000 and small.gt_intents > 0
    assert small.incremental_rows  # the last night's rows equal a full recompute at its watermark
    assert len(small.incremental_nights_s) == 3  # the fastest night is the one reported
    assert abs(small.incremental_s - min(small.incremental_nights_s)) < 0.01
    # the new events continue the history: they touch its intents, not new ones
    assert 0 < small.incremental_intents <= small.intents
    larger = bench_one(settings, 40_000, repeats=1, new_events=0)
    assert larger.new_events == 0 and not larger.incremental_rows
    assert per_event_ratio([small, larger]) is not None
