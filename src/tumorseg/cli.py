"""The ``tumorseg`` command: argument parsing only; every subcommand calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tumorseg import __version__
from tumorseg import options as T
from tumorseg.errors import TumorsegError
from tumorseg.training.presets import PRESETS

log = logging.getLogger("tumorseg")


# train options that a --preset may set; None on the command line means "not given"
_OVERRIDABLE = ("model", "epochs", "batch_size", "lr", "image_size", "loss", "optimizer", "weight_decay",
                "augment", "scheduler", "warmup_epochs", "select_metric", "early_stop_patience",
                "grad_clip", "precision", "compile", "checkpoint_every_steps", "cache", "grid_every",
                "intensity", "init_from", "split_file", "max_fp_rate", "calibrate_objective",
                "data_path", "time_budget_s", "teacher", "distill_weight", "distill_on", "context_slices",
                "context_dropout", "ema_decay")


def _train_config(a: argparse.Namespace, out: str):
    """TrainConfig from defaults, then the preset, then the flags actually given."""
    from tumorseg.config import TrainConfig
    from tumorseg.training.presets import NEEDS_INIT, preset

    values: dict = {"data": a.data, "out": out, "data_format": a.format, "seed": a.seed, "device": a.device,
                    "num_workers": a.workers, "max_slices": a.max_slices, "data_options": _data_options(a)}
    if a.preset:
        values.update(preset(a.preset))
        values["data_options"] = {**values.get("data_options", {}), **_data_options(a)}  # flags win, per option
        if a.format != "auto":  # a preset's dataset format (e.g. `flair`: lgg) unless --format is given
            values["data_format"] = a.format
    for key in _OVERRIDABLE:
        if getattr(a, key, None) is not None:
            values[key] = getattr(a, key)
    if a.model is not None and a.preset and a.model != preset(a.preset)["model"]:
        values["model_kwargs"] = {}  # the preset's kwargs belong to the preset's model, not to --model's
    if a.model_kwargs:
        values["model_kwargs"] = {**values.get("model_kwargs", {}), **a.model_kwargs}
    if a.calibrate:
        values["calibrate"] = True
    if getattr(a, "split", None):
        values["split_fractions"] = a.split
    if a.preset in NEEDS_INIT and not values.get("init_from"):
        raise TumorsegError(f"--preset {a.preset} fine-tunes a trained model: give --init-from with "
                            f"{NEEDS_INIT[a.preset]}.")
    return TrainConfig.from_dict(values)


def _cmd_train(a: argparse.Namespace) -> int:
    from tumorseg.training.fit import fit, resume

    if a.resume:
        run = resume(a.resume, progress=not a.no_progress)
        print(f"run written to {run}")
        return 0
    if not a.data or not a.out:
        raise TumorsegError("train needs --data DIR and --out RUN_DIR (or --resume RUN_DIR to continue a run).")
    run = fit(_train_config(a, a.out), progress=not a.no_progress, overwrite=a.overwrite)
    print(f"run written to {run}")
    return 0


def _cmd_cv(a: argparse.Namespace) -> int:
    from tumorseg.models.checks import meta_model
    from tumorseg.training.cv import run_cv

    from tumorseg.evaluation.evaluate import presence_lines

    if a.fold and max(a.fold) >= a.folds:
        raise TumorsegError(f"--fold {max(a.fold)} does not exist with --folds {a.folds}; use 0..{a.folds - 1}.")
    cfg = _train_config(a, a.out)
    meta_model(cfg.model, cfg.model_kwargs)  # a bad --model/--model-kwargs stops before the fold splits are written
    s = run_cv(cfg, folds=a.folds, only=a.fold, progress=not a.no_progress)
    print(f"{len(s['folds_done'])} folds: Dice {s['dice_mean_over_folds']:.4f} ± {s['dice_std_over_folds']:.4f}, "
          f"IoU {s['iou_mean_over_folds']:.4f} ± {s['iou_std_over_folds']:.4f} -> {a.out}/cv_summary.json")
    for line in presence_lines(s["pooled"]):
        print(f"pooled {line}")
    return 0


def _cmd_calibrate(a: argparse.Namespace) -> int:
    from tumorseg.training.fit import recalibrate

    post = recalibrate(a.run_dir, a.max_fp_rate, progress=not a.no_progress, objective=a.objective)
    print(f"{a.run_dir}/best.pt: post-processing {post}")
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from pathlib import Path

    from tumorseg.evaluation.report import build_report
    from tumorseg.inference.report import build_predict_report, is_predict_folder

    if is_predict_folder(Path(a.run_dir)):
        print(f"report written to {build_predict_report(a.run_dir, a.out)}")
        return 0
    print(f"report written to {build_report(a.run_dir, a.out, gallery=not a.no_gallery)}")
    return 0


def _add_train_options(p: argparse.ArgumentParser, data_required: bool = True) -> None:
    p.add_argument("--data", required=data_required, help="dataset folder (e.g. images/ + masks/ [+ metadata.csv]), or the .zip it came as")
    p.add_argument("--format", default="auto", help="dataset format (default: auto-detect)")
    p.add_argument("--preset", default=None, type=T.PRESET,
                   help=f"named recipe: {', '.join(PRESETS)} (README, Presets; flags given override it)")
    p.add_argument("--model", default=None, help="registered model name (default: seed-ae)")
    p.add_argument("--model-kwargs", default=None, type=T.json_object,
                   help='model options as JSON, e.g. \'{"width": 16}\'')
    p.add_argument("--epochs", type=T.EPOCHS, default=None, help="default: 10 (with --time-budget: the most)")
    p.add_argument("--time-budget", dest="time_budget_s", type=T.DURATION, default=None, metavar="TIME",
                   help="train for about this long (e.g. 300, 90s, 20m, 1.5h; data reading included): after "
                        "epoch 2 the run plans how many epochs fit, at most --epochs, and anneals over them; "
                        "off: no budget (cpu-fast has 25m)")
    p.add_argument("--batch-size", type=T.BATCH_SIZE, default=None, help="default: 64")
    p.add_argument("--lr", type=T.LR, default=None, help="default: 1e-3")
    p.add_argument("--image-size", type=T.IMAGE_SIZE, default=None, help="default: 256")
    p.add_argument("--loss", default=None, type=T.LOSS, help="dice (default), dice-bce, dice-focal, dice-bce-presence (for data with tumour-free slices)")
    p.add_argument("--optimizer", default=None, type=T.OPTIMIZER, help="adam (default) or adamw")
    p.add_argument("--weight-decay", type=T.NON_NEGATIVE, default=None)
    p.add_argument("--augment", default=None, type=T.AUGMENT, help="none (default), light, mri, strong (mri + shifts, elastic), mri-strip (mri + brain-only views, like skull-stripped BraTS slices), mri-turn (mri + all eight 90° turns and mirror images of the slice)")
    p.add_argument("--scheduler", default=None, type=T.SCHEDULER, help="none (default) or cosine (with --warmup-epochs)")
    p.add_argument("--warmup-epochs", type=T.NON_NEGATIVE, default=None)
    p.add_argument("--select-metric", default=None, type=T.SELECT_METRIC,
                   help="val_loss (default) or val_dice: which checkpoint is best")
    p.add_argument("--early-stop-patience", type=T.COUNT, default=None, help="stop after N epochs without improvement")
    p.add_argument("--calibrate", action="store_true", help="choose threshold/TTA/clean-up on val after training")
    p.add_argument("--seed", type=T.SEED, default=42)
    p.add_argument("--workers", type=T.WORKERS, default=None,
                   help="DataLoader worker processes per process (default: 0 on CPU, up to 4 per GPU)")
    p.add_argument("--grad-clip", type=T.NON_NEGATIVE, default=None, help="clip the gradient norm to this (default: off)")
    p.add_argument("--ema", dest="ema_decay", type=T.EMA_DECAY, default=None, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.99: about the last 100 steps) "
                        "and validate, select, calibrate and ship it (default: off)")
    p.add_argument("--precision", default=None, choices=["auto", "bf16", "fp16", "fp32"],
                   help="mixed precision on CUDA (default auto: bf16 where supported, fp32 on CPU)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    p.add_argument("--checkpoint-every-steps", type=T.COUNT, default=None, metavar="K",
                   help="also write last.pt every K optimizer steps (default: at epoch ends only)")
    p.add_argument("--cache", nargs="?", const="default", default=None, metavar="DIR",
                   help="decode slices once into an on-disk cache and memory-map them "
                        "(default DIR: $TUMORSEG_CACHE_DIR or ~/.cache/tumorseg)")
    p.add_argument("--data-path", default=None, choices=["loader", "device"],
                   help="loader (default): DataLoader workers augment items on the CPU; device: the training set "
                        "lives on the device (GPU) and is augmented there in batches, no per-step host syncs")
    p.add_argument("--max-slices", type=T.POSITIVE, default=None, help="use only the first N slices (quick trials)")
    p.add_argument("--intensity", default=None, choices=["none", "p99"],
                   help="per-slice intensity normalisation (default: none; p99 makes sources look alike)")
    p.add_argument("--context-slices", type=int, default=None, metavar="K",
                   help="2.5-D: show the network each slice with the K slices above and below it of the same "
                        "volume (2K+1 input channels; one-channel data; default 0)")
    p.add_argument("--context-dropout", type=float, default=None, metavar="P",
                   help="with --context-slices: show a fraction P of the training stacks as their centre slice alone, "
                        "so the model also answers on single slices (default 0)")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (fine-tuning; 'default' = the bundled model)")
    p.add_argument("--teacher", default=None, metavar="CKPT",
                   help="distillation: also learn this checkpoint's probabilities (a larger network, an ensemble of "
                        "fold models); '{fold}' in the path is the fold number under 'cv'. It must not have seen "
                        "this run's test patients")
    p.add_argument("--distill-weight", type=T.float_in(0.0, 1.0, example="--distill-weight 0.5"), default=None,
                   metavar="W", help="with --teacher: weight of the teacher's probabilities in the loss (default 0.5)")
    p.add_argument("--distill-on", default=None, choices=["all", "tumour"],
                   help="with --teacher: learn the teacher on every image (all, default) or only on images whose mask "
                        "holds a tumour (tumour: loss = task + W x teacher term; tumour-free images learn the truth "
                        "alone, e.g. a fine-tune that adds tumour-free slices and should keep its start's outlines)")
    p.add_argument("--max-fp-rate", type=T.float_in(0.0, 1.0, example="--max-fp-rate 0.05"), default=None, metavar="F",
                   help="calibration: most tumour-free val slices that may be marked (default 0.03)")
    p.add_argument("--calibrate-objective", default=None, choices=["slice-dice", "volume-dice"],
                   help="calibration maximises mean Dice of val tumour slices (slice-dice, default) or mean "
                        "per-patient Dice of the whole stack (volume-dice: data that are volumes, e.g. LGG)")
    p.add_argument("--split-file", default=None, metavar="JSON",
                   help="use this split.json (train/val/test case ids) instead of splitting")
    p.add_argument("--grid-every", type=T.COUNT, default=None, metavar="N",
                   help="save a prediction grid every N epochs (default: 2; 0: never)")
    _add_data_options(p)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """Reader options of the dataset formats (see tumorseg.data.formats); each applies to some formats only."""
    g = p.add_argument_group("dataset format options")
    g.add_argument("--masks", default=None, help="paired: mask folder when it is not DATA/masks")
    g.add_argument("--channels", default=None, help="lgg: flair (default), all (3-channel input), pre, post, or a list")
    g.add_argument("--modality", default=None, help="brats: flair (default), t1, t1c, t2, or a list like flair,t1c")
    g.add_argument("--labels", default=None, help="brats: label values that count as tumour, e.g. 1,4 (default: any "
                   "> 0); dicom-seg: SEG segment numbers (default: all) or RTSTRUCT ROI numbers (default: the ROIs "
                   "named as tumour)")
    g.add_argument("--empty-fraction", type=T.FRACTION, default=None,
                   help="brats: share of tumour-free brain slices kept (default: 0.1)")
    g.add_argument("--image-glob", default=None, help="brats: image file pattern in each case folder, e.g. 'Flair_*.nii.gz'")
    g.add_argument("--label-glob", default=None, help="brats: label file pattern, e.g. 'OTMultiClass.nii.gz'")


def _data_options(a: argparse.Namespace) -> dict:
    """The format options given on the command line (unset ones left out)."""
    names = {"masks": "masks_dir", "channels": "channels", "modality": "modality", "labels": "labels",
             "empty_fraction": "empty_fraction", "image_glob": "image_glob", "label_glob": "label_glob"}
    return {key: getattr(a, flag) for flag, key in names.items() if getattr(a, flag, None) is not None}


def _cmd_check_data(a: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tumorseg.data.checks import check_dataset

    given = {d for d in (a.data, a.data_option) if d is not None}
    if len(given) != 1:
        raise TumorsegError(f"{'two dataset folders' if given else 'no dataset folder'} given: "
                            "tumorseg check-data DIR (or --data DIR)")
    report = check_dataset(given.pop(), a.format, progress=not a.no_progress, **_data_options(a))
    print(report)
    if a.json:
        Path(a.json).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return 0 if report.ok else 1


def _cmd_download(a: argparse.Namespace) -> int:
    from tumorseg.data.download import download_figshare

    folder = download_figshare(a.out, api_url=a.api_url, progress=not a.no_progress, unpack=not a.no_unpack)
    print(f"figshare 1512427 in {folder}; read it with: tumorseg check-data {folder}")
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from pathlib import Path

    from tumorseg.evaluation.evaluate import evaluate, presence_lines
    from tumorseg.models.zoo import looks_like_name

    if a.out:
        out = a.out
    elif a.model and not looks_like_name(a.model):
        out = str(Path(a.model).resolve().parent / f"eval-{a.split}")
    else:  # a bundled model: beside the data would be surprising, so here
        out = f"eval-{a.model or 'auto'}-{a.split}"
    m = evaluate(a.model, a.data, out, split=a.split, data_format=a.format, device=a.device, batch_size=a.batch_size,
                 data_options=_data_options(a), include_training=a.include_training_slices, one_lesion=a.one_lesion,
                 progress=not a.no_progress)
    note = "".join(f"; {m[k]} {what}" for k, what in (("training_slices_left_out", "training slices left out"),
                                                      ("training_slices_included", "of them training slices"))
                   if k in m)
    print(f"mean Dice {m['mean_dice']:.4f}  mean IoU {m['mean_iou']:.4f}  ({m['n_images']} images{note}) -> {out}")
    for line in presence_lines(m):
        print(line)
    return 0


def _cmd_score(a: argparse.Namespace) -> int:
    from pathlib import Path

    from tumorseg.data.formats._common import parse_int_set
    from tumorseg.evaluation.evaluate import presence_lines
    from tumorseg.evaluation.score import score_files, write_scores

    result = score_files(a.pred, a.truth, parse_int_set(a.labels, "--labels"), distances=not a.no_distances,
                         progress=not a.no_progress)
    m = write_scores(result, Path(a.out) if a.out else None)
    n_files = len({r["truth_file"] for r in result.rows})
    spread = f" ± {m['std_dice']:.4f}" if m["n_images"] > 1 else ""
    def n(k: int, what: str) -> str:
        return f"{k} {what}{'s' if k != 1 else ''}"

    print(f"mean Dice {m['mean_dice']:.4f}{spread}  mean IoU {m['mean_iou']:.4f}  ({n(m['n_images'], 'slice')} of "
          f"{n(n_files, 'truth file')}){f' -> {a.out}' if a.out else ''}")
    for line in presence_lines(m):
        print(line)
    if result.missing:
        print(f"{len(result.missing)} truth file(s) without a prediction, scored as empty predictions: "
              f"{', '.join(Path(f).name for f in result.missing[:5])}{' ...' if len(result.missing) > 5 else ''}")
    if result.unpaired:
        print(f"{len(result.unpaired)} prediction(s) without a truth file, left out.")
    if result.failed:
        print(f"{len(result.failed)} truth file(s) could not be scored (above); the rest were.")
    return 1 if result.failed else 0


def _cmd_compare(a: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tumorseg.evaluation.compare import common_cases, compare, lines, load_result, plot

    results = [load_result(r) for r in a.results]
    summary = compare(results, a.metric, a.level, a.common, a.n_boot, a.seed)
    for line in lines(summary):
        print(line)
    if a.out:
        Path(a.out).write_text(json.dumps(summary, indent=2))
    if a.plot:
        shown = common_cases(results)[0] if summary["cases_left_out"] else results
        plot(summary, shown, Path(a.plot), a.metric, a.level)
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from tumorseg.inference.files import plan_inputs, predict_inputs

    if a.list:
        rows = plan_inputs(a.inputs, a.model, a.series, a.as_volume, a.volume)
        width = max((len(r.name) for r in rows), default=0)
        what = max((len(f"{r.kind}, {r.size}") for r in rows), default=0)
        for row in rows:
            print(f"{row.name:<{width}}  {f'{row.kind}, {row.size}':<{what}}  {row.input}\n{'':<{width}}  model {row.model}")
        hint = " Choose DICOM series with --series NUMBER or TEXT." if any("DICOM" in r.kind for r in rows) else ""
        print(f"{len(rows)} input(s); nothing predicted (--list).{hint}")
        return 0
    if a.out is None:
        raise TumorsegError("predict needs --out FOLDER (or --list, to see what it would predict).")
    r = predict_inputs(a.inputs, a.model, a.out, with_overlay=a.overlay, device=a.device, batch_size=a.batch_size,
                       progress=not a.no_progress, backend=a.backend, tta=a.tta, strict=a.strict,
                       one_lesion=a.one_lesion, series=a.series, resume=a.resume, as_volume=a.as_volume,
                       probabilities=a.probabilities, volume=a.volume)
    for line in r.summary_lines():
        print(line)
    print(r.written_line(a.out))
    if r.summaries:
        print(f"a page over them: tumorseg report {a.out}")
    if not r.failed:
        return 0
    print(f"tumorseg predict: {len(r.failed)} input(s) failed (listed in {r.failed_csv}):", file=sys.stderr)
    for path, reason in r.failed:
        print(f"  {path}: {reason}", file=sys.stderr)
    return 1


def _cmd_models(a: argparse.Namespace) -> int:
    from tumorseg.models.listing import models_table

    print(models_table())
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tumorseg.inference.onnx import export_onnx

    out = export_onnx(a.model, a.onnx, opset=a.opset)
    meta = Path(out).with_suffix(".json")
    cascade = "decide_output" in json.loads(meta.read_text())
    print(f"ONNX model written to {out} (metadata in {meta}); input: raw pixel values 0..255, float32 (batch, "
          "channels, size, size); output: probabilities" + (" — a cascade: 'probability' is the mask's, kept only "
                                                            "where 'decide_probability' marks the slice (rule in "
                                                            "the metadata)" if cascade else ""))
    return 0


def _cmd_ensemble(a: argparse.Namespace) -> int:
    from tumorseg.models.checkpoint import save_checkpoint
    from tumorseg.models.ensemble import make_ensemble

    ckpt = make_ensemble(a.checkpoints, a.combine, a.agree_threshold, a.agree_radius, dict(a.settings))
    save_checkpoint(ckpt, a.out)
    how = "averaging" if a.combine == "mean" else \
        f"{a.checkpoints[0]}'s mask on the slices {a.checkpoints[-1]} marks" if a.combine == "decide" else \
        f"{a.checkpoints[0]}'s mask where the others agree (p >= {a.agree_threshold:g} within {a.agree_radius} px)"
    post = f"post-processing of {a.checkpoints[0]}" + (f", with {dict(a.settings)}" if a.settings else "")
    print(f"ensemble of {len(a.checkpoints)} models ({how}) written to {a.out} ({post}); use it as --model {a.out}")
    return 0


def _cmd_serve(a: argparse.Namespace) -> int:
    from tumorseg.web.server import serve

    return serve(a.model, host=a.host, port=a.port, max_upload_mb=a.max_upload_mb, device=a.device,
                 backend=a.backend, allowed_host=tuple(a.allowed_host), token=a.token,
                 max_active=a.max_concurrent, max_waiting=a.max_queue)


def _cmd_summary(a: argparse.Namespace) -> int:
    from tumorseg.models.summary import model_summary

    print(model_summary(a.model, image_size=a.image_size, in_channels=a.in_channels, depth=a.depth,
                        **(a.model_kwargs or {})))
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    import time

    from tumorseg.demo import run_demo

    t0 = time.time()
    run = run_demo(a.out, n_images=a.n_images, image_size=a.image_size, epochs=a.epochs, progress=not a.no_progress,
                   device=a.device)
    print(f"demo finished in {time.time() - t0:.0f} s. Look at {run}/loss_curve.png, {run}/grids/, "
          f"{run}/test/metrics.json and {a.out}/predictions/")
    return 0


def _add_one_lesion(p: argparse.ArgumentParser) -> None:
    p.add_argument("--one-lesion", action=argparse.BooleanOptionalAction, default=None,
                   help="volumes: keep only the largest 3-D connected lesion (--one-lesion) or every lesion "
                        "(--no-one-lesion, e.g. multifocal tumours); default: as stored in the model "
                        "(largest_component_3d; on for the bundled models)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", type=T.device,
                   help="auto (CUDA if available), cpu or cuda[:N] (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = T.Parser(prog="tumorseg", description="Brain-tumour segmentation in MRI slices.")
    parser.add_argument("--version", action="version", version=f"tumorseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model; writes a run directory (multi-GPU: torchrun ... -m tumorseg train)")
    _add_train_options(p, data_required=False)
    p.add_argument("--out", default=None, type=T.out_dir, help="run directory to create")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an --out that already holds a run (deletes its checkpoints, history, grids)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue RUN_DIR from its last.pt")
    p.add_argument("--split", default=None, metavar="TRAIN,VAL,TEST", type=T.fractions,
                   help="split fractions (default 0.7,0.2,0.1; 0.9,0.1,0: train on all but a val part, no test)")
    _add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("cv", help="patient-grouped K-fold cross-validation of a recipe")
    _add_train_options(p)
    p.add_argument("--out", required=True, type=T.out_dir, help="folder for fold_*/ runs and cv_summary.json")
    p.add_argument("--folds", type=T.int_in(2, 100, "--folds 5"), default=5)
    p.add_argument("--fold", type=T.int_in(0, 99, "--fold 0"), action="append", default=None,
                   help="run only this fold (repeatable)")
    _add_common(p)
    p.set_defaults(func=_cmd_cv)

    p = sub.add_parser("calibrate", help="choose a finished run's threshold/clean-up/presence gate again on its val split")
    p.add_argument("run_dir", help="a run directory written by 'tumorseg train'")
    p.add_argument("--max-fp-rate", type=T.float_in(0.0, 1.0, example="--max-fp-rate 0.05"), default=None,
                   metavar="F", help="most tumour-free val slices that may be marked (default: the run's, 0.03)")
    p.add_argument("--objective", default=None, choices=["slice-dice", "volume-dice"],
                   help="what calibration maximises (default: the run's; see train --calibrate-objective)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("report", help="self-contained HTML report of a run or CV folder, or a page over a predict "
                                      "output folder (summary, chart, overlays)")
    p.add_argument("run_dir", help="a run or CV folder, or a folder tumorseg predict wrote volumes into")
    p.add_argument("--out", default=None, type=T.out_file, help="HTML file (default: RUN_DIR/report.html)")
    p.add_argument("--no-gallery", action="store_true", help="skip re-predicting the best/worst cases")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("evaluate", help="score a checkpoint: metrics.json, per_case.csv, predictions.png")
    p.add_argument("--data", required=True, help="dataset folder, or the .zip it came as")
    p.add_argument("--model", default=None, help="bundled model (t1c, flair; see 'tumorseg models') or a checkpoint "
                   "file, e.g. RUN_DIR/best.pt (default: the bundled model that fits the data)")
    p.add_argument("--split", default="test", choices=["test", "val", "train", "all"],
                   help="cases to score: a split stored in the checkpoint, or all: every slice of DATA the "
                        "checkpoint was not trained or validated on (default: test)")
    p.add_argument("--include-training-slices", action="store_true",
                   help="with --split all, score the slices the checkpoint was trained/validated on too (their "
                        "scores overstate accuracy on new data)")
    _add_one_lesion(p)
    p.add_argument("--format", default="auto", help="dataset format (default: the checkpoint's, else auto-detect)")
    _add_data_options(p)
    p.add_argument("--out", default=None, type=T.out_dir, help="output folder (default: beside the checkpoint, eval-SPLIT)")
    p.add_argument("--batch-size", type=T.BATCH_SIZE, default=16)
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("score", help="score mask files (tumorseg's or any tool's) against truth files",
                       description="Pairs masks by name (a mask file's name without _mask / -seg / _label / _pred or "
                       "modality tags such as -t2f, _flair) and scores them as evaluate does: per-slice Dice, IoU, "
                       "HD95, presence, per-volume Dice. A truth file without a prediction counts as an empty "
                       "prediction. Files: PNG/TIFF/JPEG/BMP masks (0/255 or 0/1), figshare .mat slices (truth), NIfTI, NRRD, "
                       "MetaImage, multi-page TIFF stacks (one volume), and "
                       "DICOM SEG / RTSTRUCT objects "
                       "(paired by the series they label, scored over that series' slices: keep the series in the "
                       "TRUTH folder).")
    p.add_argument("pred", help="a mask file, or a folder (or .zip) of them (e.g. a tumorseg predict --out folder)")
    p.add_argument("truth", help="a truth mask or label file, or a folder (or .zip) of them (a BraTS tree, kaggle_3m, "
                   "masks/)")
    p.add_argument("--labels", default=None, help="truth label values that count as tumour, e.g. 1,3 (default: any "
                   "> 0); for a DICOM SEG, segment numbers (default: every segment); for an RTSTRUCT, ROI numbers "
                   "(default: the ROIs named GTV, tumour, lesion...)")
    p.add_argument("--out", default=None, type=T.out_dir, help="write metrics.json, per_case.csv, per_volume.csv here")
    p.add_argument("--no-distances", action="store_true", help="skip HD95 (faster on large volumes)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("compare", help="paired comparison of scored results: difference, 95%% CI, Wilcoxon test",
                       description="Compares results that evaluate, score or cv wrote, case by case, against the "
                       "first: the difference of mean scores with a 95% confidence interval from a bootstrap over "
                       "patients (slices of one patient are not independent) and the Wilcoxon signed-rank test on "
                       "each patient's mean difference.")
    p.add_argument("results", nargs="+", help="result folders (per_case.csv, cv_per_case.csv, test/per_case.csv), "
                   "per-case CSVs, or quoted globs of per-fold CSVs ('runs/x/fold_*/per_case.csv'); the first is "
                   "the baseline")
    p.add_argument("--metric", default="dice", choices=["dice", "iou", "sensitivity", "precision", "hd95_px"])
    p.add_argument("--level", default="image", choices=["image", "volume"],
                   help="image: mean per-image score; volume: per-volume Dice, one value per patient")
    p.add_argument("--common", action="store_true", help="use only the cases every result holds (else different "
                   "case sets are an error)")
    p.add_argument("--n-boot", type=T.POSITIVE, default=10_000, help="bootstrap resamples (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--out", default=None, type=T.out_file, help="also write the comparison as JSON here")
    p.add_argument("--plot", default=None, type=T.out_file, help="a PNG: each patient's score, baseline vs other")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("predict", help="write a mask PNG per input image, at the input's size")
    p.add_argument("inputs", nargs="+", help="image files or folders (PNG/JPG/TIFF/BMP; figshare .mat), NIfTI volumes "
                   "or BraTS case folders (-> <name>_mask.nii.gz), NRRD/MetaImage volumes (-> <name>_mask.nrrd|.mha), "
                   "multi-page TIFF stacks (Fiji; -> <name>_mask.tif), DICOM files, series folders, study folders (each series) or "
                   "whole CD/PACS export trees (-> also <name>_seg.dcm and <name>_rtstruct.dcm), or a .zip of any of "
                   "these (read as the folder it holds); volumes and LGG patient folders add a row to OUT/summary.csv")
    p.add_argument("--model", default=None, help="bundled model (t1c, flair; see 'tumorseg models'), checkpoint file "
                   "or exported .onnx (default: per input, the bundled model that fits it)")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="auto (default: ONNX Runtime on CPU when installed, else PyTorch), onnx or torch")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average predictions over flips (default: as stored in the checkpoint)")
    _add_one_lesion(p)
    p.add_argument("--out", type=T.out_dir, help="folder for <stem>.png masks (required unless --list)")
    p.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png (a volume: <name>_overlay.png, up to 16 slices in the radiological view)")
    p.add_argument("--probabilities", action="store_true",
                   help="also write the model's probabilities beside each mask, with the input's geometry: "
                        "<name>_prob.nii.gz (NIfTI, DICOM series; 0-1 through the header's scale), _prob.nrrd/.mha, "
                        "<stem>_prob.png (0-255); before threshold and post-processing, for your own threshold, "
                        "ensembles or uncertainty")
    p.add_argument("--as-volume", action="store_true",
                   help="each input folder's images, ordered by the number that ends their names (slice_7.png), are "
                        "the slices of one scan: the model's volume rules and a per-volume summary row (without it "
                        "only <folder>/<folder>_<n>.png|tif names are)")
    p.add_argument("--series", action="append", metavar="NUMBER|TEXT",
                   help="DICOM studies and export trees: predict only the series with this SeriesNumber or with TEXT "
                        "in their SeriesDescription (case-insensitive; repeatable: any matches)")
    p.add_argument("--volume", type=T.VOLUME, default=None, metavar="K",
                   help="4-D NIfTI files (several modalities or time points in one file): predict volume K (0-based; "
                        "without it an MSD file gives its FLAIR, by its dataset.json or a Task01 name like "
                        "BRATS_001.nii.gz, and any other 4-D file is refused)")
    p.add_argument("--resume", action="store_true",
                   help="volumes: skip those an earlier run into --out finished (their row in OUT/summary.json and "
                        "mask file are there); image files are predicted again")
    p.add_argument("--list", action="store_true",
                   help="print what would be predicted (each volume or DICOM series, images per model) and the "
                        "model each gets, reading headers only; write nothing")
    p.add_argument("--batch-size", type=T.BATCH_SIZE, default=16)
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unreadable input (default: predict the rest, list failures in failed.csv)")
    _add_common(p)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (preprocessing and sigmoid inside the graph)")
    p.add_argument("--model", default=None, help="bundled model (t1c, flair) or checkpoint file (default: t1c)")
    p.add_argument("--onnx", required=True, type=T.out_file,
                   help="output .onnx file (a .json with the metadata is written beside it)")
    p.add_argument("--opset", type=T.int_in(13, 30, "--opset 18"), default=18)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("ensemble", help="combine checkpoints (e.g. the CV fold models) into one that averages them")
    p.add_argument("checkpoints", nargs="+", help="2 to 16 checkpoint files or bundled names that read input alike; "
                   "the first one's threshold and clean-up settings are used (change them with --set)")
    p.add_argument("--out", required=True, type=T.out_file, help="the ensemble checkpoint to write (.pt)")
    p.add_argument("--combine", choices=("mean", "agree", "decide"), default="mean",
                   help="mean: average the probabilities (default); agree: the first model's mask, kept only where "
                        "every other model finds a tumour nearby (e.g. a model that marks every slice paired with "
                        "one trained on tumour-free slices); decide: two models, the second decides whether a slice "
                        "holds a tumour (with its own post-processing), the first draws it")
    p.add_argument("--agree-threshold", type=T.float_in(0.0, 1.0, example="--agree-threshold 0.5"), default=0.5,
                   help="with --combine agree: the other models' probability that counts as a tumour (default 0.5)")
    p.add_argument("--agree-radius", type=T.int_in(0, 256, "--agree-radius 16"), default=0,
                   help="with --combine agree: how far (px at the model's size) from the others' tumour the first "
                        "model's mask may reach (default 0: pixel by pixel)")
    p.add_argument("--set", dest="settings", type=T.post_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="change a post-processing setting of the ensemble (repeatable), e.g. presence_px=300; "
                        "chosen on validation data, never test data")
    p.set_defaults(func=_cmd_ensemble)

    p = sub.add_parser("serve", help="web page and JSON API for segmenting uploaded images (FastAPI + uvicorn)")
    p.add_argument("--model", default=None, help="bundled model (t1c, flair), checkpoint file or .onnx (default: "
                   "per upload, the installed bundled model that fits it)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=T.PORT, default=8000)
    p.add_argument("--max-upload-mb", type=T.MEGABYTES, default=50.0, help="largest accepted upload (default: 50)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (repeatable; the bound address and localhost "
                        "always work; '*' turns the Host check off)")
    p.add_argument("--token", default=None, help="require this access token (default: none on 127.0.0.1; "
                   "generated and printed when --host is not a loopback address)")
    p.add_argument("--max-concurrent", type=T.int_in(1, 64, "--max-concurrent 2"), default=2,
                   help="uploads decoded and predicted at once (default: 2); bounds memory")
    p.add_argument("--max-queue", type=T.int_in(0, 10_000, "--max-queue 64"), default=64,
                   help="uploads that may wait for a slot (default: 64); more get 503 with Retry-After")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    p.add_argument("--device", default="auto", type=T.device,
                   help="auto (CUDA if available), cpu or cuda[:N] (default: auto)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("models", help="list the bundled models: intended input, cross-validation, size, model card")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("check-data", help="report what a dataset holds and every problem in it (exit 1 if unusable)")
    p.add_argument("data", nargs="?", default=None, help="dataset folder (any supported format), or the .zip it came as")
    p.add_argument("--data", dest="data_option", default=None, metavar="DATA",
                   help="the same, spelt as in train / evaluate / cv")
    p.add_argument("--format", default="auto", help="dataset format (default: auto-detect)")
    p.add_argument("--json", default=None, type=T.out_file, help="also write the report as JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_data_options(p)
    p.set_defaults(func=_cmd_check_data)

    p = sub.add_parser("download", help="fetch a public dataset (figshare 1512427) with resume and checksums")
    p.add_argument("dataset", choices=["figshare"], help="figshare: Cheng et al. brain tumour dataset (no login)")
    p.add_argument("--out", required=True, type=T.out_dir, help="folder to download and unpack into")
    p.add_argument("--api-url", default=None, help="figshare API article URL (default: the public API)")
    p.add_argument("--no-unpack", action="store_true", help="keep the zip files packed")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("summary", help="print a model's layer table and parameter count")
    p.add_argument("--model", default="seed-ae", help="registered model name")
    p.add_argument("--model-kwargs", default=None, type=T.json_object,
                   help='model options as JSON, e.g. \'{"width": 16}\'')
    p.add_argument("--image-size", type=T.IMAGE_SIZE, default=256)
    p.add_argument("--in-channels", type=T.CHANNELS, default=1)
    p.add_argument("--depth", type=T.int_in(0, 10, "--depth 3"), default=3, help="nesting depth of the table")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("demo", help="synthetic data -> train -> evaluate -> predict, in ~2 minutes on a CPU")
    p.add_argument("--out", default="tumorseg-demo", type=T.out_dir, help="output folder (default: tumorseg-demo)")
    p.add_argument("--n-images", type=T.int_in(20, 100_000, "--n-images 160"), default=160)
    p.add_argument("--image-size", type=T.int_in(32, 1024, "--image-size 128"), default=128)
    p.add_argument("--epochs", type=T.EPOCHS, default=12)
    _add_common(p)
    p.set_defaults(func=_cmd_demo)
    return parser


def _log_above_progress_bars():
    """Log lines printed while a progress bar is on the console go above it (``tqdm.write``) instead of into it.
    Only when the root logger prints to the console (not under a test's log capture, where it does not)."""
    from contextlib import nullcontext

    from tqdm.contrib.logging import logging_redirect_tqdm

    console = any(isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.stderr)
                  for h in logging.root.handlers)
    return logging_redirect_tqdm() if console else nullcontext()


