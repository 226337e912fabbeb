"""DICOM files, one-series folders and the series of a study folder: read as slices; masks written as PNG
(+ NIfTI for a series) and DICOM SEG.

Outputs (``OUT`` is the folder given to :meth:`DicomIO.write_mask`):

* one file ``x.dcm`` -> ``OUT/x.png`` (the slice's rows × columns, 0/255;
  a multi-frame file: ``OUT/x/x_NNN.png`` per frame); an enhanced multi-frame file whose frames are one stack
  of slices in order of position (a 3-D acquisition from a Siemens XA or Philips scanner:
  :func:`~tumorseg.data.formats.dicom.multiframe_affine`) is a volume as a series folder is — also
  ``OUT/x_mask.nii.gz`` with its geometry, and a near-isotropic sagittal or coronal one is read as axial slices;
* a series folder ``<series>/`` (one series, sorted by ImagePositionPatient
  along the slice normal, else InstanceNumber:
  :func:`~tumorseg.data.formats.dicom.read_dicom_series`) ->
  ``OUT/<series>/<series>_NNN.png`` per slice and ``OUT/<series>_mask.nii.gz``
  with the affine built from the DICOM geometry (converted to RAS); a near-isotropic sagittal or
  coronal series is read as axial slices (:func:`~tumorseg.data.formats.orientation.axial_view`),
  and its masks are written back per source slice all the same;
* one series of a folder holding several (a :class:`~tumorseg.data.formats.dicom.DicomSeries` of
  :func:`~tumorseg.data.formats.dicom.list_series`) -> the same files, named after the series
  (``OUT/<folder>_s<number>_<description>_mask.nii.gz`` ...);
* either also gives ``OUT/<name>_seg.dcm``, a DICOM Segmentation referencing
  the source images (:mod:`tumorseg.data.formats.dicom_seg`), when highdicom
  is installed and the source carries what a SEG must copy (otherwise a
  warning, and the other files as usual), and ``OUT/<name>_rtstruct.dcm``, the
  masks' outlines as an RT Structure Set over the same images
  (:mod:`tumorseg.data.formats.rtstruct_write`; not for a multi-frame file).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from tumorseg.data.formats._common import require
from tumorseg.data.formats.dicom import (DicomSeries, dicom_orientation, dicom_pixels, dicom_spacing, header_error,
                                         list_series, multiframe_affine, read_dicom, read_dicom_series)
from tumorseg.data.formats.dicom_seg import write_seg
from tumorseg.data.formats.orientation import axial_view
from tumorseg.data.formats.rtstruct_write import write_rtstruct
from tumorseg.data.formats.scaling import volume_to_uint8
from tumorseg.data.imageio import write_mask_png
from tumorseg.errors import DataError, TumorsegError, why
from tumorseg.io.base import Properties, ReaderWriter

log = logging.getLogger(__name__)


def _frame_pngs(out: Path, name: str, suffix: str, n: int, series: bool) -> list[Path]:
    """The PNG paths of ``n`` slices (parent folder created): ``out/<name><suffix>.png`` for the one frame of a file,
    else ``out/<name>/<name><suffix>_NNN.png``."""
    written = ([out / f"{name}{suffix}.png"] if n == 1 and not series
               else [out / name / f"{name}{suffix}_{i:03d}.png" for i in range(n)])
    written[0].parent.mkdir(parents=True, exist_ok=True)
    return written


def _one_multiframe_file(folder: Path, series: DicomSeries | None) -> Path | None:
    """The file of a series (``series``, else the folder's only series) that is one multi-frame file, else ``None``
    (several files, or a classic one: :func:`~tumorseg.data.formats.dicom.read_dicom_series` reads them). Headers
    only, read once per folder (:func:`~tumorseg.data.formats.dicom.list_series`)."""
    if series is None:
        found = list_series(folder)
        if len(found) != 1:
            return None  # none, or several: read_dicom_series says which
        series = found[0]
    if len(series.files) != 1:
        return None
    header = read_dicom(series.files[0], pixels=False)
    return series.files[0] if int(getattr(header, "NumberOfFrames", 1) or 1) > 1 else None


class DicomIO(ReaderWriter):
    """One DICOM file (single- or multi-frame), a folder holding one series, or one series of a folder
    (:class:`~tumorseg.data.formats.dicom.DicomSeries`; outputs are named after it).

    ``read`` gives ``(Z, rows, cols) uint8``: the frames of a file, or the
    series' slices in geometric order, after RescaleSlope/Intercept, scaled with
    one scale for all of them (:func:`~tumorseg.data.formats.scaling.volume_to_uint8`).
    The pixel header is checked against :mod:`tumorseg.limits` before decoding
    (:func:`~tumorseg.data.formats.dicom.check_pixel_header`); colour DICOM is refused.
    """

    kind = "dicom"

    def read(self, path: Path | DicomSeries) -> tuple[np.ndarray, Properties]:
        """Raises :class:`DataError` for what the readers refuse, and for a header pydicom cannot parse (a damaged
        number, value representation or length: pydicom parses values only when they are read)."""
        try:
            return self._read(path)
        except TumorsegError:
            raise
        except Exception as exc:
            if (error := header_error(exc, path)) is None:
                raise
            raise error from None

    def _read(self, path: Path | DicomSeries) -> tuple[np.ndarray, Properties]:
        series = path if isinstance(path, DicomSeries) else None
        path = series.folder if series else Path(path)
        if path.is_dir() and (single := _one_multiframe_file(path, series)) is not None:
            # a series that is one enhanced multi-frame file (how a modern scanner's export holds a 3-D acquisition):
            # read as that file, named after the series
            array, props = self.read(single)
            return array, replace(props, name=series.name if series else path.name)
        if path.is_dir():
            volume, affine, dss = read_dicom_series(path, series)  # (Z, rows, cols) float32
            name = series.name if series else path.name
            source_shape = volume.shape
            array = volume_to_uint8(volume)  # one scale for the whole series
            del volume
            col_mm, row_mm, step_mm = np.linalg.norm(affine[:3, :3], axis=0)  # affine axes: (cols, rows, slices)
            sp = dicom_spacing(dss[0])
            spacing = (step_mm if len(dss) > 1 else (sp[2] if sp else None), row_mm, col_mm)
            iop = dicom_orientation(dss[0])
            spacing = tuple(float(s) if s is not None else None for s in spacing)
            axes, view, axial_spacing = (None, None, None) if len(dss) < 2 else axial_view(
                affine, (col_mm, row_mm, step_mm), (2, 1, 0), name, log)
            if axes is not None:  # a near-isotropic sagittal/coronal series, read as axial slices
                array, spacing = array.transpose(axes), axial_spacing
            return array, Properties(path, "dicom", name, array.shape, source_shape, spacing, affine,
                                     tuple(iop) if iop else None, dss, series=True, axes=axes, view_affine=view)
        ds = read_dicom(path)
        if int(getattr(ds, "SamplesPerPixel", 1) or 1) != 1:
            raise DataError(f"{path}: the DICOM file holds a colour image; give a grayscale MRI slice.")
        pixels = dicom_pixels(ds, path)
        frames = pixels if pixels.ndim == 3 else pixels[None]  # multi-frame files: (frames, rows, cols)
        if frames.ndim != 3:
            raise DataError(f"{path}: DICOM pixel data of shape {pixels.shape} is not a grayscale image.")
        array = volume_to_uint8(frames)  # one scale for all frames
        sp = dicom_spacing(ds)  # (row, col, slice)
        iop = dicom_orientation(ds)
        affine = multiframe_affine(ds, str(path)) if len(frames) > 1 else None
        if affine is None:
            return array, Properties(path, "dicom", path.stem, array.shape, pixels.shape,
                                     (sp[2], sp[0], sp[1]) if sp else None, None, tuple(iop) if iop else None, [ds])
        # an enhanced multi-frame file holding one stack (a 3-D acquisition): a volume, as a series folder is
        col_mm, row_mm, step_mm = (float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))
        spacing = (step_mm, row_mm, col_mm)
        axes, view, axial_spacing = axial_view(affine, (col_mm, row_mm, step_mm), (2, 1, 0), path.stem, log)
        if axes is not None:  # a near-isotropic sagittal/coronal 3-D acquisition, read as axial slices
            array, spacing = array.transpose(axes), axial_spacing
        return array, Properties(path, "dicom", path.stem, array.shape, pixels.shape, spacing, affine,
                                 tuple(iop) if iop else None, [ds], axes=axes, view_affine=view)

    def write_mask(self, mask: np.ndarray, properties: Properties, out: Path, algorithm: str = "model") -> list[Path]:
        mask = properties.stored(mask)  # (Z, rows, cols): the source slices, whatever the array read
        out, name = Path(out), properties.name
        written = _frame_pngs(out, name, "", len(mask), properties.series)
        for m, target in zip(mask, written):
            write_mask_png(m, target)
        if properties.affine is not None:  # a series, or a multi-frame file holding one stack
            written.append(self._nifti(mask, properties.affine, out / f"{name}_mask.nii.gz"))
        return written + self._dicom_objects(mask, properties, out, name, algorithm)

    def write_probabilities(self, prob: np.ndarray, properties: Properties, out: Path) -> list[Path]:
        """A series: ``<name>_prob.nii.gz`` (uint8, slope 1/255, the series' affine, as its mask NIfTI); one file:
        ``<name>_prob.png`` (a multi-frame file: ``<name>/<name>_prob_NNN.png``), probability x 255."""
        prob = properties.source_layout(prob).astype(np.uint8)
        out, name = Path(out), properties.name
        if properties.series:
            return [self._nifti(prob, properties.affine, out / f"{name}_prob.nii.gz", slope=1 / 255)]
        written = _frame_pngs(out, name, "_prob", len(prob), series=False)
        for p, target in zip(prob, written):
            Image.fromarray(p, mode="L").save(target)
        return written

    @staticmethod
    def _nifti(mask: np.ndarray, affine: np.ndarray, target: Path, slope: float = 1.0) -> Path:
        """A series' mask ``(Z, rows, cols)`` as a ``(cols, rows, Z) uint8`` NIfTI with the series' RAS affine
        (``slope``: the header's scale, 1/255 for a probability map)."""
        nib = require("nibabel", "writing NIfTI masks")
        img = nib.Nifti1Image(np.transpose(mask, (2, 1, 0)).astype(np.uint8), affine)
        img.header.set_slope_inter(slope, 0)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        nib.save(img, str(target))
        return target

    @staticmethod
    def _dicom_objects(mask: np.ndarray, properties: Properties, out: Path, name: str, algorithm: str) -> list[Path]:
        """The DICOM SEG and the RTSTRUCT beside the other outputs (a multi-frame file gets no RTSTRUCT: its SEG
        covers it); a source that cannot carry one only costs a warning naming what it lacks."""
        writers = []
        if importlib.util.find_spec("highdicom") is None:
            log.warning("%s_seg.dcm not written: DICOM SEG output needs highdicom (pip install 'tumorseg[formats]')",
                        name)
        else:
            writers.append((write_seg, out / f"{name}_seg.dcm"))
        if properties.series or int(getattr(properties.datasets[0], "NumberOfFrames", 1) or 1) == 1:
            writers.append((write_rtstruct, out / f"{name}_rtstruct.dcm"))
        written = []
        for write, target in writers:
            try:
                written.append(write(mask, properties.datasets, target, algorithm, properties.source))
            except DataError as exc:
                log.warning("%s The other mask files are written all the same.", exc)
            except Exception as exc:  # noqa: BLE001 - a damaged source header that highdicom/pydicom trip on
                log.warning("%s: %s not written (%s). The other mask files are written all the same.",
                            properties.source or name, target.name, why(exc))
        return written
