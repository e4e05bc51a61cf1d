"""`nophd serve`: a local web dashboard and prediction server over a folder of runs.

- `catalog`: finds the run folders under RUNS_DIR (and one level down, where
  a ladder keeps its rungs) and reads them defensively, so that a corrupt or
  half-written folder is shown as such instead of breaking a page.
- `inference`: models loaded once and cached, uploads decoded and checked,
  predictions serialized per model, misclassified test digits.
- `app`: the Starlette application: the pages, the REST API, one-line JSON errors.
- `defaults`: the address and port served unless told otherwise.
- `server`: binds the address and serves until Ctrl-C (`nophd serve`, in
  nophd.cli.serve, calls it).

The pages are plain HTML with hand-written JavaScript and CSS in `static/`:
nothing is fetched from a CDN, so the dashboard works offline.
"""
