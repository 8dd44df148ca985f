"""optarena: which optimizer trains this model best?"""

__version__ = "0.1.0"
