"""Cards end to end: @card renders each task's HTML report when the attempt ends,
stored with it (local and S3), read back by the client and by ``card view|get``,
and checked in real headless Chromium (tools/check_site.py) for console errors and
requests off the machine."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import describe, flow_env, run_flow, run_id_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import check_site  # noqa: E402

from metaflow_core.exceptions import CardError  # noqa: E402
from metaflow_core.plugins.cards.components import Markdown, Table, markdown_html  # noqa: E402


@pytest.fixture(scope="module")
def card_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cards")
    result = run_flow("card_flow.py", "run", cwd=root)
    assert result.returncode != 0, describe(result)
    return root, result


def cards_of(open_client, root, result, step):
    client = open_client(root)
    return client.Run("CardFlow/%s" % run_id_of(result))[step].task.cards


def test_the_default_card_shows_components_parameters_artifacts_and_graph(card_run, open_client):
    root, result = card_run
    [card] = cards_of(open_client, root, result, "start")
    html = card.html
    assert (card.type, card.id) == ("default", None)
    assert "<h1>Report</h1>" in html and "<strong>bold</strong>" in html
    assert "<td class=\"mf-num\">2.3</td>" in html, "digits=2 rounds 2.34567"
    assert 'class="mf-na">NA' in html
    assert "data:image/png;base64," in html
    assert "hello &lt;world&gt;" in html, "parameters are shown, escaped"
    assert "[1.23456, 2.5, 3]" in html, "the artifact's preview"
    assert "not a component" not in html and "not str" in html
    assert "Artifact could not be rendered: The task has no artifact missing to show." in html
    assert "<svg" in html and "<title>start: ok</title>" in html
    assert "<title>fan: pending</title>" in html, "the graph as it was when start ended"
    assert 'stroke="#3b5bdb"' in html, "the card's own step is outlined"
    # 40 rows: pages of 15 switched by CSS alone
    assert html.count('class="mf-page-radio"') == 3
    assert "<script" not in html


def test_a_failed_task_has_its_card_with_the_error(card_run, open_client):
    root, result = card_run
    [card] = cards_of(open_client, root, result, "end")
    assert "the end is broken" in card.html
    assert 'class="badge failed"' in card.html
    assert "before_error" in card.html, "what the step assigned before failing is listed"
    assert "<title>fan: ok (3/3 done)</title>" in card.html
    assert "<title>end: failed</title>" in card.html


def test_a_blank_card_with_an_id(card_run, open_client):
    root, result = card_run
    client = open_client(root)
    task = client.Run("CardFlow/%s" % run_id_of(result))["join"].task
    [card] = task.cards
    assert (card.type, card.id) == ("blank", "summary")
    assert "Total: 13.46912" in card.html
    assert "dropped" not in card.html and "Artifacts" not in card.html
    assert "no card with id 'other'" in task.stderr
    with pytest.raises(CardError, match="no card with id 'nope'. Card ids there: summary"):
        task.card_list("nope")
    from metaflow_core.cards import get_cards

    assert [c.id for c in get_cards(task.pathspec)] == ["summary"]


def test_a_step_without_card_has_none(card_run, open_client):
    root, result = card_run
    assert cards_of(open_client, root, result, "fan") == []


def test_card_get_and_view_on_the_command_line(card_run, tmp_path):
    root, result = card_run
    run_id = run_id_of(result)
    out = tmp_path / "start.html"
    got = run_flow("card_flow.py", "card", "get", "start", str(out), cwd=root)
    assert got.returncode == 0, describe(got)
    assert "Wrote the card of CardFlow/%s/start/1 to %s" % (run_id, out) in got.stderr
    assert "<h1>Report</h1>" in out.read_text()

    by_path = run_flow("card_flow.py", "card", "get", "%s/join/5" % run_id, "--id", "summary",
                       cwd=root)
    assert by_path.returncode == 0, describe(by_path)
    assert (root / ("CardFlow_%s_join_5_summary.html" % run_id)).is_file()

    # CI set: no browser is opened, whatever the display.
    viewed = run_flow("card_flow.py", "card", "view", "end", "--run-id", run_id, cwd=root,
                      env={"CI": "true"})
    assert viewed.returncode == 0, describe(viewed)
    path = re.search(r"is in (\S+\.html) \(not opened", viewed.stderr).group(1)
    assert "the end is broken" in Path(path).read_text()

    missing = run_flow("card_flow.py", "card", "get", "fan", cwd=root)
    assert missing.returncode != 0
    assert "has 3 tasks; showing the card of task 2" in missing.stderr
    assert "has no card: its step has no @card" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_with_card_gives_every_step_one(tmp_path, open_client):
    result = run_flow("linear_flow.py", "run", "--with", "card", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    client = open_client(tmp_path)
    run = client.Run("LinearFlow/%s" % run_id_of(result))
    assert all(len(step.task.cards) == 1 for step in run)


def test_a_card_that_takes_too_long_is_an_error_card_and_the_task_succeeds(tmp_path, open_client):
    result = run_flow("card_timeout_flow.py", "run", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert "took longer than its timeout of 1 seconds" in result.stderr
    client = open_client(tmp_path)
    task = client.Run("CardTimeoutFlow/%s" % run_id_of(result))["start"].task
    assert task.successful
    assert "took longer than its timeout of 1 seconds" in task.cards[0].html


def test_cards_of_an_s3_run(moto_server, tmp_path, open_client):
    result = run_flow("card_flow.py", "--datastore", "s3", "run", cwd=tmp_path)
    assert "Task is starting" in result.stderr, describe(result)
    got = run_flow("card_flow.py", "--datastore", "s3", "card", "get", "start", "card.html",
                   cwd=tmp_path)
    assert got.returncode == 0, describe(got)
    assert "<h1>Report</h1>" in (tmp_path / "card.html").read_text()
    assert not list((tmp_path / ".metaflow").rglob("CardFlow/data/*/*")), \
        "the card's blob is in S3 only"


@pytest.mark.parametrize("flag", [{"type": "fancy"}, {"id": "no spaces"}, {"timeout": 0}])
def test_bad_card_attributes_stop_the_run_before_it_starts(tmp_path, flag):
    spec = ",".join("%s=%s" % (k, '"%s"' % v if isinstance(v, str) else v) for k, v in flag.items())
    result = run_flow("linear_flow.py", "run", "--with", "card:" + spec, cwd=tmp_path)
    assert result.returncode != 0
    assert "@card on step" in result.stderr and "Traceback" not in result.stderr


def test_markdown_escapes_html_and_links_only_to_safe_urls():
    html = markdown_html('<script>x</script> [a](javascript:alert(1)) [b](https://x.org/?q=1&r=2) '
                         '[c](https://x.org/"onclick="y)')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="#">a</a>' in html and '<a href="https://x.org/?q=1&amp;r=2">b</a>' in html
    assert '<a href="https://x.org/&quot;onclick=&quot;y">c</a>' in html


def test_a_table_from_a_pandas_data_frame():
    import pandas
    frame = pandas.DataFrame({"name": ["x", "y"], "value": [1.5, 2.25]})
    html = Table(frame).render(None)
    assert "<th class=\"mf-text\">name</th>" in html and ">2.25</td>" in html
    assert Markdown("*hi*").render(None) == '<div class="mf-markdown"><p><em>hi</em></p></div>'


def test_the_card_opens_in_chromium_with_no_console_errors_and_no_network(card_run, open_client,
                                                                             tmp_path):
    root, result = card_run
    for step in ("start", "end", "join"):
        page = tmp_path / ("%s.html" % step)
        page.write_text(cards_of(open_client, root, result, step)[0].html)
        shot = tmp_path / ("%s.png" % step)
        assert check_site.check_page(page, screenshot=shot) == []
        assert shot.read_bytes().startswith(b"\x89PNG")


def test_check_page_reports_a_request_off_the_machine(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="https://example.invalid/x.png" alt=""></body></html>')
    problems = check_site.check_page(page)
    assert "request off the machine (blocked): https://example.invalid/x.png" in problems


R_CARD_FLOW = """
library(metaflow)
library(ggplot2)
flow <- metaflow("RCardFlow") %>%
  step(step = "start", card(), next_step = "end", r_function = function(self) {
    self$df <- data.frame(x = 1:5, y = c(2.5, 3.25, 1, 4, 5))
    card_append(
      card_markdown("# From R"),
      card_table(self$df),
      card_plot(ggplot(self$df, aes(x, y)) + geom_line()),
      card_plot({ plot(self$df); abline(h = 3) }, format = "svg")
    )
  }) %>%
  step(step = "end")
run(flow)
"""


def test_an_r_steps_card_with_plots_opens_in_chromium(tmp_path, open_client):
    rscript = shutil.which("Rscript")
    assert rscript, "this test needs R: Rscript is not on the PATH"
    (tmp_path / "flow.R").write_text(R_CARD_FLOW)
    result = subprocess.run([rscript, "flow.R", "run"], cwd=str(tmp_path), env=flow_env(tmp_path),
                            stdin=subprocess.DEVNULL, capture_output=True, encoding="utf-8",
                            errors="replace", timeout=180)
    assert result.returncode == 0, describe(result)
    client = open_client(tmp_path)
    [card] = client.Run("RCardFlow/%s" % run_id_of(result))["start"].task.cards
    assert "<h1>From R</h1>" in card.html and ">3.25</td>" in card.html
    assert "data:image/png;base64," in card.html and "data:image/svg+xml;base64," in card.html
    page = tmp_path / "card.html"
    page.write_text(card.html)
    assert check_site.check_page(page) == []
