"""The retrieval benchmark's documents and labelled questions, written for threadloom (no outside text).

`DOCUMENTS` are eight short texts on unrelated subjects; `QUESTIONS` ask about a fact of one of them,
mostly in other words than the text uses, with the file that answers it. `filler(n_tokens, seed)`
makes distractor documents (seeded, so every run searches the same corpus): sentences of made-up
words (a lexicon of `LEXICON_SIZE` syllable words), common glue words, and, one word in
`1 / BORROWED`, a word of the labelled documents, so that many chunks share some words with the
questions and say nothing.
"""

from __future__ import annotations

import random
import re

DOCUMENTS: dict[str, str] = {
    "lighthouse.md": """\
# The Harrow Point lighthouse
The lighthouse on Harrow Point was built in 1871 from granite quarried on the island itself. Its
tower is 38 metres tall and a keeper climbed 142 steps to reach the lantern room. The light came
from a second-order Fresnel lens that turned on a bath of mercury, so a single clockwork weight
could rotate several tonnes of glass. Three keeper families lived in the cottages at its foot and
took turns on the night watch. In fog the station sounded a diaphone horn twice every minute.
The light was automated in 1964, and the last keeper left the point that autumn.
""",
    "sourdough.md": """\
# Keeping a sourdough starter
A starter is flour and water colonised by wild yeast and lactic acid bacteria. Feed it once a day
with equal weights of starter, flour and water; rye flour makes it more lively than white flour.
It is ready to bake with when it doubles in four to six hours at about 24 degrees Celsius. A dough
at 75 percent hydration is easy to shape; let it rest before adding salt, so the gluten forms.
Bulk fermentation takes four to six hours, with a set of folds every half hour at the start. Score
the loaf with a razor just before it goes into a very hot covered pot.
""",
    "beekeeping.txt": """\
Inspecting a beehive
Open a hive on a warm, calm afternoon when the foragers are out. Puff a little smoke at the entrance
first: it masks the alarm scent the guard bees release. Check every frame for eggs, which show the
queen laid within the last three days. Queen cells hanging from the bottom of a frame in spring mean
the colony is preparing to swarm. Treat varroa mites with oxalic acid in midwinter, when the colony
has no brood for the mites to hide in. Take the honey off in late summer and leave the bees enough
stores to last the winter.
""",
    "tides.md": """\
# Why the sea rises and falls
Tides are raised mostly by the Moon's gravity, with a smaller pull from the Sun. Most coasts see two
high waters a day, about twelve hours and twenty-five minutes apart, so high tide comes later each
day. Spring tides, with the greatest range, follow the new and the full moon, when Sun and Moon
pull in line. Neap tides, with the smallest range, come near the quarter moons. The Bay of Fundy
has the largest range in the world, more than sixteen metres, because its shape resonates with the
tide. Harbour tide tables give the height and time of each high and low water for the year ahead.
""",
    "glaciers.txt": """\
How a glacier forms and moves
Where more snow falls in winter than melts in summer, the snow packs into grainy firn and, over
decades, into dense blue glacier ice. The upper part of a glacier, where it gains ice, is the
accumulation zone; the lower part, where it loses ice by melting, is the ablation zone. Ice flows
downhill like a very slow river, and where it bends over a step in the bed it cracks into
crevasses. Rock scraped from the valley is dumped along the sides and the snout as moraines. Where a
glacier reaches the sea, blocks break from its front in a process called calving. Cores drilled
from old ice hold bubbles of ancient air that record past climates.
""",
    "openings.md": """\
# A first chess opening repertoire
Open with the king's pawn and aim the bishop at the weak square beside the enemy king: that is the
Italian Game. Against the king's pawn, the Sicilian Defence answers with the queen's bishop pawn and
fights for the centre from the side. Castle early to tuck the king behind its pawns and connect the
rooks. A fianchetto puts a bishop on the long diagonal after a knight's pawn moves one square. A
gambit offers a pawn to gain time for development. Doubled or isolated pawns are weaknesses that last
into the endgame.
""",
    "volcanoes.txt": """\
Kinds of volcano
Shield volcanoes are broad and gentle because runny basalt lava travels far before it cools; the
Hawaiian islands are built of them. Stratovolcanoes are steep cones of alternating ash and lava and
erupt explosively when sticky, gas-rich magma blocks the vent. The deadliest danger is a
pyroclastic flow, an avalanche of hot gas and rock that races downhill faster than a car. When a
magma chamber empties, the summit can collapse into a wide basin called a caldera. Volcanic ash
weathers into some of the most fertile soils on earth.
""",
    "signals.md": """\
# Railway signalling
A line is divided into blocks, and only one train may occupy a block at a time. Semaphore signals
show stop with a horizontal arm and proceed with a raised or lowered arm; colour lights replaced most
of them. An interlocking in the signal box makes it impossible to clear a signal for a route whose
points are set against it. On a single-track line a driver must carry a token for the section
ahead, and only one token for a section can be out of its machine at once. Track circuits detect a
train because its wheels and axles short the rails together.
""",
}

