"""imageDatastore: listing, labels, reading, the datastore protocol, MATLAB's functions."""
import os

import numpy as np
import pytest

from minidl import (countEachLabel, hasdata, imageDatastore, numpartitions, partition, preview, read, readall,
                    readimage, reset, rng, shuffle, splitEachLabel, subset)


def test_folder_labels_files_sorted_like_matlab(labelled_folder):
    root, arrays = labelled_folder
    imds = imageDatastore(str(root), 'IncludeSubfolders', True, 'LabelSource', 'foldernames')
    expected = sorted(arrays, key=lambda p: (os.path.dirname(p), os.path.basename(p)))
    assert imds.Files == expected
    assert imds.Labels.tolist() == ["cat"] * 3 + ["dog"] * 2 + ["owl"]
    assert imds.Labels.categories() == ["cat", "dog", "owl"]
    table = countEachLabel(imds)
    assert table.Label.tolist() == ["cat", "dog", "owl"] and table["Count"].tolist() == [3, 2, 1]


def test_without_subfolders_a_folder_of_folders_is_empty(labelled_folder):
    root, _ = labelled_folder
    with pytest.raises(ValueError, match=r"imageDatastore: no files in .*IncludeSubfolders=True"):
        imageDatastore(str(root))


def test_readimage_and_read_give_the_stored_pixels_and_info(labelled_folder):
    root, arrays = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames")
    for i, path in enumerate(imds.Files, start=1):
        image, info = readimage(imds, i)
        assert image.dtype == np.uint8 and image.shape == (4, 5, 1)
        np.testing.assert_array_equal(image[:, :, 0], arrays[path])
        assert info.Filename == path and info.FileSize == os.path.getsize(path)
        assert info.Label == os.path.basename(os.path.dirname(path))
    seen = []
    while hasdata(imds):
        image, info = read(imds)
        seen.append(info.Filename)
        np.testing.assert_array_equal(image[:, :, 0], arrays[info.Filename])
    assert seen == imds.Files
    with pytest.raises(StopIteration, match="reset"):
        read(imds)
    reset(imds)
    assert read(imds).shape == (4, 5, 1)          # one output: the image alone


def test_read_size_gives_lists_and_observations_stack_float32(labelled_folder):
    root, arrays = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames", ReadSize=4)
    images, info = read(imds)
    assert len(images) == 4 and info.Filename == imds.Files[:4] and info.Label.tolist() == ["cat"] * 3 + ["dog"]
    assert len(read(imds)) == 2 and not hasdata(imds)
    X, Y = imds._observations(np.array([5, 0, 3]))
    assert X.dtype == np.float32 and X.shape == (4, 5, 1, 3)
    for k, i in enumerate([5, 0, 3]):          # uint8 values kept: 0–255, no rescaling
        np.testing.assert_array_equal(X[:, :, 0, k], arrays[imds.Files[i]].astype(np.float32))
    assert Y.tolist() == ["owl", "cat", "dog"] and Y.categories() == ["cat", "dog", "owl"]
    assert [len(x) for x in readall(imds)] == [4] * 6 and preview(imds).shape == (4, 5, 1)


def test_subset_shuffle_partition(labelled_folder):
    root, _ = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames")
    sub = subset(imds, [6, 1])
    assert sub.Files == [imds.Files[5], imds.Files[0]] and sub.Labels.tolist() == ["owl", "cat"]
    rng(3)
    order = np.random.default_rng(3).permutation(6)      # rng(3) seeds minidl's generator so
    mixed = shuffle(imds)
    assert mixed.Files == [imds.Files[i] for i in order]
    assert mixed.Labels.tolist() == [imds.Labels.tolist()[i] for i in order]
    # partition(ds, N, i): floor((i-1)·n/N) … floor(i·n/N)-1 with n = 6, N = 4: sizes 1, 2, 1, 2
    parts = [partition(imds, 4, i).Files for i in range(1, 5)]
    assert [len(p) for p in parts] == [1, 2, 1, 2] and sum(parts, []) == imds.Files
    assert numpartitions(imds) == 6
    assert partition(imds, "Files", 2).Files == [imds.Files[1]]
    assert partition(imds, "Files", imds.Files[4]).Files == [imds.Files[4]]


