"""A griffe extension that reads Keras's `Example:` sections as examples.

Keras writes an example as a title line, a blank line, then doctest lines
at the same indentation as the title:

    Example:

    >>> layer = KSparse(k=2)

Google style, which griffe parses, wants the section's lines indented under
its title and no blank line between. Left as it is, the title is a plain
paragraph and every `>>>` line a nested Markdown blockquote. This extension
indents each such section under an `Examples:` title, so the site shows its
doctests as Python sessions, while the docstrings stay in Keras's form (and
run unchanged as the test suite's doctests).
"""

import re

import griffe

_TITLES = ("Example:", "Examples:")
_SECTION_TITLE = re.compile(r"^[A-Z][A-Za-z ]*:$")


def _is_section_start(lines, index):
    """Whether `lines[index]` titles a section whose body is indented."""
    return (
        _SECTION_TITLE.match(lines[index]) is not None
        and index + 1 < len(lines)
        and lines[index + 1].startswith(" ")
    )


def indent_examples(text):
    """Returns `text` with its Keras-style example sections in Google form.

    A section runs from its title to the next section title (a line such
    as `Reference:` followed by an indented line) or the end of `text`.
    """
    lines = text.split("\n")
    result = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line not in _TITLES:
            result.append(line)
            continue
        body_start = index
        while body_start < len(lines) and not lines[body_start].strip():
            body_start += 1
        if body_start == len(lines) or lines[body_start].startswith(" "):
            result.append(line)
            continue
        result.append("Examples:")
        index = body_start
        while index < len(lines) and not _is_section_start(lines, index):
            result.append("    " + lines[index] if lines[index] else "")
            index += 1
    return "\n".join(result)


class KerasExamples(griffe.Extension):
    """Rewrites every docstring with `indent_examples` before it is parsed."""

    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = indent_examples(obj.docstring.value)
