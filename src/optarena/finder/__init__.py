"""Smith's learning-rate range test on a built run: settings, the Lightning run, the suggestion,
its files (lr_find.json, lr_find.png). `python -m optarena.lr_find` and `train.py lr=find`."""
