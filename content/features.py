"""What the model of content/model.py sees of a message: a bag of string features.

One function serves training (as scikit-learn's analyzer) and the running bot, so the two can
never disagree. Features, each kept because cross-validation says it earns its place
(`python -m bot content eval`):
- characters, pairs and triples of the normalised text (Shanghainese mapped to Mandarin), its
  polite wrappers taken off (content/politeness.py) and each phone number one placeholder:
  Chinese has no spaces, and a typo or a paraphrase still shares most of them;
- English words (crudely stemmed) and word pairs;
- pinyin syllable pairs of the Chinese characters, so a homophone typo (为棋 for 围棋) looks
  like the word meant;
- a marker for another district or city named without Tangqiao (their services are not ours),
  and one for a service the report does not cover (content/scope.yaml);
- the cues of content/cues.yaml (words of a greeting, an opinion, a complaint, a question about
  an earlier report), one feature each, and a marker for a short message.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from content.loader import CONTENT_DIR
from content.normalize import en_words, has_han, normalize, pinyin_keys, without_phones
from content.politeness import core

SCOPE_PATH = CONTENT_DIR / "scope.yaml"
CUES_PATH = CONTENT_DIR / "cues.yaml"
SHORT = 40  # characters: "谢谢" and "你好" are short, questions that start politely are not

MAX_CHARS = 400  # a rambling message is read on its first 400 characters


class Features:
    def __init__(self, elsewhere: list[str] = (), home: list[str] = (), cues: dict[str, list[str]] | None = None,
                 out_of_scope: list[str] = ()):
        self._elsewhere = [normalize(p) for p in elsewhere]
        self._out_of_scope = [normalize(t) for t in out_of_scope]
        self._home = [normalize(h) for h in home]
        self._cues = [(f"x:{name}", re.compile("|".join(f"(?:{p})" for p in patterns)))
                      for name, patterns in (cues or {}).items()]

    def __call__(self, text: str) -> list[str]:
        # a greeting's words must not hide the question, nor a phone number's digits (read as 12345)
        text = core(without_phones(normalize(text)))[:MAX_CHARS]
        padded = f" {text} "
        out = [padded[i:i + n] for n in (1, 2, 3) for i in range(len(padded) - n + 1) if padded[i:i + n].strip()]
        words = en_words(text)
        out += ["w:" + w for w in words]
        out += [f"w:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
        sounds = pinyin_keys("".join(c for c in text if has_han(c)))
        out += [f"p:{a}{b}" for a, b in zip(sounds, sounds[1:], strict=False)]
        if self.elsewhere(text):
            out.append("x:elsewhere")
        if self.out_of_scope(text, normalised=True):
            out.append("x:out_of_scope")
        out += [name for name, pattern in self._cues if pattern.search(text)]
        if len(text) <= SHORT:
            out.append("x:short")
        return out

    def out_of_scope(self, text: str, normalised: bool = False) -> bool:
        """`text` names a service the report does not cover, or another district."""
        text = text if normalised else normalize(text)
        return any(term in text for term in self._out_of_scope) or (not normalised and self.elsewhere(text))

    def elsewhere(self, text: str) -> bool:
        """`text` (normalised) names another district or city and not ours."""
        return any(p in text for p in self._elsewhere) and not any(h in text for h in self._home)


def features_for(scope_path: Path = SCOPE_PATH, cues_path: Path = CUES_PATH) -> Features:
    """The features, with the places of content/scope.yaml and the cues of content/cues.yaml."""
    scope = yaml.load(scope_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}
    elsewhere = scope.get("elsewhere", {})
    cues = yaml.load(cues_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}
    terms = scope.get("terms", {})
    return Features(elsewhere.get("places", []), elsewhere.get("home", []), cues, terms.get("zh", []) + terms.get("en", []))
