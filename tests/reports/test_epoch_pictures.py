"""EpochPictures draws each epoch's pictures off the training thread, in order, skipping drawings overtaken by newer ones."""

import threading

import pytest

from nophd.reports import artifacts


def test_a_drawing_overtaken_by_a_newer_epoch_is_skipped_and_the_last_is_always_drawn(tmp_path):
    drawn = []
    started, release = threading.Event(), threading.Event()

    def draw(run_directory, rows):
        started.set()
        release.wait(timeout=10)
        drawn.append(len(rows))

    pictures = artifacts.EpochPictures(tmp_path, None, draw=draw)
    pictures.submit([{"epoch": 1}])
    assert started.wait(timeout=10)
    for epoch in range(2, 6):
        pictures.submit([{"epoch": number} for number in range(1, epoch + 1)])
    release.set()
    pictures.close()
    # The first was already drawing; 2-4 were overtaken while they waited; 5 is the latest.
    assert drawn == [1, 5]


def test_an_error_in_a_drawing_reaches_close(tmp_path):
    drawn = []

    def draw(run_directory, rows):
        if len(rows) == 2:
            raise OSError("disk full")
        drawn.append(len(rows))

    pictures = artifacts.EpochPictures(tmp_path, None, draw=draw)
    pictures.submit([{"epoch": 1}])
    pictures.close()
    assert drawn == [1]

    pictures = artifacts.EpochPictures(tmp_path, None, draw=draw)
    pictures.submit([{"epoch": 1}, {"epoch": 2}])
    with pytest.raises(OSError, match="disk full"):
        pictures.close()
