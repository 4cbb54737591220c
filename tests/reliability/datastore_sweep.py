"""The argument sweep's cases for the datastore functions (issue 13), kept apart from
argument_sweep.py so each feature's cases read on their own."""
import math
import os

import numpy as np
from PIL import Image

import minidl
from argument_oracles import boolean, count, int_like, never, one_of


def datastore_cases(fx, slots):
    m = minidl
    folder = os.path.join(fx.folder, "images")
    for label in ("a", "b"):
        os.makedirs(os.path.join(folder, label), exist_ok=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.path.join(folder, label, "0.png"))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.path.join(folder, "top.png"))
    imds = lambda: m.imageDatastore(folder, IncludeSubfolders=True, LabelSource="foldernames")   # noqa: E731
    ads = lambda: m.arrayDatastore(np.arange(6).reshape(3, 2))                                  # noqa: E731
    text = lambda v: None if isinstance(v, (str, list, tuple, np.ndarray)) else False          # noqa: E731
    c = slots("imageDatastore", m.imageDatastore, [folder], {"IncludeSubfolders": True}, {
        (0, "location"): text, ("IncludeSubfolders",): boolean, ("FileExtensions",): text,
        ("LabelSource",): one_of("none", "foldernames"), ("Labels",): lambda v: True if v is None else None,
        ("ReadFcn",): lambda v: True if v is None else (None if callable(v) else False), ("ReadSize",): count,
        ("ReadFailureRule",): one_of("error", "skipfile")})
    c += slots("readimage", m.readimage, [imds(), 1], {}, {(0, "imds"): never, (1, "i"): lambda v: int_like(v, 1, 3)})
    for name in ("read", "hasdata", "reset", "readall", "preview", "shuffle", "numpartitions"):
        c += slots(name, getattr(m, name), [ads()], {}, {(0, "ds"): never})
    c += slots("subset", lambda ds, i: m.subset(ds, i), [ads(), [1]], {}, {
        (0, "ds"): never, (1, "indices"): lambda v: None})
    c += slots("partition", m.partition, [ads(), 2, 1], {}, {
        (0, "ds"): never, (1, "N"): lambda v: None if int_like(v, 1, math.inf) else False,
        (2, "index"): lambda v: int_like(v, 1, 2)})
    c += slots("arrayDatastore", m.arrayDatastore, [np.zeros((3, 2))], {}, {
        (0, "A"): lambda v: None, ("IterationDimension",): lambda v: int_like(v, 1, 2), ("ReadSize",): count,
        ("OutputType",): one_of("cell", "same")})
    c += slots("combine", m.combine, [ads(), ads()], {}, {(0, "datastores"): never, (1, "datastores"): never},
               aliases={"datastores": ("ds", "datastore")})
    # A string folder is mapped to an existing file, so the sweep writes no data set.
    c += slots("digitDataset", lambda folder: m.digitDataset(fx.saved if isinstance(folder, str) else folder),
               [None], {}, {(0, "folder"): lambda v: True if v is None else (None if isinstance(v, str) else False)})
    c += slots("readIDX", m.readIDX, [fx.saved], {}, {(0, "filename"): lambda v: None if isinstance(v, str) else False},
               aliases={"filename": ("file",)})
    c += slots("loadMNIST", m.loadMNIST, [fx.folder, "train"], {}, {
        (0, "folder"): lambda v: None if isinstance(v, str) else False, (1, "split"): lambda v: None})
    # issue 13: augmentation
    images = np.zeros((4, 4, 1, 3), np.float32)
    either = lambda v: None    # noqa: E731   (valid or a clear error: the oracle does not decide)
    c += slots("imageDataAugmenter", m.imageDataAugmenter, [], {}, {
        ("RandXReflection",): boolean, ("RandYReflection",): boolean, ("RandRotation",): either,
        ("RandScale",): either, ("RandXTranslation",): either, ("RandYShear",): either, ("FillValue",): either})
    c += slots("augment", m.augment, [m.imageDataAugmenter(RandRotation=[-10, 10]), images[..., 0]], {}, {
        (0, "augmenter"): lambda v: None if isinstance(v, type(m.imageDataAugmenter())) else False,
        (1, "images"): either}, aliases={"images": ("image",), "augmenter": ("first argument",)})
    c += slots("augmentedImageDatastore", m.augmentedImageDatastore, [[4, 4], images], {}, {
        (0, "outputSize"): either, (1, "X"): either,
        ("ColorPreprocessing",): one_of("none", "gray2rgb", "rgb2gray"),
        ("OutputSizeMode",): one_of("resize", "centercrop", "randcrop")}, aliases={"X": ("imds", "images")})
    return c
