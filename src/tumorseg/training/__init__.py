"""Training: ``tumorseg train`` and ``tumorseg cv``.

* :mod:`.fit`: :func:`~tumorseg.training.fit.fit` / :func:`~tumorseg.training.fit.resume`: read and split the
  data, run the trainer, then calibrate and score the test split.
* :mod:`.trainer`: the :class:`~tumorseg.training.trainer.Trainer` (train_step, validate, save, restore): DDP,
  mixed precision, checkpoints, exact resume, clean stops.
* :mod:`.presets`: named recipes; :mod:`.losses`: loss registry; :mod:`.cv`: patient-grouped cross-validation.
* :mod:`.distributed`: torchrun/DDP set-up (nccl on CUDA, gloo on CPU) and collectives.
* :mod:`.state`: what makes a resume exact: RNG states, the data order, the LR schedule.
* :mod:`.signals`: SIGINT/SIGTERM become "finish the step, checkpoint, exit".
"""
