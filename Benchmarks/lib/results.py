"""What a case produces: a Result per row of the table, and the A B A B ... interleaving that fills
it."""

import math
import statistics
import sys


class Result:
    """One row: `a` against `b` (e.g. Portcullis against OpenSSH), each a list of measurements in
    `unit`; ratio = median(a) / median(b). A row with no `b` is a plain measurement."""

    def __init__(self, section, case, unit, a_label, b_label=None, higher_is_better=True, notes=None,
                 expected=None, allow_zero=False, b_optional=False, **extra):
        self.section = section
        self.case = case
        self.unit = unit
        self.a_label = a_label
        self.b_label = b_label
        self.a = []
        self.b = []
        self.higher_is_better = higher_is_better
        self.expected = expected  # measurements per side, when not the run's repetitions
        self.allow_zero = allow_zero  # a count such as errors: 0 is a sane value (and has no ratio)
        self.b_optional = b_optional  # `b` may have no measurement at all (a note says why): no ratio then
        self.notes = list(notes or [])
        self.error = None  # the row could not be measured at all
        self.failures = []  # measurements that failed, one message each
        self.extra = extra

    @property
    def a_median(self):
        return statistics.median(self.a) if self.a else None

    @property
    def b_median(self):
        return statistics.median(self.b) if self.b else None

    @property
    def ratio(self):
        if self.b_label is None or not self.a or not self.b or not self.b_median:
            return None
        return self.a_median / self.b_median

    def problems(self, repetitions):
        """Why this row's numbers are not sane (empty when they are): what --quick asserts."""
        found = []
        if self.error:
            found.append(self.error)
        found += ["failed: " + f.splitlines()[0] for f in self.failures]
        expected = self.expected if self.expected is not None else repetitions
        for label, values in ((self.a_label, self.a), (self.b_label, self.b)):
            if label is None:
                continue
            if not self.failures and len(values) != expected and not (self.b_optional and label == self.b_label
                                                                      and not values):
                found.append("%s: %d of %d measurements" % (label, len(values), expected))
            if any(not (isinstance(v, (int, float)) and math.isfinite(v) and (v >= 0 if self.allow_zero else v > 0))
                   for v in values):
                found.append("%s: a measurement is not a %s number: %r"
                             % (label, "non-negative" if self.allow_zero else "positive", values))
        if self.b_label is not None and not self.allow_zero and not found and (self.b or not self.b_optional) and \
                not (self.ratio and math.isfinite(self.ratio)):
            found.append("no ratio")
        return found

    def as_json(self):
        return {
            "section": self.section, "case": self.case, "unit": self.unit,
            "a": {"label": self.a_label, "values": self.a, "median": self.a_median},
            "b": {"label": self.b_label, "values": self.b, "median": self.b_median} if self.b_label else None,
            "ratio": self.ratio, "higher_is_better": self.higher_is_better,
            "notes": self.notes, "error": self.error, "failures": self.failures, **self.extra,
        }


def interleave(result, a, b, measure, repetitions, progress=None):
    """Fills `result` with `measure(a)` and `measure(b)`, alternating A B, B A, A B, ... so that
    a slow spell on the shared machine hits both sides alike. A failed measurement (bytes lost,
    a process that died, a deadline) is kept in result.failures and the row goes on."""
    for rep in range(repetitions):
        order = [(a, result.a), (b, result.b)] if rep % 2 == 0 else [(b, result.b), (a, result.a)]
        for side, values in order:
            try:
                value = measure(side)
            except Exception as e:  # reported with the row; the other measurements still run
                message = "%s #%d: %s" % (getattr(side, "name", side), rep + 1, e)
                result.failures.append(message)
                print("  FAILED %s" % message, file=sys.stderr)
                continue
            values.append(value)
            if progress:
                progress(side, rep, value)
    return result
