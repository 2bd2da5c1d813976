"""Drawing a `Face` with PIL: its colours, from its attributes and style, and its parts, back to
front."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from training.faces.records import HEIGHT, RGB, WIDTH, Face, HairColor

# (lightest, darkest) of each range; Pale_Skin's range is clearly paler than the other.
PALE_SKIN: tuple[RGB, RGB] = ((252, 236, 226), (238, 214, 198))
OTHER_SKIN: tuple[RGB, RGB] = ((212, 160, 118), (88, 56, 36))
HAIR_RANGES: dict[HairColor, tuple[RGB, RGB]] = {
    "blond": ((242, 214, 132), (204, 164, 78)),
    "black": ((38, 32, 30), (16, 13, 12)),
    "brown": ((132, 86, 50), (86, 52, 26)),
    "gray": ((206, 206, 206), (140, 140, 146)),
}
MOUTH_INSIDE: RGB = (70, 18, 24)
TEETH: RGB = (246, 246, 240)
CHEEK: RGB = (236, 84, 110)
WHITE: RGB = (250, 250, 250)
PUPIL: RGB = (24, 18, 18)


def _mix(light: RGB, dark: RGB, t: float) -> RGB:
    r, g, b = (round(x + (y - x) * t) for x, y in zip(light, dark, strict=True))
    return (r, g, b)


def _darker(color: RGB, factor: float) -> RGB:
    return _mix(color, (0, 0, 0), 1.0 - factor)


def skin_color(face: Face) -> RGB:
    pale_range = PALE_SKIN if face.attributes.pale_skin else OTHER_SKIN
    return _mix(*pale_range, face.style.skin_shade)


def hair_color(face: Face) -> RGB:
    return _mix(*HAIR_RANGES[face.attributes.hair_color], face.style.hair_shade)


Box = tuple[float, float, float, float]  # PIL's (left, top, right, bottom)


def draw_face(face: Face) -> Image.Image:
    """The face as a 178x218 RGB image. Deterministic: no randomness beyond `face` itself."""
    layer = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    # Back to front: each part may cover the ones before it. The attributes come last, so that
    # nothing else hides them.
    parts = [_draw_hair_back, _draw_body, _draw_head, _draw_front_hair, _draw_facial_hair]
    parts += [_draw_eyes, _draw_mouth]
    parts += [_draw_glasses] if face.attributes.eyeglasses else []
    parts += [_draw_hat] if face.attributes.wearing_hat else []
    for part in parts:
        part(draw, face)
    style = face.style
    if style.rotation:
        center = (style.center_x, style.center_y)
        layer = layer.rotate(style.rotation, Image.Resampling.BILINEAR, center=center)
    image = _background(style.background_top, style.background_bottom)
    image.alpha_composite(layer)
    return image.convert("RGB")


def _background(top: RGB, bottom: RGB) -> Image.Image:
    """A vertical gradient from `top` to `bottom`."""
    t = np.linspace(0.0, 1.0, HEIGHT)[:, None, None]
    rows = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    pixels = np.broadcast_to(np.round(rows), (HEIGHT, WIDTH, 3)).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").convert("RGBA")


def _around(x: float, y: float, rx: float, ry: float) -> Box:
    """The box of the ellipse with centre (x, y) and radii rx, ry."""
    return (x - rx, y - ry, x + rx, y + ry)


def _chord_above(draw: ImageDraw.ImageDraw, box: Box, cut_y: float, fill: RGB) -> None:
    """Fill the part of the ellipse in `box` that lies above the horizontal line y = cut_y."""
    center, radius = (box[1] + box[3]) / 2, (box[3] - box[1]) / 2
    angle = math.degrees(math.asin(max(-1.0, min(1.0, (cut_y - center) / radius))))
    draw.chord(box, 180 - angle, 360 + angle, fill=fill)


def _draw_hair_back(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """The hair behind the head; its outline is the hair style."""
    s, hair = face.style, hair_color(face)
    a, x, top = s.half_width, s.center_x, s.hair_top
    if s.hair_style == "short":
        box = (x - 1.22 * a, top, x + 1.22 * a, s.chin_y)
        _chord_above(draw, box, s.eye_y + 0.15 * a, hair)  # below a hat's brim at the temples
    elif s.hair_style == "bob":
        draw.rounded_rectangle((x - 1.28 * a, top, x + 1.28 * a, s.mouth_y), 0.9 * a, fill=hair)
    elif s.hair_style == "long":
        draw.rounded_rectangle((x - 1.32 * a, top, x + 1.32 * a, s.chin_y + 1.3 * a), a, fill=hair)
    else:  # curly: a ring of curls round the top and sides of the head
        for degrees in range(150, 400, 20):
            curl_x = x + 1.02 * a * math.cos(math.radians(degrees))
            curl_y = s.eye_y + 1.05 * s.half_height * math.sin(math.radians(degrees))
            draw.ellipse(_around(curl_x, curl_y, 0.32 * a, 0.32 * a), fill=hair)


def _draw_body(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Shoulders in a shirt, then the neck."""
    s, a, x = face.style, face.style.half_width, face.style.center_x
    draw.ellipse(_around(x, s.chin_y + 1.5 * a, 1.9 * a, 1.1 * a), fill=s.shirt)
    neck = (x - 0.38 * a, s.mouth_y, x + 0.38 * a, s.chin_y + 0.6 * a)
    draw.rectangle(neck, fill=_darker(skin_color(face), 0.85))


