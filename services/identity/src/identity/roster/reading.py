"""Rows out of the uploaded bytes: CSV (UTF-8, with or without BOM, or the GB18030 that Excel
writes on Chinese Windows) and XLSX (openpyxl in read-only mode, which streams the sheet
instead of building it in memory).

Row numbers are what a spreadsheet shows: the header is row 1. Blank rows keep their number
(so the numbers match what the school sees) but are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import IO

from identity.roster.model import RosterFormat
from identity.roster.values import LOST_DIGITS

Rows = Iterator[tuple[int, Sequence[str]]]
# Where the bytes come from: each call returns the next piece, or b"" at the end.
NextChunk = Callable[[], bytes]

_SNIFF_BYTES = 64 * 1024
# A float holds 15 significant digits; a longer number typed into a numeric cell lost some.
_EXACT_DIGITS = 15


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the message is safe to show (no cell values)."""


class ChunkStream(io.RawIOBase):
    """A readable stream over the job's chunks, fetched one at a time as the parser asks."""

    def __init__(self, next_chunk: NextChunk, first: bytes = b"") -> None:
        self._next = next_chunk
        self._buffer = memoryview(first)
        self._done = False
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._done:
            piece = self._next()
            if not piece:
                self._done = True
            self._buffer = memoryview(piece)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        self.consumed += size
        return size


class Parsed:
    """The header row, an iterator over the data rows, and how far through the file the
    iterator has got (0 to 1, for progress)."""

    def __init__(self, header: list[str], rows: Rows, done: Callable[[], float]) -> None:
        self.header = header
        self.rows = rows
        self.done = done


def read_rows(fmt: RosterFormat, next_chunk: NextChunk, size: int) -> Parsed:
    """Parses the file of ``size`` bytes that ``next_chunk`` hands over piece by piece."""
    if fmt is RosterFormat.XLSX:
        return _xlsx_rows(next_chunk)
    return _csv_rows(next_chunk, size)


def _csv_rows(next_chunk: NextChunk, size: int) -> Parsed:
    first = next_chunk()
    while len(first) < _SNIFF_BYTES:
        more = next_chunk()
        if not more:
            break
        first += more
    encoding = _encoding_of(first)
    stream = ChunkStream(next_chunk, first)
    text = io.TextIOWrapper(io.BufferedReader(stream, 1 << 20), encoding=encoding, newline="")
    try:
        header_line = text.readline()
    except UnicodeDecodeError:
        raise UnreadableFile("the file is not UTF-8 or GB18030 text") from None
    if not header_line.strip():
        raise UnreadableFile("the file is empty")
    # Excel saves "CSV" with commas; some registry tools write tab-separated text.
    delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
    header = next(csv.reader([header_line], delimiter=delimiter))

    # Progress in characters read, against the file's size in characters as estimated from the
    # sample (the reader buffers ahead, so the byte count would jump to the end at once).
    sample = first.decode(encoding, errors="ignore")
    expected_chars = max(size * len(sample) / max(len(first), 1), 1.0)
    read_chars = len(header_line)

    def lines() -> Iterator[str]:
        nonlocal read_chars
        for line in text:
            read_chars += len(line)
            yield line

    def rows() -> Rows:
        reader = csv.reader(lines(), delimiter=delimiter)
        row = 1
        try:
            for cells in reader:
                row += 1
                if cells and any(cells):
                    yield row, cells
        except UnicodeDecodeError:
            raise UnreadableFile(f"the file is not valid {encoding} text after row {row}") from None
        except csv.Error:
            raise UnreadableFile(f"the CSV is malformed after row {row}") from None

    return Parsed(header, rows(), lambda: min(read_chars / expected_chars, 1.0))


def _encoding_of(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # final=False: a character cut in two at the end of the sample is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def _xlsx_rows(next_chunk: NextChunk) -> Parsed:
    # An XLSX is a zip, read from its end: it has to be whole and seekable. Small files stay in
    # memory, large ones go to a temporary file that disappears when closed.
    from openpyxl import load_workbook

    stream = ChunkStream(next_chunk)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    while piece := stream.read(1 << 20):
        spool.write(piece)
    spool.seek(0)
    try:
        book = load_workbook(spool, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        spool.close()
        raise UnreadableFile("the file is not a readable XLSX workbook") from None
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header_cells = next(values, None)
    if header_cells is None:
        book.close()
        spool.close()
        raise UnreadableFile("the workbook's first sheet is empty")
    header = [_cell_text(cell) for cell in header_cells]
    # The sheet's declared size, when the writer recorded one; only used for progress.
    last_row = sheet.max_row or 0
    reached = [1]

    def rows() -> Rows:
        try:
            for row, cells in enumerate(values, start=2):
                reached[0] = row
                texts = [_cell_text(cell) for cell in cells]
                if any(texts):
                    yield row, texts
        finally:
            book.close()
            spool.close()

    return Parsed(header, rows(), lambda: min(reached[0] / last_row, 1.0) if last_row else 0.0)


def _cell_text(value: object) -> str:
    """A cell as the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value) if len(str(abs(value))) <= _EXACT_DIGITS else LOST_DIGITS
    if isinstance(value, float):
        if value.is_integer():
            whole = int(value)
            return str(whole) if len(str(abs(whole))) <= _EXACT_DIGITS else LOST_DIGITS
        return repr(value)
    return str(value)
