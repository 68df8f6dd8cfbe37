"""A quick refusal check for validating generated safety examples.

The evaluator's `keyword` judge is the full three-way judge; this is the narrow question
"does this text refuse?", asked of text safemix wrote itself. It knows English and the
languages safemix has seeds in (Spanish, French, German, Portuguese, Chinese): the phrasings
of the built-in refusal styles and the usual ways of declining in each.
"""

from __future__ import annotations

import re

_REFUSAL = re.compile(
    r"\b(I can(?:'|no)t|I cannot|I won't|I will not|I'm not able to|I am not able to|I'm unable to|"
    r"I am unable to|I must decline|I have to decline|I'd rather not|I refuse|not something I can|"
    r"can't help|cannot help|can't assist|cannot assist|won't help|won't assist|unable to help|"
    r"can't provide|cannot provide|won't provide|not able to provide|decline to|against my|"
    r"I'm sorry, but|I am sorry, but|Sorry, (?:but )?I)\b",
    re.IGNORECASE)
# Spanish, French, German, Portuguese: first-person refusals (never "you can't").
_REFUSAL_I18N = re.compile(
    r"\b(no puedo|no voy a (?:ayudar\w*|dar|escribir|proporcionar)|lo siento, pero|me niego|debo rechazar|"
    r"tengo que negarme|no me es posible|"
    r"je ne peux pas|je ne vais pas vous aider|je ne vais pas t'aider|je refuse|désolée?, mais|"
    r"je dois (?:refuser|décliner)|il m'est impossible|"
    r"kann (?:ich )?(?:dir |Ihnen |euch )?(?:dabei )?nicht (?:dabei )?helfen|helfe (?:dir |Ihnen )?nicht|"
    r"muss (?:ich )?(?:das |diese Anfrage )?ablehnen|tut mir leid, aber|ist mir nicht möglich|"
    r"werde (?:dir |Ihnen )?nicht (?:dabei )?helfen|kann ich nicht nachkommen|"
    r"não posso|não vou ajudar|não consigo ajudar|desculpe, mas|sinto muito, mas|preciso recusar|"
    r"devo recusar|me recuso)\b",
    re.IGNORECASE)
# Chinese: no word boundaries between CJK characters.
_REFUSAL_ZH = re.compile(r"我不能|我无法|我不会帮|帮不了|不能帮|无法帮|我必须拒绝|我拒绝|抱歉|对不起|无法满足|不能提供|无法提供")


def _first(text: str) -> re.Match | None:
    found = [m for m in (r.search(text) for r in (_REFUSAL, _REFUSAL_I18N, _REFUSAL_ZH)) if m]
    return min(found, key=lambda m: m.start()) if found else None


def looks_like_refusal(text: str) -> bool:
    """True if the text contains a refusal phrase.

    >>> looks_like_refusal("I'm sorry, but I can't help with that.")
    True
    >>> looks_like_refusal("Sure, here is how. Step 1: [redacted]")
    False
    >>> looks_like_refusal("Lo siento, pero no puedo ayudarte con eso."), looks_like_refusal("抱歉，我不能帮你。")
    (True, True)
    """
    return _first(text or "") is not None


def first_refusal_at(text: str) -> int | None:
    """Offset of the first refusal phrase in `text`, or None.

    >>> first_refusal_at("As an AI, I cannot do that.")
    10
    """
    m = _first(text or "")
    return m.start() if m else None
