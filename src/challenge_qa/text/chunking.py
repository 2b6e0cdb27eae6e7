"""Sentence-aware passages with exact character offsets into the article text."""

from __future__ import annotations

import ctypes
import re

import blingfire
import numpy as np

# Blank lines and Markdown headings/list items end a sentence whatever the punctuation.
_BLOCK_BREAK = re.compile(r"\r?\n[ \t\r]*\n\s*|\r?\n(?=[ \t]*(?:#{1,6}\s|[-*+]\s|\d+[.)]\s|>))")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` covering the non-blank text, in order.

    Example:
        >>> split_sentences("It flew. It landed.\\n\\nThe end")
        [(0, 8), (9, 19), (21, 28)]
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _BLOCK_BREAK.finditer(text):
        _split_block(text, pos, m.start(), spans)
        pos = m.end()
    _split_block(text, pos, len(text), spans)
    return spans


_HEADING = re.compile(r"[ \t]*#{1,6}[ \t][^\n]*")


_ASCII_VISIBLE = re.compile(r"[!-~]")


def has_text(s: str) -> bool:
    """Whether ``s`` holds a visible character: printable and not a blank. Control and
    format characters (a stray backspace, a zero-width space) say nothing on their own.

    Example:
        >>> has_text(" \\x08"), has_text("\\u200b\\n"), has_text(" é ")
        (False, False, True)
    """
    if _ASCII_VISIBLE.search(s):  # nearly always, and at C speed
        return True
    return any(ch.isprintable() and not ch.isspace() for ch in s)


def _split_block(text: str, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    block = text[lo:hi]
    if not has_text(block):
        return
    head = _HEADING.match(block)
    if head and "\n" in block[head.end():head.end() + 1]:
        # a heading line is a sentence of its own
        a = len(block) - len(block.lstrip())
        out.append((lo + a, lo + len(block[:head.end()].rstrip())))
        _split_block(text, lo + head.end() + 1, hi, out)
        return
    found = len(out)
    for a, b in _sentence_offsets(block):
        # blingfire's spans exclude surrounding blanks; guard anyway so offsets stay exact
        s = block[a:b]
        a += len(s) - len(s.lstrip())
        b -= len(s) - len(s.rstrip())
        if b > a and has_text(block[a:b]):
            out.append((lo + a, lo + b))
    if len(out) == found:  # visible text that blingfire gave no sentence: keep it whole
        a = len(block) - len(block.lstrip())
        out.append((lo + a, lo + len(block.rstrip())))


def _sentence_offsets(block: str) -> list[tuple[int, int]]:
    """blingfire's sentence spans as character offsets into ``block``.

    blingfire reports UTF-8 byte offsets (end inclusive); its Python wrapper maps them back
    with a loop over every byte, which dominated the cost of finding supporting sentences at
    query time. Here the mapping is a cumulative count of character-start bytes.
    """
    data = block.encode("utf-8")
    cap = 2 * len(data) + 1
    out_text = ctypes.create_string_buffer(cap)
    starts, ends = (ctypes.c_int32 * cap)(), (ctypes.c_int32 * cap)()
    n = blingfire.blingfire.TextToSentencesWithOffsets(
        ctypes.c_char_p(data), ctypes.c_int(len(data)), ctypes.byref(out_text),
        ctypes.byref(starts), ctypes.byref(ends), ctypes.c_int(cap))
    if n < 0 or n > cap:  # blingfire failed: keep the block whole rather than lose it
        return [(0, len(block))]
    count = out_text.value.count(b"\n") + 1
    a = np.frombuffer(memoryview(starts), dtype=np.int32, count=count)
    b = np.frombuffer(memoryview(ends), dtype=np.int32, count=count)
    if len(data) == len(block):  # ASCII: bytes are characters
        return list(zip(a.tolist(), (b + 1).tolist(), strict=True))
    # chars[i]: characters that start in bytes [0, i]
    chars = np.cumsum((np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80)
    return list(zip((chars[a] - 1).tolist(), chars[b].tolist(), strict=True))


def _pieces(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence into pieces of at most ``limit`` chars at spaces."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    out = []
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit + 1)
        if cut <= start:
            cut = start + limit
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append((start, end))
    return out


def sentence_units(text: str, chunk_chars: int) -> list[tuple[int, int]]:
    """The sentences passages are packed from: ``split_sentences``, with a sentence longer
    than ``chunk_chars`` cut at spaces."""
    sents: list[tuple[int, int]] = []
    for a, b in split_sentences(text):
        sents.extend(_pieces(text, a, b, chunk_chars) if b - a > chunk_chars else [(a, b)])
    return sents


def pack_sentences(sents: list[tuple[int, int]], chunk_chars: int,
          overlap_chars: int) -> list[tuple[int, int]]:
    """Passages as inclusive ranges ``(i, j)`` of ``sents``."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(sents)
    while i < n:
        j = i
        while j + 1 < n and sents[j + 1][1] - sents[i][0] <= chunk_chars:
            j += 1
        out.append((i, j))
        if j + 1 >= n:
            break
        nxt = j + 1
        # overlap only with sentences that still leave room for new text in the next span
        while (nxt - 1 > i and sents[j][1] - sents[nxt - 1][0] <= overlap_chars
               and sents[j + 1][1] - sents[nxt - 1][0] <= chunk_chars):
            nxt -= 1
        i = nxt
    return out


def chunk_spans(text: str, chunk_chars: int, overlap_chars: int) -> list[tuple[int, int]]:
    """Greedy packing of whole sentences into spans of at most ``chunk_chars`` characters.

    The next span starts with the trailing sentences of the previous one that fit in
    ``overlap_chars``; a sentence longer than ``chunk_chars`` is cut at spaces.
    """
    sents = sentence_units(text, chunk_chars)
    windows = pack_sentences(sents, chunk_chars, overlap_chars)
    return [(sents[i][0], sents[j][1]) for i, j in windows]


def passage_context(title: str, text: str, with_title: bool) -> str:
    """The text the embedder and BM25 see for a passage: the title gives it context."""
    if with_title and title and not text.startswith(title):
        return f"{title}\n{text}"
    return text
