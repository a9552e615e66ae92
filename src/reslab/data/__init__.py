"""Data sets for reslab: in-memory tensors on the training device, or a DataLoader for image folders.

Kept import-free: `reslab.data.checks` runs before torch is imported.
"""
