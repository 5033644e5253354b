"""The neutral draft of an agent reply, and the cleaned reply a style model learns to write.

A style adapter is trained as a *rewriter*: its input is what the composer produces at run time
(plain, declarative, cited sentences) and its output is the team's reply. Real training data only
has the reply, so the input is derived from it, deterministically:

* :func:`clean_reply`: the **target**. The team's voice stays (greetings, empathy, "let us know");
  what belongs to one conversation or one agent goes: @handles, thread counters ("1/2"), agent
  initials and signatures ("^SM", "*TCC", "/DV", "- Dani", "Best, Priya"), the customer's name
  in a greeting ("Hi Maya," becomes "Hi,"). Otherwise the model would learn to invent names.
* :func:`neutral_draft`: the **input**. The cleaned reply without its voice: no greeting, no
  emoji, no pleasantry sentences ("Sorry to hear that.", "Keep us posted!"), no discourse fillers
  ("Okay,", "Just"), no "please", contractions expanded, "!" made ".".

A sentence is dropped as a pleasantry only when it carries no protected token (number, URL,
email, code, citation, product name: :func:`bot.answer.style.protected_tokens`), so the draft
keeps every fact of the reply; the export then checks the pair with the run-time guard and drops
the pairs where it would not pass.
"""

from __future__ import annotations

import re

from bot.answer.style import protected_names, protected_tokens

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_HANDLE = re.compile(r"(?<![\w.])@\w{1,30}\b[:,]?\s*")
_COUNTER = re.compile(r"(?:^|\s)\(?\d{1,2}/\d{1,2}\)?(?=\s*$)|^\s*\(?\d{1,2}/\d{1,2}\)?\s+")
# "^SM", "*TCC", "/DV", "-KM" initials of the agent at the end of a tweet.
_INITIALS = re.compile(r"\s*(?:\^\s?[A-Za-z]{1,12}|\*[A-Z]{1,4}|/\s?[A-Z]{2,3}|-\s?[A-Z]{2,3})\s*\.?\s*$")
# "- Dani", "– Peter.", "Thanks - Emma", "TY - Kelly." at the very end.
_DASH_NAME = re.compile(r"\s*[-–—~]\s*[A-Z][a-z]{1,15}\.?\s*$")
# "..., Calum" at the very end (a signature without a dash).
_COMMA_NAME = re.compile(r"(Thanks|Thank you|Cheers|Regards|Best|TY)\s*,\s*[A-Z][a-z]{1,15}\.?\s*$")
_CLOSING = re.compile(
    r"^(best|best regards|kind regards|warm regards|regards|cheers|thanks|many thanks|thank you|"
    r"all the best|warmly|sincerely|take care)\s*[,!.]?\s*$", re.I)
_GREETING_NAME = re.compile(
    r"^(\s*(?i:hi|hey|hello|hiya|dear|good (?:morning|afternoon|evening)))[ ,]+"
    r"(?!there\b|again\b|all\b|team\b|everyone\b|folks\b)[A-Z][\w'-]{1,20}(?: [A-Z][\w'-]{1,20})?(\s*[,.!:])")
_GREETING = re.compile(
    r"^\s*(?:hi|hey|hello|hiya|howdy|greetings|dear|good (?:morning|afternoon|evening|day))\b"
    r"(?: there| again| all| team| everyone| folks)?\s*[,.!:]*\s*", re.I)
# ", Dave!" vocative at a sentence end.
_VOCATIVE = re.compile(r",\s*[A-Z][a-z]{2,15}(?=\s*[.!?](?:\s|$))")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\u2300-\u23ff\u2b00-\u2bff\ufe0f\u200d]+")
_EMOTICON = re.compile(r"(?<!\S)(?:[:;=]-?[()DPp3/\\|*]|<3|\^_?\^|xx+)(?=\s|$|[.,!?])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,2}[.)])\s+")

