"""A corpus of small agent programs, written the way agent code is written, labelled by hand.

Each module is a complete program: it builds its own ``anthropic`` client (the base URL and
key come from ``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY``), uses fanscope as a user would
(``configure`` under ``__main__``, ``@traced``, ``@parallel``, ``gather``, ``@vote``), and
runs with ``main()`` (sync or async). Besides the program, each module states:

* ``ANSWERS``: what the model answers, per prompt pattern (the stand-in's scripted answers,
  ``fanscope.testing.script``), so plans, labels and tool calls can be parsed;
* ``CALLS``: the calls being labelled: a label per regular expression on an LLM call's last
  message (``re.search``), or ``"step:NAME"`` for the spans of a ``@traced`` step. A call
  made several times gets one instance per call, keyed by the expression's first group when
  it has one, else numbered in start order;
* ``DEPENDS``: which calls depend on which, by hand: ``"a -> b"`` (every ``b`` on every
  ``a``), ``"a[i] -> b[i]"`` (the same key), ``"a[i] -> b[i+1]"`` (the next one), and
  chains ``"a -> b -> c"``. A call depends on another when it reads that call's output (in
  its arguments or prompt, however transformed) or runs only because of it (a branch taken on
  a label or a verdict). Dependence is transitive; every other pair is independent.

``benchmarks/dataflow_truth.py`` runs every program against the stand-in and compares the
analyzer's classification of each pair with these labels.
"""
