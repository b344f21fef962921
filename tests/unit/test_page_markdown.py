"""Card detail as the pages show it: Markdown rendered, never raw HTML or script links."""

from __future__ import annotations

from cds_service.pages.render import markdown


def test_markdown_renders_emphasis_quotes_and_lists() -> None:
    html = markdown("**Coverage**\n\n> quoted *policy*\n\n- one\n- two")
    assert "<strong>Coverage</strong>" in html
    assert "<blockquote>" in html and "<em>policy</em>" in html
    assert html.count("<li>") == 2


def test_raw_html_in_detail_is_shown_as_text() -> None:
    html = markdown('<script>alert(1)</script> <img src=x onerror="alert(2)">')
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_script_links_are_not_links() -> None:
    html = markdown("[open](javascript:alert(1)) [policy](https://payer.example/p)")
    assert 'href="javascript' not in html
    assert 'href="https://payer.example/p"' in html
