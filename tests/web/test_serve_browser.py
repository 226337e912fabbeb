"""``tumorseg serve`` end to end in a real browser: Playwright driving Debian's Chromium headless.

Skips when the playwright package or /usr/bin/chromium is absent. Screenshots
of the page with a prediction go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import shared_data

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"  # tests/artifacts/ (git-ignored)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)

import uvicorn  # noqa: E402

from tumorseg.data.imageio import read_gray  # noqa: E402
from tumorseg.inference.predictor import Predictor  # noqa: E402
from tumorseg.models import build_model  # noqa: E402
from tumorseg.models.checkpoint import DEFAULT_MODEL, make_checkpoint, save_checkpoint  # noqa: E402
from tumorseg.web.app import create_app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    """$TUMORSEG_TEST_MODEL, else the bundled model when there is one (a realistic screenshot), else a random U-Net."""
    chosen = os.environ.get("TUMORSEG_TEST_MODEL")
    if chosen or DEFAULT_MODEL.is_file():
        return Predictor.from_checkpoint(chosen, "cpu", backend="torch")
    torch.manual_seed(0)
    kw = {"width": 8, "levels": 3, "num_res_units": 1}
    path = tmp_path_factory.mktemp("browser") / "m.pt"
    save_checkpoint(make_checkpoint("unet", kw, build_model("unet", **kw), {"image_size": 64, "threshold": 0.5}), path)
    return Predictor.from_checkpoint(path, "cpu", backend="torch")


@contextlib.contextmanager
def _running(app):
    """The app served by uvicorn in a thread on a free port: its URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(predictor):
    with _running(create_app(predictor)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def mr_series():
    """``(write_mr_series, series_pixels)``, the synthetic DICOM writer (skips without pydicom/highdicom)."""
    pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    from data._dicom_series import series_pixels, write_mr_series

    return write_mr_series, series_pixels


def _open(browser, server):
    """A desktop-sized page on the server, and the list its JavaScript errors are collected in."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    return page, errors


@pytest.mark.parametrize("viewport,name", [((1200, 900), "serve_desktop.png"), ((390, 844), "serve_phone.png")])
def test_upload_shows_overlay_and_area(server, browser, predictor, viewport, name):
    image = sorted(shared_data("figshare-native", "images").glob("*.png"))[0]
    expected = int(predictor.predict(read_gray(image)).sum())
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.set_input_files("#file", str(image))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert int(page.get_attribute("#area", "data-px")) == expected
    assert page.inner_text("#area").startswith(f"{expected} px")
    assert page.inner_text("#model").startswith(predictor.label)  # "t1c", as users name it
    size = page.evaluate("() => [document.getElementById('view').width, document.getElementById('view').height]")
    assert size == [512, 512]
    # the overlay is drawn: some canvas pixels are tinted red where the mask is
    red = page.evaluate("""() => { const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60) n++; return n; }""")
    assert (red > 0) == (expected > 0)
    page.set_input_files("#file", str(image.parent.parent / "metadata.csv"))  # not an image: a clear message
    page.wait_for_selector("#status.error", timeout=30_000)
    assert "415" in page.inner_text("#status") and "Supported" in page.inner_text("#status")
    page.set_input_files("#file", str(image))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    assert not errors, errors
    page.close()


def test_files_of_a_dicom_series_are_uploaded_together(server, browser, tmp_path, mr_series):
    write_mr_series, series_pixels = mr_series
    paths = write_mr_series(tmp_path / "series", series_pixels(n=4, rows=64, cols=64))
    page, errors = _open(browser, server)
    page.set_input_files("#file", [str(p) for p in paths])  # one selection of several files
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "64 × 64 × 4 slices"
    assert not page.is_hidden("#summary") and page.is_visible("#download-seg")
    assert page.get_attribute("#download-seg", "download") == "mask_seg.dcm"
    assert page.get_attribute("#download-rtstruct", "download") == "mask_rtstruct.dcm"
    assert page.inner_text("#status").startswith("4 files:")
    page.set_input_files("#file", str(paths[0]))  # then one file: no SEG link
    page.wait_for_function("() => document.getElementById('size').textContent === '64 × 64'", timeout=60_000)
    assert page.is_hidden("#download-seg") and page.is_hidden("#download-rtstruct")
    assert not errors, errors
    page.close()


def test_a_zipped_series_is_read_as_its_files(server, browser, tmp_path, mr_series):
    import zipfile

    write_mr_series, series_pixels = mr_series
    paths = write_mr_series(tmp_path / "series", series_pixels(n=4, rows=64, cols=64))
    with zipfile.ZipFile(tmp_path / "export.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, f"export/SE1/{p.name}")
    page, errors = _open(browser, server)
    page.set_input_files("#file", str(tmp_path / "export.zip"))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "64 × 64 × 4 slices"
    assert page.is_visible("#download-seg")  # a DICOM SEG referencing the zipped series
    assert not errors, errors
    page.close()


def _nrrd_scan(folder: Path) -> Path:
    import numpy as np

    sitk = pytest.importorskip("SimpleITK")
    vol = np.zeros((6, 40, 48), np.int16)  # (Z, Y, X) as SimpleITK takes it
    vol[1:5, 5:35, 5:43] = 300
    vol[2:4, 15:22, 20:28] = 1200
    image = sitk.GetImageFromArray(vol)
    image.SetSpacing((0.9, 0.9, 3.0))
    sitk.WriteImage(image, str(folder / "scan.nrrd"), True)
    return folder / "scan.nrrd"


def _fiji_stack(folder: Path) -> Path:
    import numpy as np
    from PIL import Image

    vol = np.zeros((5, 40, 48), np.uint8)
    vol[:, 5:35, 5:43] = 80
    vol[1:4, 15:22, 20:28] = 250
    pages = [Image.fromarray(v) for v in vol]
    pages[0].save(folder / "stack.tif", save_all=True, append_images=pages[1:])
    return folder / "stack.tif"


@pytest.mark.parametrize("write, slices, name, label", [
    (_nrrd_scan, 6, "mask.nrrd", "Download mask (NRRD)"),  # 3D Slicer's format
    (_fiji_stack, 5, "mask.tif", "Download mask (TIFF stack)"),  # a multi-page TIFF, Fiji's stack
])
def test_a_volume_file_gives_its_mask_back_in_its_format(server, browser, tmp_path, write, slices, name, label):
    """A slider over the volume's slices and a download of the mask in the upload's format."""
    path = write(tmp_path)
    page, errors = _open(browser, server)
    page.set_input_files("#file", str(path))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size").endswith(f"× {slices} slices") and not page.is_hidden("#slice-row")
    assert page.get_attribute("#download", "download") == name
    assert page.inner_text("#download") == label
    assert not errors, errors
    page.close()


def test_a_series_folder_is_chosen_whole(server, browser, tmp_path, mr_series):
    """The folder picker sends the folder's DICOM files only (a DICOMDIR and .DS_Store beside them are left out)."""
    write_mr_series, series_pixels = mr_series
    paths = write_mr_series(tmp_path / "SE1", series_pixels(n=4, rows=64, cols=64))
    paths[0].rename(paths[0].with_suffix(""))  # a file without extension, as exports name them
    (tmp_path / "SE1" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    (tmp_path / "SE1" / ".DS_Store").write_bytes(b"junk")
    page, errors = _open(browser, server)
    page.set_input_files("#folder", str(tmp_path / "SE1"))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "64 × 64 × 4 slices" and page.is_visible("#download-seg")
    assert not errors, errors
    page.close()


def test_a_folder_of_image_slices_is_one_scan(server, browser, tmp_path):
    """A folder without DICOM files: the picker sends its images (not the notes beside them), one scan with a slider."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "scan"
    folder.mkdir()
    for n in range(1, 4):
        Image.fromarray(np.full((48, 40), 40 * n, np.uint8)).save(folder / f"IM{n:04d}.png")
    (folder / "notes.txt").write_text("not a slice")
    page, errors = _open(browser, server)
    page.set_input_files("#folder", str(folder))
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "40 × 48 × 3 slices" and not page.is_hidden("#slice-row")
    assert not errors, errors
    page.close()


def test_a_folder_of_several_series_offers_the_choice(server, browser, tmp_path, mr_series):
    """A flat study folder (two series mixed): the page lists them, and segments the one chosen."""
    write_mr_series, series_pixels = mr_series
    write_mr_series(tmp_path / "study", series_pixels(n=4, rows=64, cols=64)[:2], number=3, description="AX T1 POST",
                    prefix="A")
    write_mr_series(tmp_path / "study", series_pixels(n=4, rows=64, cols=64), number=5, description="AX FLAIR",
                    prefix="B")
    page, errors = _open(browser, server)
    page.set_input_files("#folder", str(tmp_path / "study"))
    page.wait_for_selector("#series-row:not([hidden])", timeout=60_000)
    assert page.eval_on_selector_all("#series-choice option", "os => os.map(o => o.textContent)") == [
        "3: AX T1 POST (2 files)", "5: AX FLAIR (4 files)"]
    page.select_option("#series-choice", "1")
    page.click("#series-go")
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "64 × 64 × 4 slices" and page.is_hidden("#series-row")
    assert not errors, errors
    page.close()


def test_the_probability_map_is_shown_and_offered_when_asked(browser, graded, tmp_path):
    """The box "Also the probability map": a heat map to show instead of the mask (with a predictor whose
    probability is the slice's brightness: every pixel of at least 0.1 tinted), and a download of the map."""
    import numpy as np

    sitk = pytest.importorskip("SimpleITK")
    vol = np.zeros((4, 40, 48), np.int16)
    vol[:, 5:35, 5:43] = 300 + 20 * np.arange(38)  # a ramp: graded probabilities
    vol[1:3, 15:22, 20:28] = 1200
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / "scan.nrrd"), True)
    count = """() => { const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 2] + 40) n++; return n; }"""
    with _running(create_app(graded)) as url:
        page, errors = _open(browser, url)
        page.set_input_files("#file", str(tmp_path / "scan.nrrd"))  # not asked: no map
        page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
        assert page.is_hidden("#show-row") and page.is_hidden("#download-prob")
        page.check("#want-prob")
        page.evaluate("() => { document.getElementById('result').dataset.ready = '0'; }")
        page.set_input_files("#file", [])
        page.set_input_files("#file", str(tmp_path / "scan.nrrd"))
        page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
        assert page.is_visible("#show-row") and page.get_attribute("#download-prob", "download") == "probability.nrrd"
        masked = page.evaluate(count)
        page.select_option("#show", "prob")
        page.wait_for_function("() => document.getElementById('show').value === 'prob'")
        page.wait_for_timeout(300)  # draw() is asynchronous
        heat = page.evaluate(count)
        # the map of the slice shown, decoded in the page: its pixels of probability >= 0.1 (26 of 255)
        expected = page.evaluate("""async () => { const s = state.data.slices[state.slice];
            const img = await loadImage(s.prob_png); const c = document.createElement('canvas');
            c.width = img.width; c.height = img.height; const x = c.getContext('2d'); x.drawImage(img, 0, 0);
            const d = x.getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] >= 26) n++; return n; }""")
        assert masked == int(page.get_attribute("#area", "data-px")) > 0  # the mask: red where it is
        assert heat == expected > masked  # the heat map: every pixel of probability >= 0.1, more than the mask
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve_probability.png"), full_page=True)
        assert not errors, errors
        page.close()


