"""Child process for the resume and DDP tests: ``python _train_child.py CONFIG.json MODE [ARG]``.

MODE ``run``: train; ``killat N``: train, but SIGKILL itself while writing the
checkpoint of global step N (a half-written temporary file is left behind); ``cv``: a 2-fold CV of CONFIG, fold 0
only; ``cvkillat N``: that CV, killed as ``killat`` is;
``resume``: continue CONFIG's run; ``ddp OUTDIR``: train (under torchrun) and
save this rank's weights, the per-step losses and the threads left after training to OUTDIR.
"""

import json
import logging
import os
import signal
import sys

import torch

torch.set_num_threads(1)  # identical float reductions in every process of a test

from tumorseg.config import TrainConfig  # noqa: E402
from tumorseg.training.fit import fit, resume, train  # noqa: E402


def thread_names() -> list[str]:
    """This process's OS threads by name (Linux ``/proc``; ``[]`` elsewhere)."""
    names = []
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:
        try:
            with open(f"/proc/self/task/{tid}/comm") as fh:
                names.append(fh.read().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return sorted(names)


logging.basicConfig(level=logging.INFO, format="%(message)s")
cfg_path, mode = sys.argv[1], sys.argv[2]
cfg = TrainConfig.load(cfg_path)
if mode == "run":
    fit(cfg, progress=False)
elif mode in ("killat", "cv", "cvkillat"):
    if mode != "cv":
        kill_at, real_save = int(sys.argv[3]), torch.save

        def dying_save(obj, f, *args, **kwargs):
            ts = obj.get("train_state") if isinstance(obj, dict) else None
            if ts and ts["global_step"] == kill_at:
                with open(f, "wb") as fh:
                    fh.write(b"PK\x03\x04 half a checkpoint")
                    fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *args, **kwargs)

        torch.save = dying_save
    if mode == "killat":
        fit(cfg, progress=False)
    else:  # a 2-fold CV of CONFIG, fold 0 only
        from tumorseg.training.cv import run_cv

        run_cv(cfg, folds=2, only=[0], progress=False)
elif mode == "resume":
    resume(cfg.out, progress=False)
elif mode == "ddp":
    out = sys.argv[3]
    result = train(cfg, progress=False)
    rank = int(os.environ.get("RANK", 0))
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump({"step_losses": result.step_losses, "history": result.history, "threads": thread_names()}, fh)