#: Sentences with one of these (lower case) and no protected token are the team's voice, not facts.
PLEASANTRIES = (
    "thanks for reaching out", "thank you for reaching out", "thanks for getting in touch",
    "thank you for getting in touch", "thanks for contacting", "thank you for contacting",
    "thanks for letting us know", "thank you for letting us know", "thanks for the info",
    "thanks for that info", "thanks for your patience", "thank you for your patience",
    "thanks for bringing", "thank you for bringing", "thanks for tweeting", "thanks for the heads up",
    "sorry to hear", "sorry for the", "sorry about", "so sorry", "we are sorry", "we're sorry", "i'm sorry",
    "i am sorry", "apolog", "we understand", "i understand", "we hear you", "we get it", "frustrating",
    "happy to help", "glad to help", "here to help", "here for you", "like to help", "want to help",
    "love to help", "be happy to", "let us know", "let me know", "keep us posted", "keep me posted",
    "keep us updated", "hope this helps", "hope that helps", "hope this is helpful", "glad to hear",
    "great to hear", "good to hear", "happy to hear", "have a great", "have a good", "have a nice",
    "have a lovely", "enjoy your", "you're welcome", "you are welcome", "most welcome", "no problem",
    "no worries", "my pleasure", "our pleasure", "any time", "anytime", "got it", "let's investigate",
    "let's take a look", "let's look into", "let's get this sorted", "let's figure", "let's work",
    "we're on it", "we can help", "we're here", "thanks again", "any other questions",
    "anything else", "feel free", "good question", "great question", "appreciate", "understandable", "we see", "we can see how",
    "all the best", "best wishes", "take care", "that's odd", "that's strange", "not what we want", "not the experience", "oh no", "yikes",
)
_SHORT_THANKS = re.compile(r"\b(thanks|thank you|cheers|ty)\b", re.I)
_LEADING_FILLERS = re.compile(
    r"^(?:(?:sure thing|okay|ok|ah|oh|so|sure|great|alright|absolutely|of course|certainly|well|yes|no worries|"
    r"perfect|awesome|got it|understood|to start|first off|in that case|"
    r"no problem|gotcha|hmm|right)\b[\s,.!:;-]*)+", re.I)
_PLEASE = re.compile(r"\s*,?\s*\b(?:please|kindly)\b\s*,?", re.I)
_JUST = re.compile(r"^just\s+", re.I)

CONTRACTIONS = {
    "can't": "cannot", "won't": "will not", "shan't": "shall not", "n't": " not", "let's": "let us",
    "i'm": "I am", "'re": " are", "'ve": " have", "'ll": " will", "'d": " would",
    "it's": "it is", "that's": "that is", "there's": "there is", "here's": "here is", "what's": "what is",
    "who's": "who is", "where's": "where is", "he's": "he is", "she's": "she is",
}
_CONTRACTION = re.compile(
    r"\b(can't|won't|shan't|let's|i'm|it's|that's|there's|here's|what's|who's|where's|he's|she's)\b"
    r"|\b(?:i|you|we|they|he|she|it)'d\b|(?<=\w)(n't|'re|'ve|'ll)\b", re.I)


def _expand(match: re.Match[str]) -> str:
    word = match.group(0)
    out = word[:-2] + " would" if word.lower().endswith("'d") else CONTRACTIONS.get(word.lower(), word)
    if word[0].isupper() and out[0].islower():
        out = out[0].upper() + out[1:]
    return out


def expand_contractions(text: str) -> str:
    """``we're`` -> ``we are``, ``can't`` -> ``cannot`` (also after curly apostrophes)."""
    return _CONTRACTION.sub(_expand, text.translate(_APOSTROPHES))