def test_a_4d_nifti_offers_its_volumes(server, browser, tmp_path, predictor):
    """A 4-D NIfTI (no name to go by): the page lists its volumes, segments the one chosen, and keeps the list."""
    import nibabel as nib
    import numpy as np

    vols = np.zeros((40, 48, 3, 4), np.int16)
    nib.save(nib.Nifti1Image(vols, np.eye(4)), str(tmp_path / "scan.nii.gz"))
    page, errors = _open(browser, server)
    page.set_input_files("#file", str(tmp_path / "scan.nii.gz"))
    page.wait_for_selector("#series-row:not([hidden])", timeout=60_000)
    assert page.inner_text("#series-what") == "This file holds 4 volumes:"
    assert page.eval_on_selector_all("#series-choice option", "os => os.map(o => o.textContent)") == [
        "volume 0", "volume 1", "volume 2", "volume 3"]
    page.select_option("#series-choice", "2")
    page.click("#series-go")
    page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
    assert page.inner_text("#size") == "40 × 48 × 3 slices"
    assert not page.is_hidden("#series-row") and page.input_value("#series-choice") == "2"  # another volume: one click
    assert page.inner_text("#series-go") == "Segment this volume"
    # the footer names the model as users name it (t1c, a checkpoint file), then its network and backend
    assert page.inner_text("#model-footer") == f"model: {predictor.label} ({predictor.name}, {predictor.backend})"
    assert not errors, errors
    page.close()


