"""The embedded corpus: short three-sentence stories generated from a small grammar.

Why generated: it needs no download and no licence, and its entities are consistent across the
sentences, so infilling has a checkable right answer. The beginning names a person and a place;
the place fixes the verb and the set of possible objects of the middle; the end refers back to
the middle's object (and often its adjective, and sometimes the friend it was for). So the prior
p(middle | beginning) spreads over ~100 middles, while p(middle | beginning, end) concentrates on
the few consistent with the end: the reward (the end's likelihood) carries real information.

    beginning: "anna went to the market ."
    middle:    "she bought a red apple for tom ."
    end:       "tom loved the red apple ."
"""
import random

NAMES = {"anna": "she", "maria": "she", "lucy": "she", "emma": "she", "sara": "she", "nina": "she",
         "tom": "he", "jack": "he", "sam": "he", "ben": "he", "leo": "he", "max": "he"}
PLACES = {  # place: (verb, objects)
    "market": ("bought", ["apple", "pear", "fish", "cake"]),
    "park": ("found", ["ball", "kite", "stone", "feather"]),
    "library": ("borrowed", ["book", "map", "comic", "atlas"]),
    "beach": ("collected", ["shell", "pebble", "starfish", "bottle"]),
    "shop": ("bought", ["hat", "scarf", "cup", "lamp"]),
}
ADJECTIVES = ["red", "blue", "green", "yellow", "small", "big", "tiny", "shiny"]
BEGINNINGS = ["{name} went to the {place} .", "one day {name} walked to the {place} ."]
MIDDLES = ["{pron} {verb} a {adj} {obj} .", "there {pron} {verb} a {adj} {obj} .",
           "{pron} {verb} a {adj} {obj} for {friend} ."]
ENDS = ["{pron} gave the {adj} {obj} to {friend} .", "{friend} loved the {adj} {obj} .",
        "later {name} showed the {obj} to {friend} .", "the {obj} made {name} happy ."]


def generate_stories(n: int, seed: int = 0):
    """n stories as (beginning, middle, end) strings; deterministic given the seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        name = rng.choice(sorted(NAMES))
        place = rng.choice(sorted(PLACES))
        verb, objects = PLACES[place]
        friend = rng.choice([f for f in sorted(NAMES) if f != name])
        w = dict(name=name, pron=NAMES[name], place=place, verb=verb, obj=rng.choice(objects),
                 adj=rng.choice(ADJECTIVES), friend=friend)
        out.append((rng.choice(BEGINNINGS).format(**w), rng.choice(MIDDLES).format(**w), rng.choice(ENDS).format(**w)))
    return out
