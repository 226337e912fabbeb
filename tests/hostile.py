"""Hostile files built on the fly, tiny on disk: decompression bombs and lying headers.

Used by ``tests/test_hardening*.py`` and ``benchmarks/serve_hostile.py``. Every
builder streams zeros through zlib in 1 MiB blocks, so even a file that
inflates to hundreds of MB costs well under a second and a few MB to build.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

ZEROS = bytes(1 << 20)


def _deflate(parts: list[bytes], zeros: int, wbits: int) -> bytes:
    """``parts`` followed by ``zeros`` zero bytes, compressed (gzip for wbits 31, raw deflate for -15)."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    out = [c.compress(p) for p in parts]
    while zeros > 0:
        n = min(zeros, len(ZEROS))
        out.append(c.compress(ZEROS[:n]))
        zeros -= n
    out.append(c.flush())
    return b"".join(out)


def nifti_header(shape: tuple[int, ...], dtype=np.int16) -> bytes:
    """A NIfTI-1 single-file header (348 bytes + 4 extension bytes) declaring ``shape`` of ``dtype``."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr["vox_offset"] = 352
    hdr["magic"] = b"n+1"
    return hdr.binaryblock + b"\0\0\0\0"


def nifti_gz_bomb(shape: tuple[int, ...] = (512, 512, 256), dtype=np.int16, extra: int = 0) -> bytes:
    """A ``.nii.gz`` whose header declares ``shape`` and whose gzip stream holds that many zero voxels
    (plus ``extra`` trailing zero bytes). The default, 512×512×256 int16 = 128 MiB, is ~130 kB on disk:
    the first upload of the hardening issue's table."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize + extra
    return _deflate([nifti_header(shape, dtype)], n, 31)


def nrrd_gz_bomb(shape: tuple[int, int, int] = (512, 512, 512), extra: int = 0) -> bytes:
    """A ``.nrrd`` (gzip encoding) declaring ``shape`` int16 whose data inflates to that many zero voxels (plus
    ``extra`` bytes): 512³ = 256 MiB in ~260 kB."""
    head = (f"NRRD0004\ntype: short\ndimension: 3\nsizes: {' '.join(map(str, shape))}\nencoding: gzip\n"
            "endian: little\n\n").encode()
    return head + _deflate([], int(np.prod(shape)) * 2 + extra, 31)


def mha_bomb(shape: tuple[int, int, int] = (512, 512, 512), extra: int = 0) -> bytes:
    """A ``.mha`` (zlib-compressed MetaImage) declaring ``shape`` int16 whose data inflates to that many zero
    voxels (plus ``extra`` bytes)."""
    data = _deflate([], int(np.prod(shape)) * 2 + extra, 15)
    head = (f"ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
            f"CompressedData = True\nCompressedDataSize = {len(data)}\nDimSize = {' '.join(map(str, shape))}\n"
            "ElementType = MET_SHORT\nElementDataFile = LOCAL\n").encode()
    return head + data


def nifti_gz_pattern(shape: tuple[int, ...], dtype=np.int16, seed: int = 0) -> bytes:
    """A ``.nii.gz`` of ``shape`` with real content (a repeated random slice, so it compresses): every slice
    has brain-like non-zero voxels, so the server runs the model on all of them."""
    rng = np.random.default_rng(seed)
    slice_ = rng.integers(1, 1000, shape[:2]).astype(dtype)
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [c.compress(nifti_header(shape, dtype))]
    block = np.asfortranarray(slice_).tobytes(order="F")
    for _ in range(shape[2]):
        out.append(c.compress(block))
    out.append(c.flush())
    return b"".join(out)


def _crc_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 50000, height: int = 50000, rows: int = 16) -> bytes:
    """A valid-looking 8-bit grayscale PNG declaring ``width × height`` (CRCs correct) whose IDAT holds only
    ``rows`` rows of zeros: refused from the header, or decoded as truncated."""
    raw = (b"\0" + bytes(width)) * rows
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _crc_chunk(b"IHDR", ihdr) + _crc_chunk(b"IDAT", zlib.compress(raw, 9))
            + _crc_chunk(b"IEND", b""))


def png_zeros(width: int, height: int) -> bytes:
    """A complete, valid all-zero grayscale PNG (compresses ~1000:1): the largest image a cap accepts."""
    c = zlib.compressobj(9)
    row = b"\0" + bytes(width)
    idat = b"".join(c.compress(row) for _ in range(height)) + c.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _crc_chunk(b"IHDR", ihdr) + _crc_chunk(b"IDAT", idat) + _crc_chunk(b"IEND", b"")


