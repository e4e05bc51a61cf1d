"""Tests for nophd.data.images: loading user images and making them MNIST-like."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from nophd.data import images
from nophd.errors import DataError

# MNIST puts a digit's centre of mass at pixel (14, 14) (row, column), to within
# half a pixel; images.MNIST_CENTRE documents the measurement.
CENTRE = images.MNIST_CENTRE


def draw_digit(
    text="5",
    size=(200, 200),
    position=None,
    mode="L",
    background=255,
    ink=0,
    font_size=150,
):
    """A digit drawn with DejaVu Sans: by default black on a white 200x200 "L" image."""
    font = ImageFont.truetype(str(font_named("DejaVuSans.ttf")), font_size)
    image = Image.new(mode, size, background)
    if position is None:
        position = (size[0] / 2, size[1] / 2)
    ImageDraw.Draw(image).text(position, text, fill=ink, font=font, anchor="mm")
    return image


def font_named(name):
    return next(path for path in images.font_paths() if path.name == name)


def centre_of_mass(image):
    rows, columns = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    mass = image.sum()
    return (rows * image).sum() / mass, (columns * image).sum() / mass


def ink_box(image, threshold=0.2):
    """(height, width) of the bounding box of pixels above `threshold`."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    columns = np.flatnonzero((image > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1


def assert_mnist_like(digit):
    assert digit.shape == (28, 28)
    assert digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0


def assert_one_line_naming(error, path):
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message


# load_image ----------------------------------------------------------------


def test_load_image_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(DataError, match="not found") as error:
        images.load_image(path)
    assert_one_line_naming(error, path)


def test_load_image_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as error:
        images.load_image(path)
    assert_one_line_naming(error, path)


def test_load_image_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\nsecond line\n")
    with pytest.raises(DataError, match="not an image") as error:
        images.load_image(path)
    assert_one_line_naming(error, path)


def test_load_image_truncated_jpeg(tmp_path):
    buffer = io.BytesIO()
    draw_digit(mode="RGB", background=(255, 255, 255), ink=(0, 0, 0)).save(buffer, "JPEG", quality=90)
    path = tmp_path / "half.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataError, match="truncated") as error:
        images.load_image(path)
    assert_one_line_naming(error, path)


def test_load_image_corrupt_png(tmp_path):
    buffer = io.BytesIO()
    draw_digit().save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    # Scramble the compressed pixel data but keep the signature and header.
    data[60:200] = bytes(140)
    path = tmp_path / "scrambled.png"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as error:
        images.load_image(path)
    assert_one_line_naming(error, path)


def test_load_image_folder(tmp_path):
    with pytest.raises(DataError, match="folder") as error:
        images.load_image(tmp_path)
    assert_one_line_naming(error, tmp_path)


@pytest.mark.parametrize("suffix, file_format", [(".png", "PNG"), (".jpg", "JPEG")])
def test_load_image_valid_files(tmp_path, suffix, file_format):
    path = tmp_path / f"digit{suffix}"
    draw_digit(size=(64, 48), font_size=40, mode="RGB", background=(255, 255, 255), ink=(0, 0, 0)).save(
        path, file_format
    )
    image = images.load_image(path)
    assert image.size == (64, 48)
    assert image.mode == "RGB"
    assert images.to_mnist(image).max() == pytest.approx(1.0)


def test_load_image_applies_exif_orientation(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "Rotate 90 degrees clockwise to display".
    Image.new("RGB", (40, 20), "white").save(path, "JPEG", exif=exif)
    assert images.load_image(path).size == (20, 40)


# to_grayscale ------------------------------------------------------------


def two_by_two(mode, black, white):
    """A 2x2 image in `mode`: top row black, bottom row white."""
    image = Image.new(mode, (2, 2), white)
    image.putpixel((0, 0), black)
    image.putpixel((1, 0), black)
    return image


@pytest.mark.parametrize(
    "mode, black, white",
    [
        ("1", 0, 1),
        ("L", 0, 255),
        ("LA", (0, 255), (255, 255)),
        ("RGB", (0, 0, 0), (255, 255, 255)),
        ("RGBA", (0, 0, 0, 255), (255, 255, 255, 255)),
        ("CMYK", (0, 0, 0, 255), (0, 0, 0, 0)),
        ("I", 0, 255),
        ("I;16", 0, 65535),
        ("F", 0.0, 1.0),
    ],
)
def test_to_grayscale_pillow_modes(mode, black, white):
    gray = images.to_grayscale(two_by_two(mode, black, white))
    assert gray.dtype == np.float32 and gray.shape == (2, 2)
    np.testing.assert_allclose(gray, [[0.0, 0.0], [1.0, 1.0]], atol=1e-6)


def test_to_grayscale_palette_with_and_without_transparency():
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255])
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 0)
    np.testing.assert_allclose(images.to_grayscale(palette), [[0, 0], [1, 1]])

    # Index 1 (white) transparent: black ink on a transparent background, the
    # drawing case, comes out black on white.
    drawing = palette.copy()
    drawing.info["transparency"] = 1
    np.testing.assert_allclose(images.to_grayscale(drawing), [[0, 0], [1, 1]])
    # Index 0 transparent instead: white ink on transparency, white on black.
    drawing.info["transparency"] = 0
    np.testing.assert_allclose(images.to_grayscale(drawing), [[0, 0], [1, 1]])


