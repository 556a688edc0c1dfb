"""What the witnesses said about the steps an opportunity names, one sentence per finding.

The analyzer records its evidence per pair of steps (``opportunities[].evidence``: the JSON
keeps every pair, up to twelve). Told pair by pair, a finding that rests on several calls
repeats itself: four lookups kept before one synthesis give four lines that differ only in
the lookup they name. The reports say each finding once and name the calls it covers:

- pairs whose sentences are the same once the two calls' own names are set aside (same
  classification, same witness, same wording) make one sentence;
- its calls are named as the opportunity names them, by the lines that made them:
  ``:64, :65, :66, :67 -> :74`` (several calls kept before one), ``:64 -> :65, :66``
  (one before several), ``:64, :65, :66, :67, each after the one before`` (a chain),
  else the pairs one by one, repeats counted (``:20 -> :20 x4``);
- a call common to all its pairs keeps its name; one that differs from pair to pair is said
  as "each of them" (its lines are in the sentence's head: ``:64, :65 -> :74: dependent
  (both): `synthesize` at :74 reads `notes`, from each of them``), or as "the earlier call"
  and "the later call" when both differ.

Every report (terminal, Markdown, HTML) prints :func:`sentences`; the terminal and Markdown
show the first :data:`SHOWN`, with how many more there are.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from fanscope.analysis.report.opportunities import places
from fanscope.analysis.report.words import Escape, as_is
from fanscope.analysis.schema import PairEvidence, StepRef

#: Evidence sentences the terminal and Markdown reports show per opportunity.
SHOWN = 3

_EARLIER, _LATER = "\0earlier\0", "\0later\0"
_SAID_AS = {_EARLIER: "the earlier call", _LATER: "the later call"}


def _body(e: PairEvidence, source: str) -> str:
    """What the witnesses said, after the pair: ``independent: ...; no fingerprint overlap``."""
    kind = e["classification"]
    if kind == "independent":
        return f"independent: {source}; no fingerprint overlap"
    if kind == "dependent":
        said = source if e["decided_by"] in ("source", "both") else e["fingerprints"]
        return f"dependent ({e['decided_by']}): {said}"
    if kind == "candidate" and e["decided_by"] == "fingerprints":
        return f"candidate (fingerprints only); source: {source}"
    if kind == "candidate":
        return f"candidate (source only): {source}; {e['fingerprints']}"
    return f"unknown, neither witness could look: {source}"


def _file(r: StepRef) -> str:
    return r["where"].rpartition(":")[0] if r["where"] else ""


def _mention(r: StepRef) -> re.Pattern[str] | None:
    """How the source witness names a call of ``r``'s line: ``\\`name\\` at agent.py:42``, or
    ``... at :42`` once its file is said."""
    if not r["where"]:
        return None
    path, _, line = r["where"].rpartition(":")
    return re.compile(rf"`[^`\n]*` at (?:{re.escape(path)})?:{re.escape(line)}(?!\d)")


@dataclass
class _Finding:
    """Pairs whose sentences agree once their own calls are set aside."""

    template: str
    pairs: list[PairEvidence] = field(default_factory=list)
    said: dict[str, set[str]] = field(default_factory=dict)  # placeholder -> what it stood for


def _template(e: PairEvidence) -> tuple[str, dict[str, str]]:
    """The pair's sentence with its calls' mentions as placeholders, and what they were."""
    body = _body(e, e["source"])
    earlier, later = e["earlier"], e["later"]
    if earlier["where"] == later["where"]:  # one line: the mentions cannot be told apart
        return body, {}
    found: dict[str, str] = {}
    for mark, ref in ((_LATER, later), (_EARLIER, earlier)):
        pattern = _mention(ref)
        if pattern is None:
            continue
        hits = pattern.findall(body)
        if len(hits) == 1:
            found[mark] = hits[0]
            body = pattern.sub(mark, body)
    return body, found


def _findings(items: list[PairEvidence]) -> list[_Finding]:
    out: dict[str, _Finding] = {}
    for e in items:
        template, found = _template(e)
        finding = out.setdefault(template, _Finding(template))
        finding.pairs.append(e)
        for mark in (_EARLIER, _LATER):
            finding.said.setdefault(mark, set()).add(found.get(mark, ""))
    return list(out.values())


def _ids(refs: list[StepRef]) -> set[str]:
    return {r["span_id"] for r in refs}


def _head(pairs: list[PairEvidence], escape: Escape) -> tuple[str, str]:
    """The calls a finding covers, named by their lines, and the one file they are all in
    (``""`` when not one): the sentence then names that file's lines as ``:47``."""
    earlier = [p["earlier"] for p in pairs]
    later = [p["later"] for p in pairs]
    refs = earlier + later
    files = {_file(r) for r in refs}
    one = files.pop() if len(files) == 1 else ""

    def named(steps: list[StepRef], first: bool) -> str:
        unique = list({r["span_id"]: r for r in steps}.values())
        return places(unique, limit=8, escape=escape, file=None if first else (one or None))

    if len(pairs) == 1:
        return f"{named(earlier, True)} -> {named(later, False)}", one
    if len(_ids(later)) == 1:
        return f"{named(earlier, True)} -> {named(later[:1], False)}", one
    if len(_ids(earlier)) == 1:
        return f"{named(earlier[:1], True)} -> {named(later, False)}", one
    if all(a["later"]["span_id"] == b["earlier"]["span_id"] for a, b in itertools.pairwise(pairs)):
        return f"{named([earlier[0], *later], True)}, each after the one before", one
    counts: dict[str, int] = {}
    for i, p in enumerate(pairs):
        text = f"{named([p['earlier']], i == 0)} -> {named([p['later']], False)}"
        counts[text] = counts.get(text, 0) + 1
    return ", ".join(f"{t} x{n}" if n > 1 else t for t, n in counts.items()), one


