"""fit_epochs reads its training stream without tf.data's autotune thread, in the same order."""

import numpy as np

from nophd.data import pipeline
from nophd.training import loop


def _records():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    return pipeline.mnist_arrays(images, (np.arange(50) % 10).astype(np.uint8))


def _batches(dataset, count):
    batches = list(dataset.take(count).as_numpy_iterator())
    return np.concatenate([images for images, _ in batches]), np.concatenate([labels for _, labels in batches])


def test_the_stream_without_the_autotune_thread_keeps_its_order():
    # An autotuned stream's iterator can keep `fit` waiting up to 60 s at its
    # end (loop.without_autotune_thread); switching autotuning off must not
    # change which examples come in which order, nor how they are shifted. Two streams of their own:
    # one dataset object reshuffles on its second pass.
    tuned = pipeline.training_dataset(_records(), 10, True, seed=3, shift_pixels=2)
    untuned = loop.without_autotune_thread(pipeline.training_dataset(_records(), 10, True, seed=3, shift_pixels=2))
    assert tuned.options().autotune.enabled is not False
    assert untuned.options().autotune.enabled is False
    (untuned_images, untuned_labels), (tuned_images, tuned_labels) = _batches(untuned, 15), _batches(tuned, 15)
    np.testing.assert_array_equal(untuned_labels, tuned_labels)
    np.testing.assert_array_equal(untuned_images, tuned_images)  # The same shifts too.


def test_fit_epochs_hands_fit_the_stream_without_the_autotune_thread(tmp_path):
    from nophd import config as config_module, presets
    from nophd.models import registry

    config = config_module.override(presets.preset("dense1"), epochs=1)
    model = registry.build(config.model, tiny=True)
    loop.compile_model(model, config)
    seen = []
    model.fit = lambda dataset, **options: seen.append(dataset.options().autotune.enabled)
    loop.fit_epochs(model, tmp_path, config, pipeline.training_dataset(_records(), 10, True, seed=0), None,
                    steps_per_epoch=5, validation_steps=None, initial_epoch=0, final_epoch=1, history_rows=[],
                    wall_before=0.0, progress=False)
    assert seen == [False]
