"""The training engine behind :func:`tumorseg.train.fit`.

* :mod:`.distributed`: torchrun/DDP set-up (nccl on CUDA, gloo on CPU) and collectives.
* :mod:`.state`: what makes a resume exact: RNG states, the data order, the LR schedule.
* :mod:`.signals`: SIGINT/SIGTERM become "finish the step, checkpoint, exit".
"""
