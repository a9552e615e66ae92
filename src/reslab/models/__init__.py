"""The networks every run trains: one residual block (branch F + shortcut S + merge rule) whose published designs
are data (`options`: shortcut ops, BN/ReLU orders, norms, inits, stochastic depth), plain and CSP stages, conv and
MLP networks, the depth rules and a model description.

Kept light on purpose: `reslab.models.layout` and `reslab.models.options` are imported by the config validator
before torch is loaded. Build a network with `reslab.models.network.build_model`.
"""
