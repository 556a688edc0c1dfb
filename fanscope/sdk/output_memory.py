"""The in-process memory of recent outputs that links later inputs to them.

Part of the data-flow fingerprints (``fanscope.sdk.fingerprint``, ``docs/dataflow.md``): every
output's 16-character runs are remembered per trace, as Python hashes (random per process,
never text), each with the reference fingerprints of the outputs that contained it. An input
that contains a remembered run records those references, so the link is found whatever the
lengths of the two texts.

What an output repeats of the trace's earlier inputs is not remembered for it: an answer that
echoes the question it was asked, or a step that returns the value it was given, made none of
that text, and a later step whose input holds the same question may have it from where the
echoing step had it. So inputs are *seen* (their runs and whole values, per trace, in a store
of their own) before outputs are remembered. The seen store is best effort: what it forgets
is remembered again as the output's, which can only keep a step after another (a saving
missed), never call two steps independent.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable
from itertools import filterfalse

Refs = int | tuple[int, ...]


class OutputMemory:
    """RUN-grams of recent outputs, per trace, each with the outputs (refs) that contained it.

    Bounded by ``capacity`` grams in all: past it the least recently used trace is
    forgotten; a gram remembers at most ``MAX_REFS`` outputs (the latest). Each trace keeps
    two flags: *incomplete* (some of its outputs were forgotten, in part or whole) and
    *summarised* (some output recorded only a sample). Only when both hold can an input miss
    an earlier output; when the input itself recorded only a sample, *incomplete* suffices.
    """

    FLAGS = 65536  #: traces whose flags are kept
    MAX_REFS = 8

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.lock = threading.Lock()
        self.traces: OrderedDict[int, dict[int, Refs]] = OrderedDict()
        self.flags: OrderedDict[int, list[bool]] = OrderedDict()  # [incomplete, summarised]
        self.size = 0
        self.forgot_flags = False
        self.seen: OrderedDict[int, set[int]] = OrderedDict()
        self.seen_size = 0

    def clear(self) -> None:
        with self.lock:
            self.traces.clear()
            self.flags.clear()
            self.size = 0
            self.forgot_flags = False
            self.seen.clear()
            self.seen_size = 0

    def see(self, trace_id: int, keys: list[int]) -> None:
        """Note ``keys`` (an input's runs and whole values) as seen in the trace's inputs."""
        with self.lock:
            known = self.seen.get(trace_id)
            if known is None:
                known = self.seen[trace_id] = set()
            else:
                self.seen.move_to_end(trace_id)
            while self.seen_size + len(keys) > self.capacity and len(self.seen) > 1:
                _, old = self.seen.popitem(last=False)  # never this one: it is last
                self.seen_size -= len(old)
            room = self.capacity - self.seen_size
            before = len(known)
            known.update(keys if len(keys) <= room else keys[: max(0, room)])
            self.seen_size += len(known) - before

    def unseen(self, trace_id: int, keys: list[int]) -> list[bool]:
        """For each key, whether the trace's inputs have not held it (as far as remembered)."""
        with self.lock:
            seen = self.seen.get(trace_id)
            if not seen:
                return [True] * len(keys)
            return list(map(operator.not_, map(seen.__contains__, keys)))

    def _flags(self, trace_id: int) -> list[bool]:
        flags = self.flags.get(trace_id)
        if flags is None:
            flags = self.flags[trace_id] = [False, False]
            while len(self.flags) > self.FLAGS:
                self.flags.popitem(last=False)
                self.forgot_flags = True
        else:
            self.flags.move_to_end(trace_id)
        return flags

    def remember(
        self, trace_id: int, grams: list[int], ref: int, summarised: bool, cut: bool
    ) -> None:
        with self.lock:
            seen = self.seen.get(trace_id)
            if seen:  # what the trace's inputs held before is not this output's
                grams = list(filterfalse(seen.__contains__, grams))
            flags = self._flags(trace_id)
            flags[0] = flags[0] or cut
            flags[1] = flags[1] or summarised or cut
            known = self.traces.get(trace_id)
            if known is None:
                known = self.traces[trace_id] = {}
            else:
                self.traces.move_to_end(trace_id)
            while self.size + len(grams) > self.capacity and len(self.traces) > 1:
                old, grams_of = self.traces.popitem(last=False)  # never this one: it is last
                self.size -= len(grams_of)
                self._flags(old)[0] = True
            room = self.capacity - self.size
            if len(grams) > room:  # this trace alone outgrows the memory
                grams = grams[: max(0, room)]
                flags[0] = True
            new = dict.fromkeys(grams, ref)
            shared = new.keys() & known.keys()
            merged: list[tuple[int, Refs]] = []
            for gram in shared:  # text that several outputs contain: remember them all
                refs = known[gram]
                refs = refs if isinstance(refs, tuple) else (refs,)
                if ref not in refs:
                    if len(refs) >= self.MAX_REFS:
                        refs = refs[1:]
                        flags[0] = True
                    merged.append((gram, (*refs, ref)))
                else:
                    merged.append((gram, refs if len(refs) > 1 else refs[0]))
            before = len(known)
            known.update(new)
            known.update(merged)
            self.size += len(known) - before

    def links(self, trace_id: int, grams: Iterable[int]) -> set[int]:
        known = self.traces.get(trace_id)
        if not known:
            return set()
        found: set[int] = set()
        for refs in map(known.get, grams):
            if refs is None:
                continue
            if isinstance(refs, int):
                found.add(refs)
            else:
                found.update(refs)
        return found

    def complete(self, trace_id: int, sampled: bool) -> bool:
        """Whether an input (that recorded a sample, or not) can be sure of its links."""
        flags = self.flags.get(trace_id)
        if flags is None:
            return not (self.forgot_flags and sampled)
        incomplete, summarised = flags
        return not incomplete or not (sampled or summarised)