def test_to_grayscale_colour_uses_luma():
    red = Image.new("RGB", (1, 1), (255, 0, 0))
    assert images.to_grayscale(red)[0, 0] == pytest.approx(0.299, abs=1e-6)


CHECKER = np.array([[0, 255], [255, 0]], dtype=np.uint8)  # (2, 2): black, white / white, black
CHECKER_RGB = np.repeat(CHECKER[:, :, np.newaxis], 3, axis=2)  # (2, 2, 3)


@pytest.mark.parametrize(
    "array",
    [
        CHECKER,
        CHECKER[:, :, np.newaxis],
        CHECKER_RGB,
        np.dstack([CHECKER_RGB, np.full((2, 2), 255, np.uint8)]),
        (CHECKER / 255.0).astype(np.float32),
        CHECKER_RGB / 255.0,
        CHECKER.astype(np.float64),
        CHECKER.astype(np.uint16) * 257,
        CHECKER > 0,
    ],
    ids=[
        "uint8 HW", "uint8 HW1", "uint8 HW3", "uint8 HW4", "float32 HW", "float HW3", "float 0..255", "uint16", "bool"
    ],
)
def test_to_grayscale_arrays(array):
    gray = images.to_grayscale(array)
    assert gray.dtype == np.float32 and gray.shape == (2, 2)
    np.testing.assert_allclose(gray, [[0, 1], [1, 0]], atol=1e-6)


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255), (200, 30, 30)], ids=["black", "white", "red"])
def test_to_grayscale_drawing_on_transparent_background_keeps_strokes(ink):
    # The dashboard canvas: strokes opaque, everything else fully transparent
    # with an arbitrary hidden colour.
    drawing = draw_digit(mode="RGBA", background=(255, 255, 255, 0), ink=ink + (255,))
    plain = draw_digit()  # black on white
    gray = images.to_grayscale(drawing)
    strokes = np.asarray(drawing)[:, :, 3] == 255
    background = np.asarray(drawing)[:, :, 3] == 0
    # Strokes and background differ clearly, whichever colour the strokes are.
    assert abs(gray[strokes].mean() - gray[background].mean()) > 0.25
    np.testing.assert_allclose(images.to_mnist(drawing), images.to_mnist(plain), atol=1e-3)


def test_to_grayscale_uniform_alpha_is_dropped():
    translucent = Image.new("RGBA", (3, 3), (255, 255, 255, 100))
    np.testing.assert_allclose(images.to_grayscale(translucent), np.ones((3, 3)))
    opaque = np.zeros((3, 3, 4), dtype=np.uint8)
    opaque[:, :, 3] = 255
    np.testing.assert_allclose(images.to_grayscale(opaque), np.zeros((3, 3)))


def test_to_grayscale_rejects_bad_arrays():
    with pytest.raises(ValueError, match="shape"):
        images.to_grayscale(np.zeros((2, 2, 5)))
    with pytest.raises(ValueError, match="shape"):
        images.to_grayscale(np.zeros(4))
    with pytest.raises(ValueError, match="numbers"):
        images.to_grayscale(np.array([["a", "b"]]))
    with pytest.raises(DataError, match="no pixels"):
        images.to_grayscale(np.zeros((0, 4)))
    with pytest.raises(DataError, match="NaN"):
        images.to_grayscale(np.array([[0.0, np.nan]]))


# to_mnist -----------------------------------------------------------------


def test_to_mnist_shape_dtype_range():
    digit = images.to_mnist(draw_digit())
    assert_mnist_like(digit)
    assert digit.max() == pytest.approx(1.0)
    assert digit[0].max() == 0.0 and digit[:, 0].max() == 0.0  # a black border, like MNIST


def test_to_mnist_either_polarity_gives_the_same_digit():
    dark_on_light = images.to_mnist(draw_digit(background=255, ink=0))
    light_on_dark = images.to_mnist(draw_digit(background=0, ink=255))
    assert np.abs(dark_on_light - light_on_dark).mean() < 0.05


def test_to_mnist_colour_and_large_inputs():
    reference = images.to_mnist(draw_digit())
    # Navy ink on cream paper, 400x300, digit well off-centre.
    colour = draw_digit(size=(400, 300), position=(120, 110), mode="RGB", background=(240, 230, 200), ink=(20, 20, 90))
    digit = images.to_mnist(colour)
    assert_mnist_like(digit)
    assert np.abs(digit - reference).mean() < 0.05


