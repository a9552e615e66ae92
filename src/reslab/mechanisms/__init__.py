"""Why shortcuts work, measured as the papers measured it: pure functions on a model and a batch (torch only).

- `lesion`: delete residual blocks (each in turn, k at random) or swap same-shape blocks, at test time (Veit et al.
  2016, Fig. 3-5).
- `paths`: the gradient at the input carried by paths of each length (Veit et al. 2016, Sec. 5, Fig. 6).
- `signal`: per block at initialisation, the residual stream's channel squared mean and variance, and the branch's
  variance relative to the shortcut's (Brock, De, Smith 2021; De & Smith 2020).
- `shattered`: the input gradient along a line of inputs and its autocorrelation (Balduzzi et al. 2017).
- `cka`: linear CKA between blocks, full-batch and minibatch/unbiased (Kornblith et al. 2019; Nguyen et al. 2021).

None of them changes the model it is given: training flags, buffers (BatchNorm statistics) and hooks are restored.
The callback `reslab.callbacks.Mechanisms` and `scripts/mechanisms.py` drive them and write the records.
"""