def _draw_head(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Ears, the face's ellipse, eyebrows and nose."""
    s, skin, a, x = face.style, skin_color(face), face.style.half_width, face.style.center_x
    for side in (-1, 1):
        ear = _around(x + side * 0.97 * a, s.eye_y + 0.12 * a, 0.14 * a, 0.24 * a)
        draw.ellipse(ear, fill=_darker(skin, 0.9))
    draw.ellipse(_around(x, s.center_y, a, s.half_height), fill=skin)
    brow, brow_y = _darker(hair_color(face), 0.7), s.eye_y - 0.28 * a
    for side in (-1, 1):
        ex = x + side * 0.4 * a
        points = [(ex - 0.19 * a, brow_y + 0.04 * a), (ex, brow_y - 0.03 * a)]
        draw.line([*points, (ex + 0.19 * a, brow_y + 0.04 * a)], fill=brow, width=round(0.09 * a))
    nose_y = (s.eye_y + s.mouth_y) / 2 + 0.08 * a
    nose = [(x + 0.02 * a, s.eye_y + 0.12 * a), (x - 0.1 * a, nose_y), (x + 0.07 * a, nose_y)]
    draw.line(nose, fill=_darker(skin, 0.72), width=max(2, round(0.06 * a)), joint="curve")


def _draw_front_hair(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """A fringe down to just above the eyebrows (Bangs), else only a thin hairline."""
    s, hair, a, x = face.style, hair_color(face), face.style.half_width, face.style.center_x
    box = (x - 1.04 * a, s.center_y - s.half_height - 0.14 * a, x + 1.04 * a, s.chin_y)
    if not face.attributes.bangs:
        _chord_above(draw, box, s.center_y - s.half_height + 0.2 * a, hair)
        return
    cut_y, teeth = s.center_y - 0.44 * a, 7
    _chord_above(draw, box, cut_y, hair)
    for i in range(teeth):  # a jagged lower edge, so that a fringe does not read as a hat
        left, right = x - 0.8 * a + i * 1.6 * a / teeth, x - 0.8 * a + (i + 1) * 1.6 * a / teeth
        tip = ((left + right) / 2, cut_y + 0.1 * a)
        draw.polygon([(left, cut_y - 1), tip, (right, cut_y - 1)], fill=hair)


def _draw_facial_hair(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Male faces: a full beard (with a mustache), a goatee or a mustache alone."""
    kind, s = face.attributes.facial_hair, face.style
    beard, a, x, y = _darker(hair_color(face), 0.8), s.half_width, s.center_x, s.mouth_y
    if kind == "beard":
        jaw = (x - 1.03 * a, s.center_y - 1.03 * s.half_height, x + 1.03 * a, s.chin_y + 0.12 * a)
        draw.chord(jaw, 8, 172, fill=beard)
        # Bare skin round the mouth, so that the mouth reads the same on any beard colour.
        draw.ellipse(_around(x, y + 0.05 * a, 0.5 * a, 0.25 * a), fill=skin_color(face))
    if kind == "goatee":
        draw.ellipse((x - 0.24 * a, y + 0.16 * a, x + 0.24 * a, s.chin_y + 0.05 * a), fill=beard)
    if kind in ("mustache", "beard"):
        draw.chord(_around(x, y - 0.18 * a, 0.42 * a, 0.16 * a), 180, 360, fill=beard)
        draw.rectangle((x - 0.42 * a, y - 0.2 * a, x + 0.42 * a, y - 0.1 * a), fill=beard)


def _draw_eyes(draw: ImageDraw.ImageDraw, face: Face) -> None:
    s, a, y = face.style, face.style.half_width, face.style.eye_y
    for side in (-1, 1):
        ex = s.center_x + side * 0.4 * a
        draw.ellipse(_around(ex, y, 0.17 * a, 0.11 * a), fill=WHITE)
        draw.ellipse(_around(ex, y, 0.09 * a, 0.09 * a), fill=s.eye)
        draw.ellipse(_around(ex, y, 0.04 * a, 0.04 * a), fill=PUPIL)


def _draw_mouth(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Smiling is a wide grin that shows teeth (a dark open D when the mouth is open too), with a
    thick dark lip line, under flushed pink cheeks; a neutral mouth is a short flat line, or a
    small O when open. The smile is big and high-contrast on purpose: at 64x64 a thin curve is a
    pixel or two, and white teeth on pale skin are barely there, both of which a VAE blurs away.
    Blurred to 64x64, this smile changes a face about 0.6 as much as glasses do; a thin grin with
    pale teeth changed it 0.2 as much, and the VAE lost it."""
    s, a, x, y = face.style, face.style.half_width, face.style.center_x, face.style.mouth_y
    width = max(3, round(0.13 * a))
    if face.attributes.smiling:
        for side in (-1, 1):
            draw.ellipse(_around(x + side * 0.54 * a, s.center_y + 0.32 * a, 0.24 * a, 0.19 * a),
                         fill=CHEEK)  # fmt: skip
        box = _around(x, y - 0.06 * a, 0.52 * a, 0.4 * a)
        if face.attributes.mouth_open:
            draw.chord(box, 0, 180, fill=MOUTH_INSIDE)
            draw.rectangle((x - 0.4 * a, y - 0.06 * a, x + 0.4 * a, y + 0.06 * a), fill=TEETH)
        else:
            draw.chord(box, 0, 180, fill=TEETH)
        draw.chord(box, 0, 180, outline=s.lip, width=max(4, width))
    elif face.attributes.mouth_open:
        box = _around(x, y + 0.02 * a, 0.2 * a, 0.14 * a)
        draw.ellipse(box, fill=MOUTH_INSIDE, outline=s.lip, width=max(2, width // 2))
    else:
        draw.line((x - 0.28 * a, y, x + 0.28 * a, y), fill=s.lip, width=width)


def _draw_glasses(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """Two thick rims round the eyes (filled for sunglasses), a bridge and the temples."""
    s, a, y, color = face.style, face.style.half_width, face.style.eye_y, face.style.glasses
    width, x, rim_y = max(4, round(0.13 * a)), s.center_x, y - 0.04 * a
    lens = color if s.glasses_style == "sunglasses" else None
    for side in (-1, 1):
        ex = x + side * 0.4 * a
        box = _around(ex, y, 0.3 * a, 0.23 * a)
        if s.glasses_style == "square":
            draw.rounded_rectangle(box, 0.1 * a, fill=lens, outline=color, width=width)
        else:
            draw.ellipse(box, fill=lens, outline=color, width=width)
        temple = [(ex + side * 0.3 * a, rim_y), (x + side * 0.98 * a, rim_y - 0.04 * a)]
        draw.line(temple, fill=color, width=width)
    draw.line((x - 0.1 * a, rim_y, x + 0.1 * a, rim_y), fill=color, width=width)


def _draw_hat(draw: ImageDraw.ImageDraw, face: Face) -> None:
    """A beanie, a cap or a fedora in a saturated colour, from above the hair to the brim."""
    s = face.style
    a, x, top, brim, shade = s.half_width, s.center_x, s.hat_top, s.brim_y, _darker(s.hat, 0.72)
    if s.hat_style == "fedora":
        draw.rounded_rectangle((x - 0.82 * a, top, x + 0.82 * a, brim), 0.2 * a, fill=s.hat)
        draw.rectangle((x - 0.82 * a, brim - 0.24 * a, x + 0.82 * a, brim - 0.06 * a), fill=shade)
        draw.ellipse(_around(x, brim, 1.45 * a, 0.13 * a), fill=s.hat)
        return
    _chord_above(draw, (x - 1.14 * a, top + 0.1 * a, x + 1.14 * a, 2 * brim - top), brim, s.hat)
    if s.hat_style == "beanie":
        band = (x - 1.16 * a, brim - 0.3 * a, x + 1.16 * a, brim + 0.04 * a)
        draw.rounded_rectangle(band, 0.1 * a, fill=shade)
        draw.ellipse(_around(x, top + 0.17 * a, 0.17 * a, 0.17 * a), fill=shade)
    else:  # cap: a visor below the crown
        draw.chord(_around(x, brim + 0.02 * a, 1.22 * a, 0.18 * a), 0, 180, fill=shade)
