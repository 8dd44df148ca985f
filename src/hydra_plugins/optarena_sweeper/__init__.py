"""optarena's Hydra sweeper: `hydra/sweeper=tune_confirm` (docs/sweeps.md).

Hydra finds this package through the `hydra_plugins` namespace and imports every module in it
at start-up, so nothing here imports torch at module level.
"""
