"""imageDataAugmenter and augment against hand-computed transforms (issue 13, point 2).

Images are small (5×5 mostly) so every expected pixel can be worked out by hand from the
documented maths: 0-based pixel centres, x right, y down, centre c = ((W-1)/2, (H-1)/2);
a point is rotated (counterclockwise on screen), sheared, scaled, reflected about c, then
translated; each output pixel is the bilinear blend at its inverse-mapped source point in
the image surrounded by FillValue.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minidl
from minidl import augment, imageDataAugmenter
from minidl.data import image_ops
from minidl.data.augmentation import DEFAULTS
from minidl.options import OptionError

GRID = np.arange(25, dtype=np.float64).reshape(5, 5) + 1      # distinct values 1..25


def spot(row, col, size=(5, 5)):
    image = np.zeros(size)
    image[row, col] = 1.0
    return image


def fixed(**ranges):
    """An augmenter whose every range is one value (no randomness left but reflections)."""
    return imageDataAugmenter(**{name: [value, value] for name, value in ranges.items()})


class Uniforms:
    """A stand-in generator whose uniform draws are all ``value`` (to force reflections)."""

    def __init__(self, value):
        self.value = value

    def random(self, shape):
        return np.full(shape, self.value)


def warp_with(augmenter, image, generator):
    parameters = augmenter.draw(1, generator)
    transform = augmenter.transforms(parameters, *image.shape[:2])
    return image_ops.warp(image[None, :, :, None], transform, augmenter.fill_for("test", 1))[0, :, :, 0]


# --- each option alone -----------------------------------------------------------------------
def test_defaults_are_matlabs_and_the_identity():
    aug = imageDataAugmenter()
    assert aug.FillValue == 0 and aug.RandXReflection is False and aug.RandYReflection is False
    for name in ("RandRotation", "RandXShear", "RandYShear", "RandXTranslation", "RandYTranslation"):
        np.testing.assert_array_equal(getattr(aug, name), [0, 0])
    for name in ("RandScale", "RandXScale", "RandYScale"):
        np.testing.assert_array_equal(getattr(aug, name), [1, 1])
    np.testing.assert_array_equal(augment(aug, GRID), GRID)


@pytest.mark.parametrize("name, mirrored", [("RandXReflection", (1, 1)), ("RandYReflection", (3, 3))])
def test_reflection_moves_the_pixel_to_its_mirror_half_the_time(name, mirrored):
    aug = imageDataAugmenter(**{name: True})
    np.testing.assert_array_equal(warp_with(aug, spot(1, 3), Uniforms(0.25)), spot(*mirrored))   # u < 0.5: mirror
    np.testing.assert_array_equal(warp_with(aug, spot(1, 3), Uniforms(0.75)), spot(1, 3))
    minidl.rng(0)
    outcomes = [augment(aug, spot(1, 3)) for _ in range(400)]
    flipped = sum(np.array_equal(o, spot(*mirrored)) for o in outcomes)
    kept = sum(np.array_equal(o, spot(1, 3)) for o in outcomes)
    assert flipped + kept == 400 and 160 < flipped < 240        # Binomial(400, 1/2): 5 sigma


@pytest.mark.parametrize("degrees, turns", [(90, 1), (-90, -1), (180, 2), (270, 3)])
def test_rotation_is_counterclockwise_about_the_centre(degrees, turns):
    # By hand for 90°: (x, y) ↦ (y, -x) about c = (2, 2), so pixel (r, c) goes to (4 - c, r):
    # the top-right corner comes to the top-left, as numpy's counterclockwise rot90.
    out = augment(fixed(RandRotation=degrees), GRID)
    np.testing.assert_array_equal(out, np.rot90(GRID, turns))


def test_rotation_by_90_degrees_pixel_by_pixel():
    out = augment(fixed(RandRotation=90), GRID)
    for r in range(5):
        for c in range(5):
            assert out[4 - c, r] == GRID[r, c]


def test_rotation_by_45_degrees_by_hand():
    # Output pixel (row 2, col 3) is x = 1, y = 0 from the centre; its source is R(-45°)
    # applied to it: (cos45, sin45) = (0.7071, 0.7071) → between pixels (2,3),(2,2),(3,2),(3,3).
    out = augment(fixed(RandRotation=45), GRID)
    s = np.sqrt(0.5)
    u, v = 2 + s, 2 + s
    expected = (GRID[2, 2] * (3 - u) * (3 - v) + GRID[2, 3] * (u - 2) * (3 - v) + GRID[3, 2] * (3 - u) * (v - 2)
                + GRID[3, 3] * (u - 2) * (v - 2))
    np.testing.assert_allclose(out[2, 3], expected, rtol=1e-12)
    assert out[2, 2] == GRID[2, 2]


def test_integer_translation_shifts_exactly_and_fills():
    aug = imageDataAugmenter(RandXTranslation=[2, 2], RandYTranslation=[-1, -1], FillValue=7)
    expected = np.full((5, 5), 7.0)
    expected[0:4, 2:5] = GRID[1:5, 0:3]           # right by 2, up by 1
    np.testing.assert_array_equal(augment(aug, GRID), expected)


def test_translation_by_half_a_pixel_averages_neighbours():
    out = augment(fixed(RandXTranslation=0.5), GRID)
    np.testing.assert_allclose(out[:, 1:], (GRID[:, :-1] + GRID[:, 1:]) / 2, rtol=1e-12)
    np.testing.assert_allclose(out[:, 0], GRID[:, 0] / 2)      # half of it comes from the fill (0)


def test_scale_two_about_the_centre():
    out = augment(fixed(RandScale=2), spot(3, 3))
    assert out[4, 4] == 1.0                        # (1, 1) from the centre ↦ (2, 2)
    assert out[3, 3] == 0.25                       # source (2.5, 2.5): a quarter of each neighbour
    assert out[3, 4] == 0.5 and out[4, 3] == 0.5
    assert out.sum() == 1.0 + 0.25 + 0.5 + 0.5


def test_scale_one_half_samples_every_other_pixel():
    out = augment(fixed(RandScale=0.5), GRID)
    expected = np.zeros((5, 5))
    expected[1:4, 1:4] = GRID[0:5:2, 0:5:2]
    np.testing.assert_array_equal(out, expected)


def test_x_and_y_scale_act_on_their_own_axis():
    out = augment(fixed(RandXScale=0.5, RandYScale=1), GRID)
    expected = np.zeros((5, 5))
    expected[:, 1:4] = GRID[:, 0:5:2]
    np.testing.assert_array_equal(out, expected)


def test_x_shear_by_45_degrees_by_hand():
    # x' = x + y·tan 45° = x + y: row r (y = r - 2) moves right by r - 2.
    out = augment(fixed(RandXShear=45), GRID)
    expected = np.zeros((5, 5))
    for r in range(5):
        for c in range(5):
            if 0 <= c - (r - 2) < 5:
                expected[r, c] = GRID[r, c - (r - 2)]
    np.testing.assert_array_equal(out, expected)


def test_y_shear_with_tangent_one_half_blends_half_pixels():
    # y' = y + x/2: column 3 (x = 1) samples rows half a pixel up.
    out = augment(fixed(RandYShear=np.degrees(np.arctan(0.5))), GRID)
    np.testing.assert_allclose(out[1:, 3], (GRID[:-1, 3] + GRID[1:, 3]) / 2, rtol=1e-12)
    np.testing.assert_allclose(out[:, 4], np.r_[0, GRID[:-1, 4]], rtol=1e-12)   # x = 2: one row down
    np.testing.assert_array_equal(out[:, 2], GRID[:, 2])


def test_fill_value_per_channel():
    rgb = np.ones((4, 4, 3))
    out = augment(imageDataAugmenter(RandXTranslation=[1, 1], FillValue=[10, 20, 30]), rgb)
    np.testing.assert_array_equal(out[:, 0, :], np.tile([10.0, 20, 30], (4, 1)))
    np.testing.assert_array_equal(out[:, 1:, :], 1.0)
    with pytest.raises(ValueError, match=r"FillValue must be a scalar or have one value per channel \(3\)"):
        augment(imageDataAugmenter(FillValue=[1, 2]), rgb)


# --- composition ---------------------------------------------------------------------------------
def test_rotation_comes_before_translation():
    out = augment(fixed(RandRotation=90, RandXTranslation=1), GRID)
    expected = np.zeros((5, 5))
    expected[:, 1:] = np.rot90(GRID)[:, :-1]
    np.testing.assert_array_equal(out, expected)


def test_rotation_comes_before_scale():
    # (x, y) = (1, 0) → rotate → (0, -1) → XScale 2 → (0, -1): row 1, col 2 (scaling first
    # would give (2, 0) → (0, -2): row 0). The x stretch spreads it half onto (1, 1) and (1, 3).
    out = augment(fixed(RandRotation=90, RandXScale=2), spot(2, 3))
    expected = np.zeros((5, 5))
    expected[1, 1:4] = [0.5, 1, 0.5]
    np.testing.assert_allclose(out, expected, atol=1e-15)


def test_rotation_comes_before_shear():
    # (1, 0) → rotate 90 → (0, -1) → XShear 45 (x += y) → (-1, -1): row 1, col 1; shearing
    # first would leave (1, 0) and then rotate it to row 1, col 2.
    out = augment(fixed(RandRotation=90, RandXShear=45), spot(2, 3))
    np.testing.assert_allclose(out, spot(1, 1), atol=1e-15)


def test_shear_comes_before_scale():
    # (0, 1) → XShear 45 → (1, 1) → YScale 2 → (1, 2): row 4, col 3.
    out = augment(fixed(RandXShear=45, RandYScale=2), spot(3, 2))
    assert out[4, 3] == 1.0


def test_rotation_comes_before_reflection():
    # (1, 0) → rotate 90 → (0, -1) → mirror x → (0, -1): row 1, col 2; reflecting first
    # would give (-1, 0) → (0, 1): row 3.
    aug = imageDataAugmenter(RandRotation=[90, 90], RandXReflection=True)
    out = warp_with(aug, spot(2, 3), Uniforms(0.25))
    np.testing.assert_array_equal(out, spot(1, 2))


def reference_warp(image, degrees, shear_x, shear_y, scale_x, scale_y, flip_x, flip_y, tx, ty, fill):
    """Float64 twin written from the column-vector formula, pixel by pixel:
    p' = c + F·S·Sh·R·(p − c) + t, R = [[cos, sin], [−sin, cos]], Sh = [[1, tan ψx], [tan ψy, 1]]."""
    height, width = image.shape
    t = np.radians(degrees)
    rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    shear = np.array([[1, np.tan(np.radians(shear_x))], [np.tan(np.radians(shear_y)), 1]])
    linear = np.diag([flip_x * scale_x, flip_y * scale_y]) @ shear @ rotation
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    padded = np.pad(image, 1, constant_values=fill)
    out = np.empty_like(image)
    for row in range(height):
        for col in range(width):
            u, v = np.linalg.solve(linear, np.array([col, row]) - centre - [tx, ty]) + centre
            if not (-1 < u < width and -1 < v < height):
                out[row, col] = fill
                continue
            left, top = int(np.floor(u)), int(np.floor(v))
            a, b = u - left, v - top
            out[row, col] = ((1 - a) * (1 - b) * padded[top + 1, left + 1] + a * (1 - b) * padded[top + 1, left + 2]
                             + (1 - a) * b * padded[top + 2, left + 1] + a * b * padded[top + 2, left + 2])
    return out


