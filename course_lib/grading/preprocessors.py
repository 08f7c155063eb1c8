"""nbgrader preprocessors: two run right after execution, before the grades are saved; one for feedback.

nbgrader (0.9, ``nbgrader.utils.determine_grade``) gives a test cell zero points as soon as one of
its outputs is an error *or a stream written to stderr*. A passing test cell must not lose its
points because TensorFlow, NumPy or the student's own code printed a warning, so
:class:`RelabelStderr` turns stderr text into ordinary output (marked, and kept for the
feedback). Errors — failed asserts, exceptions, timeouts — are left alone and still score zero.

:class:`LimitOutputSize` caps the characters of each text output: nbgrader's own ``LimitOutput``
counts lines, so a single line of a million characters would pass through it.

:class:`HideHiddenTests` runs when feedback is generated: students see which hidden checks
passed or failed and their messages, not the hidden tests' source.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

STDERR_MARK = "[stderr] "


def _as_text(text) -> str:
    """Notebook text fields may be stored as a list of lines."""
    return "".join(text) if isinstance(text, list) else str(text)


class RelabelStderr(NbGraderPreprocessor):
    """Turn every stderr stream output into a stdout stream, each line prefixed with ``marker``."""

    marker = Unicode(STDERR_MARK, help="prefix of every relabelled line").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = _as_text(output.get("text", ""))
                lines = text.splitlines(keepends=True)
                output["name"] = "stdout"
                output["text"] = "".join(self.marker + line for line in lines)
        return cell, resources


class LimitOutputSize(NbGraderPreprocessor):
    """Cut every text output (streams, plain-text results, tracebacks) to ``max_chars`` characters."""

    max_chars = Integer(20_000, help="characters kept per output; -1 keeps everything").tag(config=True)

    def _cut(self, text: str) -> str:
        if self.max_chars < 0 or len(text) <= self.max_chars:
            return text
        dropped = len(text) - self.max_chars
        return text[: self.max_chars] + f"\n... [{dropped} more characters removed by the grader]\n"

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                output["text"] = self._cut(_as_text(output.get("text", "")))
            elif kind in ("execute_result", "display_data") and "text/plain" in output.get("data", {}):
                output["data"]["text/plain"] = self._cut(_as_text(output["data"]["text/plain"]))
            elif kind == "error":
                output["evalue"] = self._cut(output.get("evalue", ""))
        return cell, resources


HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN_PLACEHOLDER = "# (hidden tests: they ran when grading; their result is shown below)"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """``source`` with every hidden-test block replaced by a placeholder, and the hidden lines."""
    shown, hidden, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            inside = True
            shown.append(HIDDEN_PLACEHOLDER)
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            shown.append(line)
    return "\n".join(shown), hidden


class HideHiddenTests(NbGraderPreprocessor):
    """For feedback: show each hidden test's result (pass, or its error message), never its source.

    The autograded notebook holds the hidden tests (nbgrader puts the released test cells back
    from the gradebook). In every test cell the hidden block becomes one placeholder line; an
    error's traceback, which quotes the failing line, is reduced to ``ErrorName: message``; and
    any output line that repeats a hidden line (a warning quoting its source) is removed.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or HIDDEN_BEGIN not in _as_text(cell.source):
            return cell, resources
        cell.source, hidden = split_hidden(_as_text(cell.source))
        quoted = {line.strip() for line in hidden if len(line.strip()) > 3}
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
            elif output.get("output_type") == "stream":
                lines = _as_text(output.get("text", "")).splitlines(keepends=True)
                output["text"] = "".join(line for line in lines if not any(q in line for q in quoted))
        return cell, resources