def test_split_each_label_counts_fractions_and_randomize(labelled_folder):
    root, _ = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames")
    first, rest = splitEachLabel(imds, 1)
    assert first.Labels.tolist() == ["cat", "dog", "owl"] and rest.Labels.tolist() == ["cat", "cat", "dog"]
    assert first.Files == [imds.Files[i] for i in (0, 3, 5)]
    half, other = splitEachLabel(imds, 0.5)          # floor(0.5·3) = 1, floor(0.5·2) = 1, floor(0.5·1) = 0
    assert half.Labels.tolist() == ["cat", "dog"] and len(other) == 4
    a, b, c = splitEachLabel(imds, 1, 1, Exclude="owl")     # cats 1 + 1 + 1, dogs 1 + 1 + 0
    assert (a.Labels.tolist(), b.Labels.tolist(), c.Labels.tolist()) == (["cat", "dog"], ["cat", "dog"], ["cat"])
    rng(5)
    r1, r2 = splitEachLabel(imds, 1, "randomized")
    assert sorted(r1.Files + r2.Files) == sorted(imds.Files) and countEachLabel(r1)["Count"].tolist() == [1, 1, 1]
    rng(5)
    assert splitEachLabel(imds, 1, "randomize")[0].Files == r1.Files
    only, _ = splitEachLabel(imds, 1, 'Include', ["dog", "owl"])
    assert only.Labels.tolist() == ["dog", "owl"]
    assert splitEachLabel(imds, 1, Exclude="cat")[0].Labels.tolist() == ["dog", "owl"]


def test_split_each_label_asking_too_many_names_the_label(labelled_folder):
    root, _ = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames")
    with pytest.raises(ValueError, match=r"^splitEachLabel: expected at most 1 observations from label 'owl' "
                                         r"\(it has 1\), received 2\.$"):
        splitEachLabel(imds, 2)
    with pytest.raises(ValueError, match="Include names labels the datastore does not have: \\['emu'\\]"):
        splitEachLabel(imds, 1, Include="emu")
    with pytest.raises(ValueError, match="has no labels"):
        splitEachLabel(imageDatastore(root / "cat"), 1)


def test_labels_are_settable_and_checked(labelled_folder):
    root, _ = labelled_folder
    imds = imageDatastore(root / "cat")
    assert len(imds.Labels) == 0
    with pytest.raises(ValueError, match="countEachLabel: the ImageDatastore has no labels"):
        countEachLabel(imds)
    imds.Labels = [1, 2, 1]
    assert countEachLabel(imds)["Count"].tolist() == [2, 1]
    with pytest.raises(ValueError, match=r"Labels must have one label per file \(3\); received 2"):
        imds.Labels = ["a", "b"]
    explicit = imageDatastore(root / "cat", Labels=["x", "y", "x"])
    assert explicit._observations([1])[1].tolist() == ["y"]


def test_one_class_is_a_clear_error_for_a_classifier(labelled_folder):
    from minidl.data.labels import check_class_count
    root, _ = labelled_folder
    imds = imageDatastore(root / "cat", LabelSource="foldernames")       # every file in one folder
    assert imds.Labels.categories() == ["cat"]
    with pytest.raises(ValueError, match=r"^trainNetwork: the training labels have only one class \('cat'\); a "
                                         r"classifier needs at least two\. .*IncludeSubfolders=True"):
        check_class_count("trainNetwork", imds.Labels.categories())
    check_class_count("trainNetwork", ["cat", "dog"])


