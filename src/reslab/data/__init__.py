"""Data sets for reslab: in-memory tensors on the training device, or a DataLoader for image folders.

Kept import-free: the config layer reads the catalogue (reslab.data.catalog) and the file checks
(reslab.data.files) before torch is imported.
"""
