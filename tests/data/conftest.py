"""Small image folders for the datastore tests, written with Pillow."""
import os

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")


def write_image(path, array):
    """Write ``array`` (H×W uint8, or H×W×3) as an image file; the format follows the extension."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)
    return path


@pytest.fixture(name="write_image")
def write_image_fixture():
    return write_image


@pytest.fixture
def labelled_folder(tmp_path):
    """tmp/{cat,dog,owl}/k.png: 3 cats, 2 dogs, 1 owl; image (label index, k) is filled with 10·k + label."""
    arrays = {}
    for li, (label, count) in enumerate((("cat", 3), ("dog", 2), ("owl", 1))):
        for k in range(count):
            array = np.full((4, 5), 10 * k + li, np.uint8)
            array[0, 0] = 200 + li                   # not constant: checks the orientation too
            arrays[write_image(str(tmp_path / label / f"{k}.png"), array)] = array
    return tmp_path, arrays