def test_locations_lists_wildcards_single_files_and_hidden_entries(labelled_folder, write_image):
    root, arrays = labelled_folder
    write_image(str(root / ".ipynb_checkpoints" / "x.png"), np.zeros((2, 2), np.uint8))
    write_image(str(root / "dog" / ".hidden.png"), np.zeros((2, 2), np.uint8))
    everything = imageDatastore(root, IncludeSubfolders=True)
    assert len(everything.Files) == 6                               # hidden files and folders left out
    listed = imageDatastore([root / "owl", str(root / "cat" / "1.png")])
    assert listed.Files == [str(root / "owl" / "0.png"), str(root / "cat" / "1.png")]   # list order kept
    wild = imageDatastore(str(root / "*" / "1.png"))
    assert wild.Files == [str(root / "cat" / "1.png"), str(root / "dog" / "1.png")]
    folders = imageDatastore(str(root / "[cd]*"), LabelSource="foldernames")
    assert folders.Labels.tolist() == ["cat"] * 3 + ["dog"] * 2
    assert imageDatastore([root / "owl", root / "owl" / "0.png"]).Files == [str(root / "owl" / "0.png")]
    write_image(str(root / "upper" / "A.PNG"), np.zeros((2, 2), np.uint8))
    assert len(imageDatastore(root / "upper").Files) == 1            # extensions match in any case


def test_folder_order_is_by_folder_then_name(tmp_path, write_image):
    for name in ("b/z.png", "b/a.png", "a/2.png", "a/10.png", "a/sub/0.png", "top.png"):
        write_image(str(tmp_path / name), np.zeros((2, 2), np.uint8))
    files = imageDatastore(tmp_path, IncludeSubfolders=True).Files
    relative = [os.path.relpath(f, tmp_path) for f in files]
    assert relative == ["top.png", "a/10.png", "a/2.png", "a/sub/0.png", "b/a.png", "b/z.png"]


@pytest.mark.parametrize("name, mode, shape", [("g.bmp", "L", (5, 6, 1)), ("c.tif", "RGB", (5, 6, 3)),
                                               ("c.jpg", "RGB", (5, 6, 3)), ("g.jpeg", "L", (5, 6, 1)),
                                               ("a.png", "RGBA", (5, 6, 3)), ("p.gif", "P", (5, 6, 3))])
def test_formats_and_colour_modes(tmp_path, name, mode, shape):
    from PIL import Image
    values = np.random.default_rng(0).integers(0, 256, (5, 6, 4)).astype(np.uint8)
    values[..., 3] = 128                                          # half transparent: alpha is dropped
    image = Image.fromarray(values, "RGBA")
    image = image if mode == "RGBA" else image.convert(mode)
    image.save(tmp_path / name)
    result = readimage(imageDatastore(tmp_path / name), 1)
    assert result.shape == shape and result.dtype == np.uint8
    if name.endswith(("jpg", "jpeg")):                            # lossy: what the file holds, decoded apart
        with Image.open(tmp_path / name) as stored:
            expected = np.asarray(stored)
    else:                                                         # lossless: the pixels written
        expected = np.asarray(image.convert("RGB") if mode in ("RGBA", "P") else image)
    np.testing.assert_array_equal(result, expected.reshape(shape))


def test_sixteen_bit_png_keeps_its_values(tmp_path):
    from PIL import Image
    values = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    imds = imageDatastore(tmp_path / "deep.png")
    result = readimage(imds, 1)
    assert result.dtype.kind in "ui" and result[:, :, 0].tolist() == values.tolist()
    np.testing.assert_array_equal(imds._observations([0])[0][:, :, 0, 0], values.astype(np.float32))


def test_datastores_pickle_with_their_labels_for_worker_processes(labelled_folder):
    import pickle
    root, _ = labelled_folder
    imds = imageDatastore(root, IncludeSubfolders=True, LabelSource="foldernames", ReadFailureRule="skipfile")
    imds.Labels = np.array(["b", "a", "b", "c", "a", "b"])
    copy = pickle.loads(pickle.dumps(shuffle(imds)))
    assert copy.Labels.categories() == ["a", "b", "c"] and copy.ReadFailureRule == "skipfile"
    X, Y = copy._observations([0, 1])
    assert Y.categories() == ["a", "b", "c"] and X.shape == (4, 5, 1, 2)
