"""optarena: which optimizer trains this model best?"""

from optarena.resolvers import register as _register_resolvers

__version__ = "0.1.0"

# The config tree's resolvers, wherever a config is resolved: train.py, and the worker
# processes of cluster launchers (submitit, ray), which unpickle the job without train.py.
_register_resolvers()