def test_every_option_together_matches_the_float64_twin():
    rng = np.random.default_rng(5)
    image = rng.random((7, 9))
    values = dict(degrees=23.0, shear_x=11.0, shear_y=-7.0, scale_x=1.2, scale_y=0.9, tx=0.7, ty=-1.3)
    aug = imageDataAugmenter(RandRotation=[23, 23], RandXShear=[11, 11], RandYShear=[-7, -7], RandXScale=[1.2, 1.2],
                             RandYScale=[0.9, 0.9], RandXTranslation=[0.7, 0.7], RandYTranslation=[-1.3, -1.3],
                             RandXReflection=True, RandYReflection=True, FillValue=0.5)
    for uniform, flips in ((0.25, -1), (0.75, 1)):
        parameters = aug.draw(1, Uniforms(uniform))
        transform = aug.transforms(parameters, 7, 9)
        out = image_ops.warp(image[None, :, :, None], transform, [0.5])[0, :, :, 0]
        expected = reference_warp(image, flip_x=flips, flip_y=flips, fill=0.5, **values)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


# --- ranges, function handles, determinism ---------------------------------------------------------
def test_ranges_are_drawn_uniformly_and_reproducibly_under_rng():
    aug = imageDataAugmenter(RandRotation=[-30, 10], RandXTranslation=[2, 4])
    minidl.rng(11)
    first = aug.draw(2000)
    minidl.rng(11)
    again = aug.draw(2000)
    np.testing.assert_array_equal(first["Rotation"], again["Rotation"])
    assert first["Rotation"].min() >= -30 and first["Rotation"].max() <= 10
    assert abs(first["Rotation"].mean() - (-10)) < 1.0        # sd of the mean: 40/sqrt(12·2000) = 0.26
    assert abs(first["XTranslation"].mean() - 3) < 0.05
    minidl.rng(11)
    a = augment(aug, GRID)
    minidl.rng(11)
    np.testing.assert_array_equal(augment(aug, GRID), a)
    assert not np.array_equal(augment(aug, GRID), a)


