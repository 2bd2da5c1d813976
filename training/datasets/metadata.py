"""The metadata file of a folder of images, in Hugging Face's `imagefolder` convention.

`metadata.csv` (a header, then one row per image) or `metadata.jsonl` (one JSON object per line)
beside the images: a `file_name` column with each image's path relative to the file's folder, and
any number of attribute columns whose values are binary: `1`/`0`, `true`/`false` or `1`/`-1`
(JSON booleans and numbers too). Reading collects every problem instead of stopping at the first,
and keeps one byte per value, so 200,000 rows of 40 attributes take 8 MB.
"""

from __future__ import annotations

import csv
import json
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.datasets.problems import Problems

METADATA_NAMES = ("metadata.csv", "metadata.jsonl")
FILE_NAME = "file_name"
EXPECTED = "expected 0/1, true/false or -1/1"

# Each value is read as one of these codes; the three false spellings are told apart so that a
# column mixing 0 and -1 (two different conventions) can be refused.
TRUE, ZERO, MINUS_ONE, FALSE, NOT_BINARY = 1, 0, 2, 3, 255
_WORDS = {"1": TRUE, "true": TRUE, "0": ZERO, "-1": MINUS_ONE, "false": FALSE}


@dataclass
class MetadataTable:
    """The rows of one or more metadata files with the same attribute columns.

    `paths` are relative to the dataset root; `wheres` say where each row was read, for messages;
    `codes` holds one code per value, row after row; `not_binary` lists (row, column, value) of
    every value that is not binary.
    """

    columns: list[str]
    paths: list[str] = field(default_factory=list)
    wheres: list[str] = field(default_factory=list)
    codes: bytearray = field(default_factory=bytearray)
    not_binary: list[tuple[int, int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def extend(self, other: MetadataTable) -> None:
        offset = len(self)
        self.paths += other.paths
        self.wheres += other.wheres
        self.codes += other.codes
        self.not_binary += [(offset + row, column, v) for row, column, v in other.not_binary]


def read_metadata(path: Path, prefix: str, problems: Problems) -> MetadataTable:
    """The rows of a metadata file; `prefix` is its folder relative to the dataset root ("" or
    "train/"). Rows that cannot be read are left out and added to `problems`."""
    where = f"{prefix}{path.name}"
    read = _csv_rows if path.suffix == ".csv" else _jsonl_rows
    table: MetadataTable | None = None
    for line, columns, name, values in read(path, where, problems):
        if table is None:
            table = MetadataTable(columns=list(columns))
        ordered = _in_order(columns, values, table.columns)
        if ordered is None:
            problems.add(f"{where} line {line}: columns {columns}, not {table.columns}")
            continue
        relative = _relative(name, f"{where} line {line}", problems)
        if relative:
            _add_row(table, f"{where} line {line}", prefix + relative, ordered)
    return table if table is not None else MetadataTable(columns=[])


Row = tuple[int, list[str], object, Sequence[object]]
"""(line number, attribute columns, file_name, values in column order) of a metadata row."""


def _csv_rows(path: Path, where: str, problems: Problems) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, [])
        if FILE_NAME not in header or len(set(header)) < len(header):
            problems.add(f"{where} line 1: the header needs a {FILE_NAME} column and unique names")
            return
        name_at = header.index(FILE_NAME)
        columns = header[:name_at] + header[name_at + 1 :]
        for tokens in reader:
            if not any(token.strip() for token in tokens):
                continue  # a blank line
            if len(tokens) != len(header):
                problems.add(
                    f"{where} line {reader.line_num}: {len(tokens)} fields, the header has "
                    f"{len(header)}"
                )
                continue
            name = tokens.pop(name_at)
            yield reader.line_num, columns, name, tokens


def _jsonl_rows(path: Path, where: str, problems: Problems) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as file:
        for number, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(f"{where} line {number}: not JSON ({exc.msg})")
                continue
            if not isinstance(values, dict):
                problems.add(f"{where} line {number}: expected a JSON object")
                continue
            name = values.pop(FILE_NAME, None)
            yield number, list(values), name, list(values.values())


def _in_order(
    columns: list[str], values: Sequence[object], wanted: list[str]
) -> Sequence[object] | None:
    """A row's values in the table's column order (a JSON object's keys may come in any order);
    None if the row has other columns."""
    if columns == wanted:
        return values
    if sorted(columns) != sorted(wanted):
        return None
    by_column = dict(zip(columns, values, strict=True))
    return [by_column[column] for column in wanted]


def _relative(name: object, where: str, problems: Problems) -> str:
    """The row's file_name as a normalised relative path; "" (and a problem) if it is not one."""
    relative = posixpath.normpath(name) if isinstance(name, str) and name.strip() else ""
    if not relative or relative.startswith(("/", "../")) or relative == "..":
        problems.add(f"{where}: {FILE_NAME} {name!r} is not a path inside the folder")
        return ""
    return relative


def _add_row(table: MetadataTable, where: str, path: str, values: Sequence[object]) -> None:
    row = len(table)
    table.paths.append(path)
    table.wheres.append(where)
    codes = [_WORDS.get(value, -1) if type(value) is str else -1 for value in values]
    if -1 in codes:  # not all usual words: the slow way, and every other value named
        codes = [_code(value) for value in values]
        table.not_binary += [
            (row, column, repr(values[column]))
            for column, code in enumerate(codes)
            if code == NOT_BINARY
        ]
    table.codes += bytes(codes)


def _code(value: object) -> int:
    """The code of a value: JSON true and "True" are TRUE, 0.0 is ZERO, "yes" is NOT_BINARY."""
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if isinstance(value, int | float) and value in (0, 1, -1):
        value = str(int(value))
    return _WORDS.get(value.strip().lower(), NOT_BINARY) if isinstance(value, str) else NOT_BINARY


def binary_values(table: MetadataTable, problems: Problems) -> np.ndarray:
    """bool [rows, columns]. Every value that is not binary, every column that mixes 0 and -1
    (whose meanings then differ) and every column with one value only is added to `problems`,
    naming the rows."""
    codes = np.frombuffer(bytes(table.codes), dtype=np.uint8)
    codes = codes.reshape(len(table), len(table.columns))
    for column, name in enumerate(table.columns):
        bad = [
            f"{table.wheres[row]} ({table.paths[row]}): {value}"
            for row, bad_column, value in table.not_binary
            if bad_column == column
        ]
        if bad:
            problems.add_all(f"column {name!r}: {len(bad)} values are not binary, {EXPECTED}", bad)
        elif {ZERO, MINUS_ONE} <= set(np.unique(codes[:, column]).tolist()):
            problems.add(f"column {name!r} holds both 0 and -1: use 0/1 or -1/1")
        else:
            _check_both_values(name, codes[:, column] == TRUE, problems)
    return codes == TRUE


def _check_both_values(column: str, flags: np.ndarray, problems: Problems) -> None:
    if len(flags) and (flags.all() or not flags.any()):
        value = "set" if flags.all() else "unset"
        problems.add(
            f"column {column!r} is {value} for every image ({len(flags)} rows): an attribute "
            "vector needs images with the attribute and images without it; drop the column"
        )
