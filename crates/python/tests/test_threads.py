"""The GIL is released while Rust works, and Ctrl-C stops a long diff within a second."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

import modeldiff
from conftest import real_model


def long_pair():
    return real_model("smollm2-135m-q4_1.gguf"), real_model("smollm2-135m-q8_0.gguf")


def test_another_thread_keeps_running_while_a_diff_runs():
    a, b = long_pair()
    result = {}

    def work():
        result["report"] = modeldiff.diff(a, b, threads=1)

    t = threading.Thread(target=work)
    count = 0
    start = time.perf_counter()
    t.start()
    while t.is_alive():
        count += 1
    elapsed = time.perf_counter() - start
    t.join()
    assert result["report"]["summary"]["compared"] > 0
    # Holding the GIL for the whole diff would leave this loop a handful of iterations (only
    # before the call starts and after it ends); released, it spins the whole time.
    assert count > 10_000, (count, elapsed)


def test_two_threads_diff_two_pairs_and_get_the_sequential_results(minilm_pair, gguf_pair):
    pairs = [minilm_pair, gguf_pair[:2]]
    sequential = [modeldiff.diff(a, b, threads=1) for a, b in pairs]
    results = [None, None]

    def work(i):
        results[i] = modeldiff.diff(*pairs[i], threads=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == sequential


def test_ctrl_c_interrupts_a_long_diff_within_a_second():
    a, b = long_pair()
    fired = {}

    def interrupt():
        fired["at"] = time.perf_counter()
        _thread.interrupt_main()  # as if Ctrl-C were pressed

    timer = threading.Timer(0.3, interrupt)
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        # Spectral metrics make this diff take many seconds with one thread.
        modeldiff.diff(a, b, threads=1, spectral=True)
        time.sleep(5)  # reached only if the diff finished first: the interrupt then lands here
    raised = time.perf_counter()
    timer.join()
    assert raised - start < 5, "the diff finished before the interrupt: the test proves nothing"
    assert raised - fired["at"] < 1.0, raised - fired["at"]
    # The module still works afterwards.
    assert modeldiff.inspect(a)["schema"] == "modeldiff.inspect.v1"
