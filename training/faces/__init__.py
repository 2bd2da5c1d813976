"""Cartoon faces drawn with PIL and written as a CelebA-format dataset (a stand-in for CelebA).

Each face shows nine CelebA attributes, each drawn or not independently, so its labels are true by
construction: Smiling, Mouth_Slightly_Open, Eyeglasses, Wearing_Hat, Bangs, Male (with a mustache,
a goatee or a full beard, which also set Mustache, Goatee and No_Beard), Pale_Skin and one hair
colour of Blond, Black, Brown and Gray. Every other CelebA column is -1. Position, size, tilt, skin
tone within its range, hair style, the styles of hat and glasses and every other colour vary at
random, so a model has to learn the attributes rather than the pixels that carry them.

Images are 178x218 like CelebA's aligned faces, and everything is drawn inside the 178x178 centre
square that `Preprocessing(crop="center_square")` keeps. Face `index` of a run depends only on
`(seed, index)`, so any number of worker processes writes byte-identical files.

- `records`: what a face shows and how it is drawn (`FaceAttributes`, `FaceStyle`, `Face`), and
  `sample_face(seed, index)`;
- `drawing`: the colours and `draw_face`, part by part;
- `writer`: `generate_faces`, the CelebA copy (`python -m training faces`).
"""
