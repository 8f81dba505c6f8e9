"""What the model of content/model.py sees of a message: a bag of string features.

One function serves training (as scikit-learn's analyzer) and the running bot, so the two can
never disagree. Features, each kept because cross-validation says it earns its place
(`python -m bot content eval`):
- characters, pairs and triples of the normalised text (Shanghainese mapped to Mandarin):
  Chinese has no spaces, and a typo or a paraphrase still shares most of them;
- English words (crudely stemmed) and word pairs;
- pinyin syllable pairs of the Chinese characters, so a homophone typo (为棋 for 围棋) looks
  like the word meant;
- a marker for another district or city named without Tangqiao (their services are not ours).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import en_words, has_han, normalize, pinyin_keys

SCOPE_PATH = CONTENT_DIR / "scope.yaml"

MAX_CHARS = 400  # a rambling message is read on its first 400 characters


class Features:
    def __init__(self, elsewhere: list[str] = (), home: list[str] = ()):
        self._elsewhere = [normalize(p) for p in elsewhere]
        self._home = [normalize(h) for h in home]

    def __call__(self, text: str) -> list[str]:
        text = normalize(text)[:MAX_CHARS]
        padded = f" {text} "
        out = [padded[i:i + n] for n in (1, 2, 3) for i in range(len(padded) - n + 1) if padded[i:i + n].strip()]
        words = en_words(text)
        out += ["w:" + w for w in words]
        out += [f"w:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
        sounds = pinyin_keys("".join(c for c in text if has_han(c)))
        out += [f"p:{a}{b}" for a, b in zip(sounds, sounds[1:], strict=False)]
        if self.elsewhere(text):
            out.append("x:elsewhere")
        return out

    def elsewhere(self, text: str) -> bool:
        """`text` (normalised) names another district or city and not ours."""
        return any(p in text for p in self._elsewhere) and not any(h in text for h in self._home)


def features_for(scope_path: Path = SCOPE_PATH) -> Features:
    """The features, with the places of content/scope.yaml."""
    scope = yaml.safe_load(scope_path.read_text(encoding="utf-8")) or {}
    elsewhere = scope.get("elsewhere", {})
    return Features(elsewhere.get("places", []), elsewhere.get("home", []))