def _unpack_dataset(a: argparse.Namespace) -> None:
    """A dataset given as a ``.zip`` (``--data``, check-data's DIR) is unpacked into the cache before the command
    runs, with a progress bar unless ``--no-progress`` (:mod:`tumorseg.data.unpacked`; later reads find it there)."""
    from tumorseg.data.formats import dataset_root, is_dataset_archive

    for data in (getattr(a, "data", None), getattr(a, "data_option", None)):
        if data and is_dataset_archive(data):
            dataset_root(data, progress=not getattr(a, "no_progress", False))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit status: 0 done, 1 done with problems (check-data, predict failures),
    2 an error (one line on stderr, no traceback), 130 interrupted."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (already reported in one line)
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    try:
        with _log_above_progress_bars():
            _unpack_dataset(args)
            return args.func(args)
    except TumorsegError as exc:
        print(f"tumorseg {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # 128 + signal for a training stopped by SIGINT/SIGTERM
    except ImportError as exc:  # an optional dependency: name the extra that brings it
        from tumorseg.extras import extra_for, missing_extra

        if extra_for(exc.name) is None:
            raise
        print(f"tumorseg {args.command}: error: {missing_extra(exc, f'tumorseg {args.command}')}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine said no (permissions, full disk, ...): the message says where
        log.debug("OSError", exc_info=True)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"tumorseg {args.command}: error: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tumorseg {args.command}: interrupted.", file=sys.stderr)
        return 130
