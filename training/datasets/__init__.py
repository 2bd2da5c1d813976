"""Datasets as in-memory uint8 arrays plus the `Preprocessing` that turns them into model input.

- `splits`: the split types, `LabeledImages` and `DatasetSplits`, and a run's `LoadOptions`;
- `fashion_mnist`, `celeba`, `folder`: one module per dataset, each with its loader (`folder`: a
  folder of your own images, with its `metadata` files, its `problems` listed in one error, and
  its decoded pixels kept in a `cache`);
- `images`: image files read by name from a folder or a zip, decoded on worker processes;
- `registry`: `load_dataset(name, ...)` and the one table of dataset names.

To add a dataset, write its module (a loader that returns `DatasetSplits`) and give it an entry in
`catalog.DATASETS`.
"""