def _said(f: _Finding) -> str:
    """The finding's sentence: a call common to its pairs by its name, one that varies as
    "each of them" (the head lists them) or, when both vary, "the earlier/later call"."""
    text = f.template
    varying = [m for m, meant in f.said.items() if m in text and len(meant) > 1]
    for mark, meant in f.said.items():
        if len(meant) == 1:
            text = text.replace(mark, next(iter(meant)))
        else:
            text = text.replace(mark, "each of them" if len(varying) == 1 else _SAID_AS[mark])
    return text


def sentences(items: list[PairEvidence], escape: Escape = as_is) -> list[str]:
    """One sentence per finding among ``items`` (an opportunity's ``evidence``), in the order
    their first pairs come, each naming the calls it covers. The evidence quotes the program's
    source and the trace: the calls' lines are escaped one by one (``places``) and what the
    witnesses said whole, each cut on its own (a head that names many calls does not cut the
    evidence short)."""
    out = []
    for f in _findings(items):
        head, file = _head(f.pairs, escape)
        text = _said(f)
        if file:  # the head named the file: the evidence's lines of it as ``:47``
            text = re.sub(rf"(^| ){re.escape(file)}:(?=\d)", r"\1:", text)
        out.append(f"{head}: {escape(text)}")
    return out


def evidence(e: PairEvidence, escape: Escape = as_is) -> str:
    """The sentence of one pair (``sentences`` of it alone)."""
    return sentences([e], escape)[0]


def more(items: list[PairEvidence], shown: int = SHOWN) -> str:
    """``and 2 more (--format json has every pair)`` when ``items`` make more than ``shown``
    sentences, else ``""``."""
    hidden = len(_findings(items)) - shown
    return f"... and {hidden:,} more (--format json has every pair)" if hidden > 0 else ""


def shown(items: list[PairEvidence], escape: Escape, prefix: str) -> list[str]:
    """The lines a report prints: the first ``SHOWN`` sentences, then how many more, each
    after ``prefix`` (an indent, and a Markdown list's dash)."""
    lines = [prefix + s for s in sentences(items, escape)[:SHOWN]]
    if rest := more(items):
        lines.append(prefix + rest)
    return lines
