"""A digit robustness suite that nophd builds itself, deterministic from a seed.

Three kinds of set, each with labels known by construction:

- `corruptions`: MNIST test digits under the fifteen corruptions of MNIST-C
  (Mu & Gilmer 2019) at MNIST-C's own severities;
- `fonts`: digits 0-9 rendered from every TrueType font on the machine with
  digit glyphs, in several weights and slants;
- `strokes`: digits drawn with round-capped strokes from hand-designed
  templates, as a mouse or a finger draws them on the dashboard's canvas.

`suite.build_suite` puts them together; `suite.evaluate` scores a model on
them. Only NumPy and Pillow are used (matplotlib only to find its fonts):
nothing here imports TensorFlow.

Example:
    from nophd.robustness import suite
    sets = suite.build_suite(test_images, test_labels, seed=0)
    result = suite.evaluate(lambda images: model.predict(images / 255.0), sets)
    print(result["mean_accuracy"])
"""