def test_rand_scale_draws_one_scale_for_both_axes():
    aug = imageDataAugmenter(RandScale=[0.5, 2])
    drawn = aug.draw(50)
    np.testing.assert_array_equal(drawn["XScale"], drawn["YScale"])
    assert drawn["XScale"].min() >= 0.5 and drawn["XScale"].max() <= 2 and np.ptp(drawn["XScale"]) > 0


def test_a_function_gives_the_value():
    angles = iter([90.0, -90.0])
    aug = imageDataAugmenter(RandRotation=lambda: next(angles))
    np.testing.assert_array_equal(augment(aug, GRID), np.rot90(GRID))
    np.testing.assert_array_equal(augment(aug, GRID), np.rot90(GRID, -1))
    scales = imageDataAugmenter(RandScale=lambda: 2.0).draw(3)
    np.testing.assert_array_equal(scales["YScale"], [2, 2, 2])
    with pytest.raises(OptionError, match="RandXShear must be one of angles in degrees strictly between -90 and 90; "
                                          "received 95"):
        augment(imageDataAugmenter(RandXShear=lambda: 95), GRID)


def test_a_list_gets_one_transform_and_a_4d_array_one_per_image():
    aug = imageDataAugmenter(RandXReflection=True, RandRotation=[-40, 40])
    minidl.rng(2)
    for _ in range(10):
        a, b = augment(aug, [GRID, GRID.copy()])
        np.testing.assert_array_equal(a, b)
    batch = np.repeat(GRID[:, :, None, None], 6, axis=3)
    out = augment(aug, batch)
    assert out.shape == (5, 5, 1, 6)
    assert len({out[..., k].tobytes() for k in range(6)}) == 6