QUESTIONS: list[tuple[str, str]] = [
    ("When was the Harrow Point light built?", "lighthouse.md"),
    ("How many stairs up to the lantern room?", "lighthouse.md"),
    ("What did the lens float on so it could turn?", "lighthouse.md"),
    ("What flour makes a starter more active?", "sourdough.md"),
    ("How long does bulk fermentation of the dough take?", "sourdough.md"),
    ("When should salt go into the dough?", "sourdough.md"),
    ("Why puff smoke at the hive entrance?", "beekeeping.txt"),
    ("When do you treat a colony for varroa mites?", "beekeeping.txt"),
    ("What do queen cells in spring tell you?", "beekeeping.txt"),
    ("How far apart are the two daily high waters?", "tides.md"),
    ("Which moon phases bring spring tides?", "tides.md"),
    ("Where is the largest tidal range?", "tides.md"),
    ("What is firn?", "glaciers.txt"),
    ("Where does a glacier lose ice by melting?", "glaciers.txt"),
    ("What is calving of a glacier?", "glaciers.txt"),
    ("Which opening aims the bishop at the square beside the king?", "openings.md"),
    ("What is a fianchetto?", "openings.md"),
    ("Why castle early in a chess game?", "openings.md"),
    ("Why are shield volcanoes broad?", "volcanoes.txt"),
    ("What is a pyroclastic flow?", "volcanoes.txt"),
    ("How does a caldera form?", "volcanoes.txt"),
    ("How many trains may be in one block?", "signals.md"),
    ("What does the token on a single-track line do?", "signals.md"),
    ("How do track circuits detect a train?", "signals.md"),
]

_WORD = re.compile(r"[A-Za-z]+")
_GLUE = "the a of and to in is it that with for on as by at from".split()


def vocabulary() -> list[str]:
    """The words of the documents (lower case, each once, in order of appearance)."""
    words: dict[str, None] = {}
    for text in DOCUMENTS.values():
        for word in _WORD.findall(text):
            words[word.lower()] = None
    return list(words)


LEXICON_SIZE = 5000
BORROWED = 20
_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "or")]


def lexicon(size: int = LEXICON_SIZE, seed: int = 1) -> list[str]:
    """`size` distinct made-up words of two to four syllables."""
    rng = random.Random(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    return list(words)


def _word(rng: random.Random, made_up: list[str], borrowed: list[str]) -> str:
    roll = rng.random()
    if roll < 1 / BORROWED:
        return rng.choice(borrowed)
    return rng.choice(_GLUE) if roll < 0.3 else rng.choice(made_up)


def filler(n_tokens: int, seed: int) -> str:
    """About `n_tokens` words of sentences that say nothing (see the module docstring)."""
    rng = random.Random(seed)
    made_up, borrowed = lexicon(), vocabulary()
    sentences, count = [], 0
    while count < n_tokens:
        length = rng.randint(8, 18)
        picked = [_word(rng, made_up, borrowed) for _ in range(length)]
        sentences.append(" ".join(picked).capitalize() + ".")
        count += length + 1  # the full stop is a token too (files.chunking)
        if rng.random() < 0.12:
            sentences.append("\n\n")
    return " ".join(sentences)
