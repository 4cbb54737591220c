"""digitDataset: MATLAB's DigitDataset layout from minidl's digits, written atomically, and
the data step of MATLAB's "Create Simple Deep Learning Network for Classification" verbatim."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minidl import countEachLabel, digitDataset, digits, imageDatastore, readimage, rng, splitEachLabel
from minidl.data import digit_folder

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def digit_dataset_path():
    return digitDataset()          # the user cache: written once per machine, then reused


def test_layout_sizes_and_pixels_equal_the_built_in_digits(digit_dataset_path):
    classes = sorted(name for name in os.listdir(digit_dataset_path) if not name.startswith("."))
    assert classes == [str(d) for d in range(10)]
    for d in classes:
        names = sorted(os.listdir(os.path.join(digit_dataset_path, d)))
        assert len(names) == 1000 and names[0] == f"image{int(d) * 1000 + 1:05d}.png"
    with Image.open(os.path.join(digit_dataset_path, "3", "image03001.png")) as image:
        assert image.mode == "L" and image.size == (28, 28)
    imds = imageDatastore(digit_dataset_path, IncludeSubfolders=True, LabelSource="foldernames")
    X, Y = digits()
    picked = np.random.default_rng(0).choice(10000, 500, replace=False)
    stacked, labels = imds._observations(picked)
    np.testing.assert_array_equal(stacked, X[..., picked].astype(np.float32))     # PNG is lossless
    np.testing.assert_array_equal(labels.astype(int), Y[picked])


def test_matlab_example_data_step_runs_verbatim(digit_dataset_path):
    rng(0)
    digitDatasetPath = digitDataset()
    imds = imageDatastore(digitDatasetPath, 'IncludeSubfolders', True, 'LabelSource', 'foldernames')
    labelCount = countEachLabel(imds)
    assert labelCount.Label.tolist() == [str(d) for d in range(10)] and set(labelCount.Count) == {1000}
    img = readimage(imds, 1)
    assert img.shape == (28, 28, 1)                                # MATLAB: size(img) = [28 28]
    numTrainFiles = 750
    imdsTrain, imdsValidation = splitEachLabel(imds, numTrainFiles, 'randomize')
    assert len(imdsTrain.Files) == 7500 and len(imdsValidation.Files) == 2500
    assert set(countEachLabel(imdsValidation).Count) == {250}
    assert not set(imdsTrain.Files) & set(imdsValidation.Files)


def test_a_second_call_reuses_the_folder(digit_dataset_path):
    marker = os.path.join(digit_dataset_path, digit_folder._MARKER)
    before = os.stat(marker).st_mtime_ns
    start = time.perf_counter()
    assert digitDataset() == digit_dataset_path
    assert os.stat(marker).st_mtime_ns == before and time.perf_counter() - start < 5
    assert oct(os.stat(digit_dataset_path).st_mode & 0o777) != oct(0o700)      # not left private by mkdtemp


def test_ctrl_c_while_writing_leaves_nothing(tmp_path, monkeypatch):
    saved = []

    def interrupted_save(self, path, *args, **kwargs):
        if len(saved) == 50:
            raise KeyboardInterrupt
        saved.append(path)
        return original(self, path, *args, **kwargs)

    original = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        digitDataset(tmp_path / "DigitDataset")
    assert len(saved) == 50 and os.listdir(tmp_path) == []         # no target, no partial folder


def test_a_killed_writer_leaves_no_folder_that_looks_complete(tmp_path):
    target = tmp_path / "DigitDataset"
    code = f"import minidl; minidl.digitDataset({str(target)!r})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd(),
                               env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(glob.glob(str(tmp_path / ".DigitDataset-partial-*/*/*.png"))) < 200:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not target.exists()
    partial = glob.glob(str(tmp_path / ".DigitDataset-partial-*"))
    assert len(partial) == 1 and not digit_folder._complete(partial[0])


def test_an_unrelated_or_damaged_folder_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="exists and is not minidl's DigitDataset"):
        digitDataset(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    damaged = tmp_path / "damaged"
    for d in range(10):
        (damaged / str(d)).mkdir(parents=True)
    (damaged / digit_folder._MARKER).write_text(json.dumps(digit_folder._DESCRIPTION))
    with pytest.raises(FileExistsError, match="is a damaged DigitDataset"):
        digitDataset(damaged)
    with pytest.raises(TypeError, match="digitDataset: folder must be a path"):
        digitDataset(3)


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    assert digit_folder.default_folder() == os.path.join(str(tmp_path), "DigitDataset")
    monkeypatch.delenv("MINIDL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert digit_folder.default_folder() == os.path.join(str(tmp_path), "cache", "minidl", "DigitDataset")