def test_integer_images_are_rounded_and_logical_images_use_nearest():
    image = np.array([[0, 255], [100, 50]], dtype=np.uint8)
    out = augment(fixed(RandXTranslation=0.5), image)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 128], [50, 75]])         # (0+255)/2 = 127.5 rounds up
    mask = np.zeros((5, 5), bool)
    mask[1, 1] = True
    out = augment(fixed(RandXTranslation=0.6), mask)
    assert out.dtype == bool and out[1, 2] and out.sum() == 1        # 0.6 of a pixel: the nearest is one


def test_display_lists_matlabs_properties():
    text = repr(imageDataAugmenter(RandRotation=[-5, 5], RandXReflection=True))
    assert "RandRotation: [-5 5]" in text and "RandXReflection: 1" in text and "FillValue: 0" in text


# --- bad options -------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"RandRotaton": [0, 1]}, "unknown option 'RandRotaton'. Did you mean 'RandRotation'"),
    ({"RandRotation": [10, -10]}, r"RandRotation must be \[min max\] with min <= max; received \[10 -10\]"),
    ({"RandRotation": [1, 2, 3]}, r"RandRotation must be a 2-element range \[min max\]"),
    ({"RandRotation": "10"}, r"RandRotation must be a 2-element range .* received '10'"),
    ({"RandRotation": [0, np.nan]}, "RandRotation's bounds must be one of finite real numbers; received nan"),
    ({"RandScale": [0, 1]}, "RandScale's bounds must be one of positive finite numbers; received 0.0"),
    ({"RandXScale": [-1, 1]}, "RandXScale's bounds must be one of positive"),
    ({"RandYShear": [0, 90]}, "RandYShear's bounds must be one of angles in degrees strictly between -90 and 90"),
    ({"RandXReflection": "yes"}, "RandXReflection must be true or false; received 'yes'"),
    ({"FillValue": "black"}, "FillValue must be a finite real scalar or a vector"),
    ({"FillValue": np.nan}, "FillValue must be a finite real scalar"),
    ({"FillValue": []}, "FillValue must be a finite real scalar"),
    ({"RandScale": [0.5, 2], "RandYScale": [1, 2]}, "RandScale cannot be combined with RandXScale or RandYScale"),
    ({"RandScale": lambda: 1.0, "RandXScale": [1, 2]}, "RandScale cannot be combined"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(OptionError, match=message):
        imageDataAugmenter(**options)


def test_name_value_pairs_and_read_only_properties():
    aug = imageDataAugmenter("RandXTranslation", [-2, 2], "randyreflection", 1)
    assert aug.RandYReflection is True
    np.testing.assert_array_equal(aug.RandXTranslation, [-2, 2])
    with pytest.raises(AttributeError, match="read-only"):
        aug.RandRotation = [0, 1]
    with pytest.raises(OptionError, match="must come in pairs"):
        imageDataAugmenter("RandRotation")


def test_bad_images_are_named():
    aug = imageDataAugmenter()
    with pytest.raises(TypeError, match="first argument must be an imageDataAugmenter"):
        augment(GRID, aug)
    with pytest.raises(TypeError, match="augment: an image must be a non-empty numeric"):
        augment(aug, np.zeros((0, 3)))
    with pytest.raises(TypeError, match="augment: image 2: an image must be"):
        augment(aug, [GRID, "cat.png"])
    with pytest.raises(ValueError, match="list of images is empty"):
        augment(aug, [])


hostile = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.floats(allow_nan=True, allow_infinity=True),
                    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
                    st.lists(st.integers(-10**30, 10**30), max_size=3), st.just([[1, 2]]), st.just(np.zeros((2, 2))),
                    st.just({"a": 1}), st.just(1 + 2j))


@settings(deadline=None, max_examples=150)
@given(name=st.sampled_from(sorted(DEFAULTS)), value=hostile)
def test_any_value_of_any_option_gives_an_augmenter_or_a_named_option_error(name, value):
    try:
        aug = imageDataAugmenter(**{name: value})
    except OptionError as error:
        assert name in str(error)
        return
    image = np.repeat(GRID[:, :, None], np.size(aug.FillValue), axis=2)   # one fill per channel
    out = augment(aug, image)          # what was accepted also works
    assert out.shape == image.shape and np.all(np.isfinite(out))
