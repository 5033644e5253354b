"""HTML to Markdown, the one conversion every connector uses."""

from __future__ import annotations

import itertools

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