def test_the_largest_cross_section_is_drawn_in_cyan(browser, bright, tmp_path):
    """A NIfTI with a bright ellipse (40 × 20 voxels) on one slice: the page's text gives the cross-section and, on
    that slice (shown first: the most tumour), its two diameters are drawn in cyan over the red mask; another slice
    has none."""
    import nibabel as nib
    import numpy as np

    vol = np.zeros((64, 64, 3), np.int16)
    vol[2:-2, 2:-2, :] = 100
    ii, jj = np.mgrid[:64, :64]
    vol[((ii - 32) / 20) ** 2 + ((jj - 32) / 10) ** 2 <= 1, 1] = 900
    nib.save(nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0])), str(tmp_path / "e.nii.gz"))
    cyan = """() => { const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 60 && d[i + 1] > 180 && d[i + 2] > 220) n++; return n; }"""
    with _running(create_app(bright)) as url:
        page, errors = _open(browser, url)
        page.set_input_files("#file", str(tmp_path / "e.nii.gz"))
        page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
        assert "largest cross-section 40.0 × 20.0 mm (slice 2)" in page.inner_text("#summary")
        assert page.inner_text("#slice-label") == "2 / 3" and page.evaluate(cyan) == 41 + 21 - 1
        page.evaluate("() => { document.getElementById('result').dataset.ready = '0'; }")
        page.fill("#slice", "0")
        page.dispatch_event("#slice", "input")
        page.wait_for_selector('#result[data-ready="1"]', timeout=60_000)
        assert page.inner_text("#slice-label") == "1 / 3" and page.evaluate(cyan) == 0
        assert not errors, errors
        page.close()
