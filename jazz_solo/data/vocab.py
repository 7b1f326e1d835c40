"""The event vocabularies, by the name ``data.vocabulary`` gives them.

Both share ids 0-391 (:mod:`jazz_solo.data.tokens`) and encode the conditioning (comping) the same
way, as onset/offset events, because a live comping note's end is unknown when it starts. They
differ in the lead:

* ``performance``: NOTE_ON ... NOTE_OFF (the first vocabulary; notes still sounding at the
  window end are closed there);
* ``duration``: NOTE_ON DURATION (:mod:`jazz_solo.data.durations`; a note's end is decided at its
  onset, and it keeps its real length past the window end).

A model is trained for one vocabulary; its size and name are recorded with it
(:mod:`jazz_solo.training.model`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from . import durations as D
from . import tokens as T
from ..config import schema_default
from ..generation.sampling import DurationGrammar, GrammarState
from .tokens import Note

DEFAULT = schema_default("data.vocabulary")  # the schema's default, the only one


@dataclass(frozen=True)
class Vocabulary:
    name: str
    size: int
    encode_lead: Callable[[Iterable[Note], float, float | None], list[int]]  # (notes, origin, window end)
    decode_lead: Callable[[Sequence[int], float, float | None], list[Note]]  # (tokens, origin, window end)
    grammar_errors: Callable[[Sequence[int]], dict[str, int]]
    grammar: type[GrammarState] | type[DurationGrammar]
    holds_past_window: bool  # whether a lead note may sound past its window's end


VOCABULARIES = {
    "performance": Vocabulary(
        "performance", T.VOCAB_SIZE, T.encode_notes, T.decode_tokens, T.count_grammar_errors, GrammarState, False
    ),
    "duration": Vocabulary(
        "duration", D.VOCAB_SIZE, D.encode_lead, D.decode_lead, D.count_grammar_errors, DurationGrammar, True
    ),
}


def get(name: str) -> Vocabulary:
    """The vocabulary called ``name``; one-line error naming the choices otherwise."""
    try:
        return VOCABULARIES[name]
    except KeyError:
        raise ValueError(f"unknown vocabulary {name!r} (choose one of: {', '.join(VOCABULARIES)})") from None


def encode_conditioning(notes: Iterable[Note], origin: float, end: float) -> list[int]:
    """Comping events of one window (the same in every vocabulary)."""
    return T.encode_notes(notes, origin, end)
