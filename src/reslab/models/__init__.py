"""The networks every run trains: residual blocks (branch F + shortcut S + merge rule), plain and CSP stages,
conv and MLP networks, the depth rules and a model description.

Kept light on purpose: `reslab.models.layout` is imported by the config validator before torch is loaded.
Build a network with `reslab.models.network.build_model`.
"""
