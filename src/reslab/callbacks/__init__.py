"""reslab's own Lightning callbacks, each built from conf/ by `_target_` (conf/callbacks/default.yaml,
conf/diagnostics/, conf/landscape/): bookkeeping (history, divergence stop, per-epoch seeding, progress, a machine
that fills up) and measurements (gradient flow, WRC weights, cost, activation statistics, curvature). A callback
with a `summary()` adds its keys to metrics.json."""
from reslab.callbacks.activations import ActivationStats
from reslab.callbacks.model_checkpoint import ModelCheckpoint
from reslab.callbacks.cost import Cost
from reslab.callbacks.curvature import Curvature
from reslab.callbacks.divergence import StopOnDivergence
from reslab.callbacks.gradients import GradientFlow
from reslab.callbacks.history import History, SeedEachEpoch
from reslab.callbacks.mechanisms import Mechanisms
from reslab.callbacks.progress import progress_bar
from reslab.callbacks.shared_cpu import SharedCpu
from reslab.callbacks.wrc import WRCWeights

__all__ = ["ActivationStats", "Cost", "Curvature", "GradientFlow", "History", "Mechanisms", "ModelCheckpoint",
           "SeedEachEpoch", "SharedCpu", "StopOnDivergence", "WRCWeights", "progress_bar"]