def test_to_mnist_centres_the_centre_of_mass():
    # Light-on-dark, placed in the top-left corner of a wide canvas.
    off_centre = draw_digit("7", size=(300, 200), position=(60, 60), background=0, ink=255, font_size=90)
    digit = images.to_mnist(off_centre)
    row, column = centre_of_mass(digit)
    # Whole-pixel shifts put it within half a pixel of MNIST's centre; allow 1.
    assert abs(row - CENTRE) <= 1.0 and abs(column - CENTRE) <= 1.0


def test_to_mnist_matches_mnist_geometry_for_a_digit_in_a_corner():
    corner = draw_digit("2", size=(600, 450), position=(520, 390), font_size=100)
    digit = images.to_mnist(corner)
    height, width = ink_box(digit)
    assert 19 <= max(height, width) <= 21
    row, column = centre_of_mass(digit)
    assert abs(row - CENTRE) <= 0.6 and abs(column - CENTRE) <= 0.6


@pytest.mark.parametrize(
    "blank",
    [
        Image.new("L", (280, 280), 255),
        Image.new("L", (280, 280), 0),
        Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
        np.full((1, 1), 0.5),
        np.clip(0.9 + np.random.default_rng(0).normal(0.0, 0.03, (200, 200)), 0.0, 1.0),
    ],
    ids=["white", "black", "transparent", "one pixel", "noisy paper"],
)
def test_to_mnist_blank_image_gives_zeros(blank):
    digit = images.to_mnist(blank)
    assert_mnist_like(digit)
    assert not digit.any()


def test_to_mnist_tolerates_noise_and_jpeg():
    reference = images.to_mnist(draw_digit())
    noisy = np.asarray(draw_digit(), dtype=np.float64) / 255.0
    noisy = np.clip(noisy + np.random.default_rng(0).normal(0.0, 0.05, noisy.shape), 0.0, 1.0)
    assert np.abs(images.to_mnist(noisy) - reference).mean() < 0.05
    buffer = io.BytesIO()
    draw_digit(mode="RGB", background=(255, 255, 255), ink=(0, 0, 0)).save(buffer, "JPEG", quality=50)
    assert np.abs(images.to_mnist(Image.open(buffer)) - reference).mean() < 0.05


# fonts and rendering ---------------------------------------------------------


def test_font_paths_exist_sorted_and_include_dejavu():
    fonts = images.font_paths()
    assert fonts == sorted(fonts)
    assert all(path.is_file() for path in fonts)
    assert {"DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf"} <= {path.name for path in fonts}


def test_render_digit_is_mnist_like_and_scale_sets_the_size():
    font = font_named("DejaVuSans.ttf")
    digit = images.render_digit(4, font)
    assert_mnist_like(digit)
    assert max(ink_box(digit)) in (19, 20, 21)
    smaller = images.render_digit(4, font, scale=0.8, rotation=10.0, thickness=2)
    assert max(ink_box(smaller)) in (15, 16, 17)
    with pytest.raises(ValueError, match="digit"):
        images.render_digit(10, font)
    with pytest.raises(ValueError, match="scale"):
        images.render_digit(1, font, scale=2.0)


def test_render_digit_bad_font_file(tmp_path):
    path = tmp_path / "broken.ttf"
    path.write_bytes(b"not a font")
    with pytest.raises(DataError, match="font") as error:
        images.render_digit(3, path)
    assert_one_line_naming(error, path)


def test_render_font_digits_row():
    digits, labels = images.render_font_digits()
    assert digits.shape == (10, 28, 28) and digits.dtype == np.float32
    assert labels.dtype == np.uint8 and labels.tolist() == list(range(10))
    assert digits.min() >= 0.0 and digits.max() <= 1.0
    assert all(digit.max() == pytest.approx(1.0) for digit in digits)
    again, _ = images.render_font_digits()
    np.testing.assert_array_equal(digits, again)
    two_rows, two_row_labels = images.render_font_digits(2)
    assert two_rows.shape == (20, 28, 28)
    assert two_row_labels.tolist() == list(range(10)) * 2
    # The second row carries on through the fonts, so it is drawn differently.
    assert np.abs(two_rows[10:] - two_rows[:10]).mean() > 0.01


def test_to_mnist_on_8_bit_grey_gives_exactly_what_the_float_recipe_gives():
    # Plain 8-bit grey pictures (the canvas's PNGs) take a faster path that
    # converts only the border, row/column extremes and the digit's box to
    # 0..1; it must not change a single value of what the model is fed.
    rng = np.random.default_rng(3)
    for index in range(60):
        levels = (rng.random((20 + index, 90 - index)) * 60).astype(np.uint8)
        if index % 2:
            levels = 255 - levels  # dark ink on light paper
        top, left = rng.integers(2, 12, size=2)
        levels[top : top + 9, left : left + 4] = rng.integers(0, 256)
        expected = images._normalise(images.to_grayscale(levels.astype(np.float64) / 255.0), images.MNIST_BOX)
        np.testing.assert_array_equal(images.to_mnist(levels), expected)
        np.testing.assert_array_equal(images.to_mnist(Image.fromarray(levels)), expected)
