"""A word-level tokenizer built from a corpus, saved with every checkpoint that depends on it.

Words are lower-cased runs of letters/digits/apostrophes; every other non-space character is its
own token. Ids 0 and 1 are <pad> and <unk>; the rest are the corpus's words by frequency (ties
alphabetical), so the same corpus always gives the same ids.
"""
import re
from collections import Counter

from ..errors import UserError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def split_words(text: str):
    return _WORD.findall(text.lower())


class WordTokenizer:
    pad_id, unk_id = 0, 1

    def __init__(self, words):
        self.itos = [PAD, UNK, *[w for w in words if w not in (PAD, UNK)]]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, texts, min_count: int = 1):
        counts = Counter(w for t in texts for w in split_words(t))
        return cls(sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)))

    def __len__(self):
        return len(self.itos)

    def encode(self, text: str, length: int = None, strict: bool = True):
        """Token ids, right-padded to `length` (an error if longer). strict: unknown words are an error."""
        words = split_words(text)
        unknown = [w for w in words if w not in self.stoi]
        if unknown and strict:
            raise UserError(f"unknown words for this tokenizer: {', '.join(sorted(set(unknown))[:10])}",
                            "use words of the training corpus (the tokenizer is built from it)")
        ids = [self.stoi.get(w, self.unk_id) for w in words]
        if length is not None:
            if len(ids) > length:
                raise UserError(f"text has {len(ids)} tokens, more than the {length} allowed: {text[:60]!r}")
            ids = ids + [self.pad_id] * (length - len(ids))
        return ids

    def decode(self, ids) -> str:
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)

    def state_dict(self):
        return {"kind": "word", "vocab": list(self.itos)}

    @classmethod
    def from_state_dict(cls, state):
        return cls(state["vocab"][2:])

    def check_matches(self, state, where: str):
        """A checkpoint trained with another vocabulary cannot be used: say so instead of producing garbage."""
        if state is None or state.get("vocab") != self.itos:
            theirs = None if state is None else len(state.get("vocab", []))
            raise UserError(f"the tokenizer saved with {where} ({theirs} tokens) does not match this corpus's "
                            f"({len(self)} tokens)", "use the corpus it was trained on, or delete it to retrain")