def clean_reply(text: str) -> str:
    """The reply as a training target: the team's voice kept, conversation- and agent-specific bits gone."""
    text = text.translate(_APOSTROPHES).replace("\r\n", "\n")
    text = _HANDLE.sub("", text)
    lines = [ln.rstrip() for ln in text.strip().split("\n")]
    # A closing line ("Best,") and the short signature lines under it end an email-style reply.
    for i in range(len(lines) - 1, max(len(lines) - 5, -1), -1):
        if _CLOSING.match(lines[i].strip()) and all(len(ln.split()) <= 6 for ln in lines[i + 1 :]):
            lines = lines[:i]
            break
    # Each paragraph may be one tweet of a thread, with its own counter and initials.
    paragraphs = []
    for para in "\n".join(lines).strip().split("\n\n"):
        for _ in range(3):  # "...tweeting us. *TCC 2/2" needs more than one pass
            before = para
            para = _COUNTER.sub("", para).strip()
            para = _INITIALS.sub("", para).strip()
            para = _DASH_NAME.sub("", para).strip()
            para = _COMMA_NAME.sub(r"\1.", para).strip()
            if para == before:
                break
        if para:
            paragraphs.append(para)
    text = "\n\n".join(paragraphs)
    text = _GREETING_NAME.sub(r"\1\2", text)
    text = _VOCATIVE.sub("", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _carries_facts(sentence: str) -> bool:
    return any(protected_tokens(sentence).values()) or bool(protected_names(sentence))


def _is_pleasantry(sentence: str) -> bool:
    low = sentence.lower().translate(_APOSTROPHES)
    if any(p in low for p in PLEASANTRIES):
        return len(low.split()) <= 14
    return bool(_SHORT_THANKS.search(low)) and len(low.split()) <= 6


def _neutral_sentence(sentence: str) -> str:
    s = sentence.strip()
    # "Thanks for reaching out, if you are ..." / "Sorry to hear that - try ...": drop the opening clause.
    clause = re.match(r"^(.*?)\s*[,;:–—-]\s+(\S.*)$", s, re.S)
    if clause and len(clause.group(1).split()) <= 8 and _is_pleasantry(clause.group(1)) \
            and not _carries_facts(clause.group(1)):
        s = clause.group(2)
    s = _LEADING_FILLERS.sub("", s)
    s = _JUST.sub("", s)
    s = _PLEASE.sub(" ", s)
    s = expand_contractions(s)
    s = re.sub(r"!+\?|\?!+", "?", s)
    s = re.sub(r"!+", ".", s)
    s = re.sub(r"\.{2,}|…", ".", s)
    s = re.sub(r"\s+([.,;:?])", r"\1", s)
    s = re.sub(r"\s{2,}", " ", s).strip(" ,;-")
    if re.match(r"[a-z]+\b(?!:)", s):  # not a URL, an email or a name like iPhone
        s = s[0].upper() + s[1:]
    return s if re.search(r"[A-Za-z0-9]", s) else ""


def neutral_draft(reply: str) -> str:
    """The reply as a plain grounded draft: what the composer would write, without the team's voice.

    Applies :func:`clean_reply` first. Paragraphs and list items keep their layout.
    """
    text = clean_reply(reply)
    # An emoji often ends a sentence ("We're on it 😊 Please restart ..."): keep the boundary.
    text = re.sub(f"(?:{_EMOJI.pattern}|{_EMOTICON.pattern})" + r"[ \t]+(?=[A-Z])", ". ", text)
    text = _EMOJI.sub("", text)
    text = _EMOTICON.sub("", text)
    out_lines: list[str] = []
    paragraph_start = True
    for line in text.split("\n"):
        if not line.strip():
            if out_lines and out_lines[-1] != "":
                out_lines.append("")
            paragraph_start = True
            continue
        prefix_match = _LIST_ITEM.match(line)
        prefix = prefix_match.group(0) if prefix_match else ""
        body = line[len(prefix):]
        if paragraph_start:  # every tweet of a thread may open with its own greeting
            body = _GREETING.sub("", body)
            paragraph_start = False
        kept = []
        for sentence in _SENTENCE.split(body.strip()):
            if not sentence.strip():
                continue
            if _is_pleasantry(sentence) and not _carries_facts(sentence):
                continue
            neutral = _neutral_sentence(sentence)
            if neutral:
                kept.append(neutral)
        if kept:
            out_lines.append(prefix + " ".join(kept))
    while out_lines and out_lines[-1] == "":
        out_lines.pop()
    return "\n".join(out_lines).strip()
