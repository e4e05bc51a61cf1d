"""Micro-batching: concurrent predictions for one model run as one compiled call.

A web server gets predictions one picture at a time, from many clients at
once. Calling the model once per picture wastes most of each call on
overhead; TF Serving's answer is a queue per model that gathers requests for
a few milliseconds and runs them as one batch. `Batcher` does that: callers
`submit` inputs already prepared (decoding and preprocessing happen before,
outside any lock), a single worker thread per model takes what is queued
(waiting at most `max_wait` seconds for more, up to `max_batch` rows), runs
one call under the model's lock, and hands each caller its own rows.

A batch whose call fails is run again one request at a time, so an input
that breaks the model fails only its own request.

Example:
    batcher = Batcher(lambda inputs: model(inputs).numpy(), threading.Lock())
    probabilities = batcher.submit(digits).result()        # from a thread
    probabilities = await batcher.predict(digits)          # from asyncio
    batcher.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from typing import Callable

import numpy as np

# Rows per call: a batch of 64 small digits costs barely more than one.
DEFAULT_MAX_BATCH = 64
# How long the worker waits for more requests once it has one, in seconds.
DEFAULT_MAX_WAIT = 0.003

_STOP = object()


class Batcher:
    """One worker thread that runs queued inputs through `call` in batches.

    Args:
        call: float32 (N, ...) -> (N, classes), the model's compiled call.
        lock: taken around each call (the model's lock, shared with other users of the model).
        max_batch: the most rows in one call (one request larger than this runs alone).
        max_wait: seconds to wait for more requests after the first.
        name: the worker thread's name.
    """

    def __init__(self, call: Callable[[np.ndarray], np.ndarray], lock: threading.Lock, *,
                 max_batch: int = DEFAULT_MAX_BATCH, max_wait: float = DEFAULT_MAX_WAIT, name: str = "nophd-batcher"):
        self.call = call
        self.lock = lock
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.name = name
        self.calls = 0  # Model calls made, for tests and benchmarks.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, inputs: np.ndarray) -> concurrent.futures.Future:
        """Queues (N, ...) inputs; the future's result is their (N, classes) outputs."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the model was unloaded; send the request again"))
            return future
        self._ensure_worker()
        self._queue.put((np.asarray(inputs), future))
        return future

    async def predict(self, inputs: np.ndarray) -> np.ndarray:
        """`submit` for asyncio callers: awaits the outputs without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(inputs))

    def close(self) -> None:
        """Stops the worker after the requests already queued."""
        self._closed = True
        self._queue.put(_STOP)

    def _ensure_worker(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    self._thread.start()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, rows, stop = [first], len(first[0]), False
            deadline = time.monotonic() + self.max_wait
            while rows < self.max_batch:
                try:
                    # Take what is already queued at once; wait (briefly) only when nothing is.
                    item = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
                rows += len(item[0])
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[tuple[np.ndarray, concurrent.futures.Future]]) -> None:
        batch = [(inputs, future) for inputs, future in batch if future.set_running_or_notify_cancel()]
        if not batch:
            return
        shapes = {inputs.shape[1:] for inputs, _ in batch}
        if len(batch) > 1 and len(shapes) == 1:
            try:
                outputs = self._call(np.concatenate([inputs for inputs, _ in batch]))
            except Exception:  # noqa: BLE001 - run them one by one: only the guilty request fails.
                pass
            else:
                start = 0
                for inputs, future in batch:
                    future.set_result(outputs[start:start + len(inputs)])
                    start += len(inputs)
                return
        for inputs, future in batch:
            try:
                future.set_result(self._call(inputs))
            except Exception as error:  # noqa: BLE001 - the caller gets its own error.
                future.set_exception(error)

    def _call(self, inputs: np.ndarray) -> np.ndarray:
        with self.lock:
            self.calls += 1
            outputs = np.asarray(self.call(inputs))
        if outputs.shape[0] != inputs.shape[0]:
            raise RuntimeError(f"the model returned {outputs.shape[0]} rows for {inputs.shape[0]} inputs")
        return outputs
