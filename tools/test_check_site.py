"""tools/check_site.py against tiny sites, in real headless Chromium.

There is no skip without Chromium: check_site's own error says how to get it.
"""

import check_site

CLEAN_PAGE = """<!DOCTYPE html>
<html><head><title>clean</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css"></head>
<body><p>Fine.</p><a href="sub/">sub</a> <a href="https://example.org/">away</a>
<script>console.log("only a log line"); console.warn("and a warning");</script>
</body></html>
"""

BROKEN_PAGE = """<!DOCTYPE html>
<html><head><title>broken</title><link rel="icon" href="data:,">
<script src="https://cdn.example.invalid/lib.js"></script></head>
<body><img src="missing.png" alt=""><a href="nowhere.html">nowhere</a>
<script>console.error("something broke"); undefinedFunction();</script>
</body></html>
"""


def write_site(root, pages):
    for path, text in pages.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_a_clean_site_has_no_problems(tmp_path):
    site = write_site(tmp_path, {
        "index.html": CLEAN_PAGE,
        "style.css": "p { color: green; }",
        "sub/index.html": CLEAN_PAGE.replace("style.css", "../style.css").replace("sub/", "../"),
    })
    assert check_site.check_site(site) == {"index.html": [], "sub/index.html": []}


def test_every_kind_of_problem_is_reported(tmp_path):
    site = write_site(tmp_path, {"index.html": CLEAN_PAGE, "style.css": "", "sub/index.html": CLEAN_PAGE,
                                 "broken.html": BROKEN_PAGE})
    problems = check_site.check_site(site)
    broken = "\n".join(problems["broken.html"])
    assert "console.error: something broke" in broken
    assert "uncaught exception: ReferenceError: undefinedFunction is not defined" in broken
    assert "HTTP 404:" in broken and "/missing.png" in broken
    assert "request off the machine (blocked): https://cdn.example.invalid/lib.js" in broken
    assert "broken link: /nowhere.html" in broken
    assert problems["index.html"] == []


def test_main_fails_on_a_problem_and_names_the_page(tmp_path, capsys):
    site = write_site(tmp_path, {"index.html": BROKEN_PAGE})
    assert check_site.main([str(site)]) == 1
    out = capsys.readouterr().out
    assert "FAIL index.html" in out
    assert "check_site: 1 of 1 pages have problems" in out


def test_main_passes_a_clean_site(tmp_path, capsys):
    site = write_site(tmp_path, {"index.html": CLEAN_PAGE.replace('<a href="sub/">sub</a>', ""), "style.css": ""})
    assert check_site.main([str(site)]) == 0
    assert "check_site: 1 pages loaded in Chromium" in capsys.readouterr().out


def test_a_missing_chromium_is_an_error_that_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    site = write_site(tmp_path / "site", {"index.html": CLEAN_PAGE})
    assert check_site.main([str(site)]) == 2
    assert "install Debian's `chromium` package" in capsys.readouterr().err
