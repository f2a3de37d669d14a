"""A code digest follows what the code does: formatting, comments and docstrings leave it unchanged, any change to
the syntax tree (a constant, a name, an operator) changes it; files that are not Python, or do not parse, by bytes."""

from __future__ import annotations

import pytest

from srd_core.code_digest import file_digest, source_text_digest

SOURCE = '''"""Module docstring."""
SCALE = 1.0


class Loss:
    """A loss."""

    def forward(self, x, y):
        """Scaled difference."""
        return SCALE * (x - y)
'''

SAME_TREE = [
    SOURCE.replace("return SCALE * (x - y)", "return (\n            SCALE\n            * (x - y)\n        )"),
    SOURCE.replace("SCALE = 1.0", "SCALE = 1.0  # a comment"),
    SOURCE.replace('"""A loss."""', '"""A reworded docstring,\n\n    over two paragraphs."""'),
    SOURCE.replace('"""Scaled difference."""\n', ""),
    SOURCE.replace("class Loss:", "\n\nclass Loss:"),
    SOURCE.replace('"""Module docstring."""', "'''Module docstring.'''"),
]

OTHER_TREE = [
    SOURCE.replace("SCALE = 1.0", "SCALE = 5.0"),
    SOURCE.replace("(x - y)", "(y - x)"),
    SOURCE.replace("x - y", "x + y"),
    SOURCE.replace("def forward", "def backward"),
    SOURCE.replace('"""Scaled difference."""', '"""Scaled difference."""\n        y = y.detach()'),
    SOURCE + "\nprint('imported')\n",
]


@pytest.mark.parametrize("variant", SAME_TREE)
def test_formatting_comments_and_docstrings_keep_the_digest(variant):
    assert source_text_digest(variant.encode()) == source_text_digest(SOURCE.encode())


@pytest.mark.parametrize("variant", OTHER_TREE)
def test_a_change_to_the_code_changes_the_digest(variant):
    assert source_text_digest(variant.encode()) != source_text_digest(SOURCE.encode())


def test_a_string_that_is_not_a_docstring_counts():
    with_value = SOURCE.replace("SCALE = 1.0", "SCALE = 1.0\nNAME = 'kl'")
    renamed = SOURCE.replace("SCALE = 1.0", "SCALE = 1.0\nNAME = 'jsd'")
    assert source_text_digest(with_value.encode()) != source_text_digest(renamed.encode())


def test_unparsable_and_non_python_files_are_digested_by_their_bytes(tmp_path):
    broken = b"def f(:\n    return 1\n"
    assert source_text_digest(broken).startswith("bytes:")
    assert source_text_digest(broken) != source_text_digest(broken + b" ")
    data = tmp_path / "table.json"
    data.write_text('{"a": 1}')
    first = file_digest(str(data))
    data.write_text('{"a": 1} ')
    file_digest.cache_clear()
    assert first.startswith("bytes:") and file_digest(str(data)) != first
    assert file_digest(str(tmp_path / "gone.py")) == "missing"
    file_digest.cache_clear()