def tiff_bomb(width: int = 50000, height: int = 50000) -> bytes:
    """A little-endian uncompressed 8-bit TIFF whose IFD declares ``width × height`` with 16 bytes of data."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, width * height)]
    ifd_size = 2 + 12 * len(entries) + 4
    data_at = 8 + ifd_size
    entries[5] = (273, 4, 1, data_at)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, count,
                                                                                           value, 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16)


def _dicom_meta(transfer_syntax: str) -> bytes:
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_file_meta_info(buf, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buf.getvalue()


def _dicom_dataset(rows: int, cols: int, frames: int, bits: int, series_uid: str | None = None,
                   position: float | None = None) -> bytes:
    """The non-pixel elements of a grayscale MR image, explicit VR little endian (a new series unless
    ``series_uid``; with ``position``, axial geometry at that z)."""
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import MRImageStorage, generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, generate_uid()
    ds.Modality, ds.SeriesInstanceUID = "MR", series_uid or generate_uid()
    if position is not None:
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, position]
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    return buf.getvalue()


def dicom_deflate_bomb(rows: int = 8192, cols: int = 8192, frames: int = 1, bits: int = 16) -> bytes:
    """A Deflated Explicit VR Little Endian DICOM whose dataset inflates to a ``frames × rows × cols``
    image of zeros. The default (128 MiB of pixels) is ~130 kB; 12000² 8-bit frames are ~140 kB."""
    n = rows * cols * frames * bits // 8
    pixel_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW" if bits > 8 else b"OB", 0, n)
    body = _deflate([_dicom_dataset(rows, cols, frames, bits), pixel_header], n, -15)
    return _dicom_meta("1.2.840.10008.1.2.1.99") + body


def dicom_deflate_series(files: int, payload: int, rows: int = 64, cols: int = 64) -> list[bytes]:
    """``files`` deflated slices of one series, each declaring a small ``rows × cols`` 16-bit image but carrying
    ``payload`` bytes of pixel data (zeros, ~1000:1): each file passes the per-file caps, together they inflate to
    ``files × payload`` bytes."""
    from pydicom.uid import generate_uid

    uid = generate_uid()
    out = []
    for k in range(files):
        pixel_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, payload)
        body = _deflate([_dicom_dataset(rows, cols, 1, 16, uid, float(k)), pixel_header], payload, -15)
        out.append(_dicom_meta("1.2.840.10008.1.2.1.99") + body)
    return out


def dicom_rle_bomb(rows: int = 12000, cols: int = 12000) -> bytes:
    """An RLE Lossless DICOM declaring a ``rows × cols`` 8-bit frame, with a 100-byte fragment."""
    from pydicom.encaps import encapsulate

    seg = b"\x81\x00" * 50  # RLE runs of zeros (128 each)
    frame = struct.pack("<16I", 1, 64, *([0] * 14)) + seg
    pixel = encapsulate([frame])
    pixel_header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF)
    delimiter = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return _dicom_meta("1.2.840.10008.1.2.5") + _dicom_dataset(rows, cols, 1, 8) + pixel_header + pixel + delimiter


def zip_bomb(member_bytes: int = 256 << 20, name: str = "IM0001.dcm", members: int = 1) -> bytes:
    """A ``.zip`` whose ``members`` members each inflate to ``member_bytes`` zero bytes (deflate, level 9):
    256 MiB in ~260 kB by default; its central directory declares the true sizes."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for i in range(members):
            with z.open(f"{i:04d}_{name}" if members > 1 else name, "w", force_zip64=True) as f:
                left = member_bytes
                while left > 0:
                    f.write(ZEROS[: min(left, len(ZEROS))])
                    left -= len(ZEROS)
    return buf.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    """A ``.zip`` holding ``files`` (name -> bytes), deflated."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def multipart(name: str, data: bytes | list[bytes], field: str = "file",
              form: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one file field (or, for a list, the field repeated once per part: the
    files of a DICOM series), after the plain fields ``form`` (e.g. ``{"probabilities": "true"}``), and its content
    type (for raw HTTP clients)."""
    boundary = "tumorsegboundary7MA4YWxkTrZu0gW"
    body = io.BytesIO()
    for key, value in (form or {}).items():
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n".encode())
    parts = data if isinstance(data, list) else [data]
    for i, part in enumerate(parts):
        filename = name if len(parts) == 1 else f"{i:04d}_{name}"
        body.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n".encode())
        body.write(part)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


# the uploads of the hardening issue's table (name -> bytes builder), for tests and benchmarks/serve_hostile.py
TABLE = {
    "nifti_gz_130kB_128MiB": lambda: nifti_gz_bomb((512, 512, 256)),
    "nifti_gz_261kB_256MiB": lambda: nifti_gz_bomb((512, 512, 512)),
    "nifti_gz_small_header_trailing_bomb": lambda: nifti_gz_bomb((64, 64, 8), extra=256 << 20),
    "dicom_deflate_131kB_128MiB": lambda: dicom_deflate_bomb(8192, 8192, 1, 16),
    "dicom_deflate_12000sq_frame": lambda: dicom_deflate_bomb(12000, 12000, 1, 8),
    "dicom_rle_12000sq_frame": lambda: dicom_rle_bomb(12000, 12000),
    "png_50000sq": lambda: png_bomb(50000, 50000),
    "tiff_50000sq": lambda: tiff_bomb(50000, 50000),
    "nrrd_gz_260kB_256MiB": lambda: nrrd_gz_bomb((512, 512, 512)),
    "mha_zlib_260kB_256MiB": lambda: mha_bomb((512, 512, 512)),
    "zip_260kB_256MiB": lambda: zip_bomb(256 << 20),
    "zip_of_a_nifti_gz_bomb": lambda: zip_of({"scan.nii.gz": nifti_gz_bomb((512, 512, 256))}),
    "zip_2000_files": lambda: zip_of({f"IM{i:04d}.dcm": b"" for i in range(2000)}),
}

# multi-file uploads (the files of one "series", sent as repeated fields): name -> builder of the list of files
SERIES_TABLE = {
    # 300 slices declaring 64×64, each inflating to 40 MiB (12 GB in all from ~12 MB sent)
    "dicom_series_300_deflated_40MiB_each": lambda: dicom_deflate_series(300, 40 << 20),
}
