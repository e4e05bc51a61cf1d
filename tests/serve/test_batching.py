"""The micro-batcher: concurrent requests share one model call, each gets its own answer, one bad request fails alone."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from nophd.serve import batching, inference


def slow_double(inputs: np.ndarray) -> np.ndarray:
    time.sleep(0.02)  # Long enough for the other requests to queue behind the first call.
    if np.isnan(inputs).any():
        raise ValueError("NaN in the batch")
    return inputs.reshape(len(inputs), -1) * 2


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows():
    batcher = batching.Batcher(slow_double, threading.Lock(), max_batch=64, max_wait=0.01)
    requests = [np.full((1 + index % 3, 2), index, dtype=np.float32) for index in range(40)]
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda inputs: batcher.submit(inputs).result(timeout=30), requests))
    batcher.close()
    for inputs, outputs in zip(requests, results):
        np.testing.assert_array_equal(outputs, inputs * 2)
    assert batcher.calls < len(requests)  # Some requests shared a call.


def test_an_error_in_one_request_fails_only_that_request():
    batcher = batching.Batcher(slow_double, threading.Lock(), max_wait=0.01)
    requests = [np.full((1, 2), float(index), dtype=np.float32) for index in range(12)]
    requests[5] = np.array([[np.nan, 1.0]], dtype=np.float32)
    futures = [batcher.submit(inputs) for inputs in requests]
    for index, future in enumerate(futures):
        if index == 5:
            with pytest.raises(ValueError, match="NaN"):
                future.result(timeout=30)
        else:
            np.testing.assert_array_equal(future.result(timeout=30), requests[index] * 2)
    batcher.close()


def test_requests_of_different_shapes_are_not_mixed():
    batcher = batching.Batcher(slow_double, threading.Lock(), max_wait=0.01)
    small, large = np.ones((1, 2), np.float32), np.ones((1, 3), np.float32)
    futures = [batcher.submit(small), batcher.submit(large), batcher.submit(small)]
    assert [future.result(timeout=30).shape for future in futures] == [(1, 2), (1, 3), (1, 2)]
    batcher.close()
    with pytest.raises(RuntimeError, match="unloaded"):
        batcher.submit(small).result(timeout=5)


def test_a_model_s_batched_answers_equal_direct_calls(served_runs):
    from nophd.data import images

    model = inference.ModelCache().get(served_runs / "digits")
    digits = [images.to_mnist(images.render_digit(digit, images.font_paths()[0])) for digit in range(10)]
    inputs = [np.asarray(digit, np.float32)[np.newaxis, ..., np.newaxis] for digit in digits]
    direct = [model.predictor.predict_inputs(single) for single in inputs]  # Keras' own model.predict.
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        batched = list(pool.map(lambda single: model.batcher.submit(single).result(timeout=60), inputs))
    for expected, got in zip(direct, batched):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert len({int(np.argmax(row)) for row in batched}) > 1  # Different inputs, different answers.
