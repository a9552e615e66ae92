"""Loss landscapes and curvature: the math (surface.py, hessian.py), a run folder's landscape (run.py) and the
figures (plots.py). The training-time curvature callback is reslab.callbacks.Curvature."""
