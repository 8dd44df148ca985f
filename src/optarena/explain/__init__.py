"""Attribution maps of trained runs (captum): `python -m optarena.explain FOLDER`.

A run is rebuilt from its own `.hydra/config.yaml` through `optarena.run.build`, so the model is
exactly the one training built; its best checkpoint's weights are loaded (docs/explain.md).
"""
