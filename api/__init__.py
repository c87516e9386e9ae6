"""scratchlab: run the building blocks of a neural network written from scratch, keep the results.

The notebook API lives here (``import scratchlab as sl``); the parts are the
sub-packages ``scratchlab.plugins``, ``scratchlab.runner``, ``scratchlab.db``
and ``scratchlab.reports``. Importing this package does not import torch.
"""
