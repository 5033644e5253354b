"""HTML to Markdown, the one conversion every connector uses."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from markdownify import markdownify

from connectors.markdown import html_to_markdown, squeeze_blank_lines


def test_structure_survives_and_noise_does_not() -> None:
    html = ("<h2>Refunds</h2><p>Open <b>Billing</b> and read <a href='https://x.test/r'>the policy</a>.</p>"
            "<ul><li>one</li><li>two</li></ul><img src='https://x.test/i.png' alt='logo'>"
            "<script>track('SECRET-JS')</script><style>p { color: red }</style>")
    md = html_to_markdown(html)
    assert md.splitlines()[0] == "## Refunds"
    assert "**Billing**" in md and "[the policy](https://x.test/r)" in md
    assert "- one" in md and "- two" in md
    assert "SECRET-JS" not in md and "color" not in md  # script and style contents never become text
    assert "logo" not in md and "i.png" not in md
    assert "[the policy]" not in html_to_markdown(html, links=False) and "the policy" in html_to_markdown(html, links=False)


def test_empty_and_blank_html_give_no_text() -> None:
    assert html_to_markdown("") == "" and html_to_markdown("  \n ") == "" and html_to_markdown("<p> </p>") == ""


def test_blank_lines_are_squeezed_for_every_mix_of_lines() -> None:
    # Every sequence (up to 5 lines) over lines that are empty, blank, padded or plain: the result has no
    # trailing spaces, no blank line at either end or twice in a row, keeps the text, and is stable.
    alphabet = ["", " ", "\t", "a", "b  ", "| x |  "]
    for n in range(6):
        for lines in itertools.product(alphabet, repeat=n):
            out = squeeze_blank_lines("\n".join(lines))
            rows = out.split("\n")
            assert all(r == r.rstrip() for r in rows)
            assert out == out.strip() and "\n\n\n" not in out
            assert [r for r in rows if r] == [line.rstrip() for line in lines if line.strip()]
            assert squeeze_blank_lines(out) == out


# --- the plain-comment fast path: markdownify's result, without parsing ----------------------------
_TEXT = st.lists(
    st.sampled_from(list("ab Z9.,:;!?#-+=()[]/'\"") + [" ", "  ", "\t", "\n", "\n\n", " \n ", "é", "’", "\xa0", "\u2003",
                                                        "\r", "\x0c", "*", "_", "&amp;", "&", "<b>x</b>", "\\", "1. ",
                                                        "- ", "> "]),
    max_size=30).map("".join)
_GAP = st.sampled_from(["", "\n", "\n\n", " ", "\t \n", "\xa0"])


def _reference(html: str) -> str:
    return squeeze_blank_lines(markdownify(html, heading_style="ATX", bullets="-", strip=["img"]))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(_GAP, _TEXT), min_size=1, max_size=4), _GAP)
def test_a_plain_comment_converts_exactly_as_markdownify_does(paragraphs: list[tuple[str, str]], tail: str) -> None:
    html = ('<div class="zd-comment" dir="auto">' + "".join(f'{gap}<p dir="auto">{text}</p>' for gap, text in paragraphs)
            + tail + "</div>")
    assert html_to_markdown(html) == _reference(html)


def test_the_recorded_comment_shapes_take_the_fast_path_or_agree() -> None:
    shapes = ['<div class="zd-comment" dir="auto"><p dir="auto">Hi there,</p>\n\n<p dir="auto">I’m sending an email because '
              'I’m having a problem.</p>\n\n<p dir="auto">Thanks,\n The Customer</p></div>',
              '<div class="zd-comment" dir="auto"><p dir="auto">Thanks,\n<br> The Customer</p></div>',
              '<div class="zd-comment" dir="auto">Hmm this customer has been here before<br></div>',
              '<div class="zd-comment" dir="auto"><p dir="auto">snake_case and *bold*</p></div>']
    for html in shapes:
        assert html_to_markdown(html) == _reference(html)


_SAFE_TEXT = st.lists(st.sampled_from(list("ab Z9.,:;!?#-+=()[]/'\"\\") + [" ", "  ", "\t", "\n", "\n\n", " \n ", "é", "’",
                                                                         "\xa0", "\u2003", "1. ", "- ", "> ", "# "]),
                      max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "\n", "\n\n", " ", "\t \n"]), _SAFE_TEXT), min_size=1, max_size=4))
def test_plain_paragraphs_take_the_fast_path_and_agree(paragraphs: list[tuple[str, str]]) -> None:
    from connectors.markdown import _plain_comment

    html = '<div class="zd-comment" dir="auto">' + "".join(f'{gap}<p dir="auto">{text}</p>' for gap, text in paragraphs) + "</div>"
    fast = _plain_comment(html)
    assert fast is not None and fast == _reference(html)
