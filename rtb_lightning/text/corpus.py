"""Stories as (beginning, middle, end): the embedded grammar, or a user's CSV / text file.

A user story is split into sentences; the first is the beginning, the last the end, and the
sentences between are the middle (ROCStories: 1 / 3 / 1 of five sentences).
"""
import csv
import re
from pathlib import Path

from ..errors import UserError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_story(text: str, where: str = "story"):
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if len(sentences) < 3:
        raise UserError(f"{where} has {len(sentences)} sentence(s); infilling needs at least 3 "
                        f"(beginning, middle, end): {text[:80]!r}",
                        "remove it from the corpus, or end its sentences with . ! or ?")
    return sentences[0], " ".join(sentences[1:-1]), sentences[-1]


def read_stories(path, column: str = None):
    """Story texts from a CSV file (one story per row in `column`) or a text file (one per line)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"corpus file not found: {path}", "set data.path to an existing .csv or .txt file")
    if p.suffix.lower() == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if not column or column not in fields:
                raise UserError(f"column {column!r} is not in {path} (columns: {', '.join(fields) or 'none'})",
                                "set data.column to the column holding the stories")
            texts = [row[column] or "" for row in reader]
    else:
        texts = p.read_text(encoding="utf-8").splitlines()
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise UserError(f"corpus {path} holds no stories", "one story per line (text) or per row (CSV)")
    return texts


def load_corpus(path, column=None):
    """(beginning, middle, end) triples; a story that cannot be split is an error naming its row."""
    return [split_story(t, f"story {i + 1} of {path}") for i, t in enumerate(read_stories(path, column))]
