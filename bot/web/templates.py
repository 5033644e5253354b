"""The admin page's Jinja2 templates (autoescaped; no script anywhere: plain forms and links).

Kept in a Python module rather than ``.html`` files so that a wheel install (the container image)
carries them without package-data configuration.
"""

from __future__ import annotations

from datetime import datetime

from jinja2 import DictLoader, Environment, select_autoescape

from bot.health.gaps import reason_label

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{{ title }} · helpdesk-bot admin</title>
<style>
  :root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --accent:#1d4ed8; --bad:#b91c1c; --ok:#047857; --warn:#b45309; }
  * { box-sizing: border-box; }
  body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:#f9fafb; }
  header { display:flex; align-items:center; gap:1.5rem; padding:.75rem 1.5rem; background:#111827; color:#fff; }
  header .brand { font-weight:700; letter-spacing:.02em; }
  header nav { display:flex; gap:1rem; align-items:center; flex:1; }
  header nav a { color:#d1d5db; text-decoration:none; padding:.25rem 0; border-bottom:2px solid transparent; }
  header nav a.active, header nav a:hover { color:#fff; border-bottom-color:#60a5fa; }
  header form { margin-left:auto; }
  main { padding:1.25rem 1.5rem 3rem; max-width:1400px; }
  h1 { font-size:1.35rem; margin:.25rem 0 1rem; }
  h2 { font-size:1.05rem; margin:2rem 0 .5rem; }
  p.hint { color:var(--muted); margin:.25rem 0 1rem; }
  table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); }
  th, td { text-align:left; vertical-align:top; padding:.5rem .6rem; border-bottom:1px solid var(--line); }
  th { background:#f3f4f6; font-weight:600; font-size:.8rem; text-transform:uppercase; letter-spacing:.03em; color:#374151; }
  td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
  .status-ok { color:var(--ok); font-weight:600; } .status-failed { color:var(--bad); font-weight:600; }
  .status-running { color:var(--warn); font-weight:600; } .muted { color:var(--muted); }
  .error { color:var(--bad); font-family: ui-monospace, monospace; font-size:.8rem; max-width:28rem; word-break:break-word; }
  .flash { padding:.6rem .9rem; border-radius:6px; margin:0 0 1rem; }
  .flash.ok { background:#ecfdf5; border:1px solid #a7f3d0; } .flash.bad { background:#fef2f2; border:1px solid #fecaca; }
  button { font:inherit; cursor:pointer; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; padding:.3rem .75rem; }
  button.secondary { background:transparent; color:#e5e7eb; border-color:#4b5563; }
  form.inline { display:inline-flex; gap:.5rem; align-items:center; margin:0; }
  label.small { font-size:.8rem; color:var(--muted); display:inline-flex; gap:.25rem; align-items:center; }
  .pill { display:inline-block; padding:0 .45rem; border-radius:999px; font-size:.75rem; background:#eef2ff; color:#3730a3; }
  .pill.bad { background:#fef2f2; color:var(--bad); } .pill.ok { background:#ecfdf5; color:var(--ok); }
  details summary { cursor:pointer; color:var(--accent); }
  .q { max-width:30rem; white-space:pre-wrap; word-break:break-word; }
  .answer { white-space:pre-wrap; max-width:36rem; color:#374151; }
  .login { max-width:26rem; margin:4rem auto; background:#fff; border:1px solid var(--line); border-radius:10px; padding:1.5rem 1.75rem; }
  .login input[type=password] { width:100%; padding:.5rem; font:inherit; border:1px solid #d1d5db; border-radius:6px; margin:.35rem 0 1rem; }
  .cards { display:flex; gap:1rem; margin-bottom:1rem; flex-wrap:wrap; }
  .card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.6rem 1rem; min-width:10rem; }
  .card b { display:block; font-size:1.3rem; }
</style>
</head>
<body>
<header>
  <span class="brand">helpdesk-bot</span>
  {% if csrf %}
  <nav aria-label="Admin sections">
    <a href="/admin" class="{{ 'active' if page == 'sources' }}">Sources</a>
    <a href="/admin/questions" class="{{ 'active' if page == 'questions' }}">Questions</a>
    <a href="/admin/gaps" class="{{ 'active' if page == 'gaps' }}">Knowledge gaps</a>
    <a href="/admin/health" class="{{ 'active' if page == 'health' }}">Knowledge health</a>
    <a href="/admin/drafts" class="{{ 'active' if page == 'drafts' }}">Drafts</a>
    <form method="post" action="/admin/logout" class="inline">
      <input type="hidden" name="csrf" value="{{ csrf }}">
      <button type="submit" class="secondary">Log out</button>
    </form>
  </nav>
  {% endif %}
</header>
<main>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

LOGIN = """{% extends "base.html" %}
{% block content %}
<div class="login">
  <h1>Admin sign-in</h1>
  {% if error %}<p class="flash bad" role="alert">{{ error }}</p>{% endif %}
  <form method="post" action="/admin/login">
    <input type="hidden" name="csrf" value="{{ login_csrf }}">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Sign in</button>
  </form>
  <p class="hint">The token is the value of <code>HELPDESK_ADMIN_TOKEN</code>.</p>
</div>
{% endblock %}
"""

SOURCES = """{% extends "base.html" %}
{% block content %}
<h1>Sources</h1>
{% if flash %}<p class="flash ok" role="status">{{ flash }}</p>{% endif %}
{% if status_error %}<p class="flash bad" role="alert">Source status is unavailable: {{ status_error }}</p>{% endif %}
<p class="hint">Lag is the time since a source's last successful sync. "Resync" asks the scheduler to sync the
source now (it polls for requests every few seconds); "full" ignores the checkpoint and re-reads everything.</p>
<table id="sources">
  <thead><tr><th>Source</th><th>Type</th><th>Schedule</th><th>Last run</th><th>Status</th>
  <th class="num">Documents</th><th class="num">Lag</th><th>Last error</th><th></th></tr></thead>
  <tbody>
  {% for s in sources %}
  <tr data-source="{{ s.name }}">
    <td><strong>{{ s.name }}</strong></td>
    <td>{{ s.type }}</td>
    <td class="muted">{{ s.schedule }}</td>
    <td>{{ s.last_run | when }}</td>
    <td class="status-{{ s.last_status or 'none' }}">{{ s.last_status or "never run" }}</td>
    <td class="num">{{ s.docs }}</td>
    <td class="num">{{ s.lag }}</td>
    <td class="error">{{ (s.last_error or "") | truncate(300) }}</td>
    <td>
      <form method="post" action="/admin/sources/{{ s.name | urlencode }}/resync" class="inline">
        <input type="hidden" name="csrf" value="{{ csrf }}">
        <label class="small"><input type="checkbox" name="full" value="1"> full</label>
        <button type="submit" aria-label="Resync {{ s.name }}">Resync</button>
      </form>
    </td>
  </tr>
  {% else %}
  <tr><td colspan="9" class="muted">No sources are configured (HELPDESK_SOURCES_FILE, HELPDESK_FILES_DIR, HELPDESK_SAMPLE_KB).</td></tr>
  {% endfor %}
  </tbody>
</table>

<h2>Resync requests</h2>
<table id="resync-requests">
  <thead><tr><th class="num">#</th><th>Source</th><th>Full</th><th>Requested by</th><th>Requested</th><th>State</th></tr></thead>
  <tbody>
  {% for r in requests %}
  <tr data-request="{{ r.id }}">
    <td class="num">{{ r.id }}</td><td>{{ r.source }}</td><td>{{ "yes" if r.full else "no" }}</td>
    <td>{{ r.requested_by or "-" }}</td><td>{{ r.requested_at | when }}</td>
    <td>{% if r.taken_at %}<span class="pill ok">taken {{ r.taken_at | when }}</span>{% else %}<span class="pill">pending</span>{% endif %}</td>
  </tr>
  {% else %}
  <tr><td colspan="6" class="muted">No resync requests yet.</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""

QUESTIONS = """{% extends "base.html" %}
{% block content %}
<h1>Recent questions</h1>
{% if not log_on %}
<p class="flash bad">The questions log is off (HELPDESK_QUESTION_LOG_DAYS=0): nothing is stored.</p>
{% else %}
<div class="cards">
  <div class="card"><b>{{ totals.questions }}</b>questions in the last {{ days }} days</div>
  <div class="card"><b>{{ totals.abstained }}</b>abstained ({{ "%.0f" | format(100 * totals.abstained / totals.questions if totals.questions else 0) }}%)</div>
</div>
<p class="hint">Newest first, at most {{ limit }}. Questions are kept {{ days }} days.</p>
{% endif %}
<table id="questions">
  <thead><tr><th>Asked</th><th>Surface</th><th>Audience</th><th>Question</th><th>Answer</th>
  <th class="num">Confidence</th><th>Feedback</th></tr></thead>
  <tbody>
  {% for q in questions %}
  <tr data-question="{{ q.id }}">
    <td>{{ q.created_at | when }}</td><td>{{ q.surface }}</td><td>{{ q.audience }}</td>
    <td class="q">{{ q.question }}</td>
    <td>{% if q.abstained %}<span class="pill bad">abstained</span> <span class="muted reason">{{ q.reason | reason }}</span>{% elif q.reason == "composer_fallback" %}<span class="pill">{{ q.reason | reason }}</span>{% endif %}
      <details><summary>{{ q.answer | truncate(90) }}</summary><div class="answer">{{ q.answer }}</div>
      {% if q.citations %}<ol>{% for c in q.citations %}<li>{% if c.url | safe_url %}<a href="{{ c.url | safe_url }}" rel="noreferrer noopener">{{ c.title }}</a>{% else %}{{ c.title }}{% endif %}</li>{% endfor %}</ol>{% endif %}
      </details></td>
    <td class="num">{{ "%.2f" | format(q.confidence) }}</td>
    <td>{% if q.helpful or q.not_helpful %}<span class="pill ok">{{ q.helpful }} helpful</span>
      <span class="pill bad">{{ q.not_helpful }} not helpful</span>{% else %}<span class="muted">-</span>{% endif %}</td>
  </tr>
  {% else %}
  <tr><td colspan="7" class="muted">No questions yet.</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""

GAPS = """{% extends "base.html" %}
{% block content %}
<h1>Knowledge gaps</h1>
<p class="hint">Questions of the last {{ days }} days the bot abstained on or whose answer was voted "not helpful",
grouped by topic (cosine similarity at least {{ threshold }}) and by why they went unanswered, with the source that
came closest and links to where they were asked. Fix the biggest groups first.</p>
{% if error %}<p class="flash bad" role="alert">{{ error }}</p>{% endif %}
<table id="gaps">
  <thead><tr><th class="num">Asked</th><th>Question (latest wording)</th><th>Why unanswered</th>
  <th>Closest source</th><th>Last asked</th><th>Where</th></tr></thead>
  <tbody>
  {% for g in gaps %}
  <tr data-reason="{{ g.reason }}">
    <td class="num"><strong>{{ g.count }}</strong></td>
    <td class="q">{{ g.representative }}
      {% if g.count > 1 %}<details><summary>{{ g.count - 1 }} similar</summary><ul>
      {% for q in g.questions[1:] %}<li>{{ q.question }}</li>{% endfor %}</ul></details>{% endif %}
      {% if g.topic_size > g.count %}<div class="muted">{{ g.topic_size - g.count }} more on this topic, for another reason</div>{% endif %}</td>
    <td><span class="pill {{ 'bad' if g.abstained else '' }} reason">{{ g.label }}</span>
      <div class="muted">{{ g.hint }}</div></td>
    <td class="closest">{% set c = g.closest %}{% if c %}
      {% if c.url | safe_url %}<a href="{{ c.url | safe_url }}" rel="noreferrer noopener">{{ c.title }}</a>{% else %}{{ c.title }}{% endif %}
      {% if c.section %}<span class="muted"> › {{ c.section }}</span>{% endif %}
      <div class="muted">score {{ "%.2f" | format(c.score or 0) }}{% if c.audience == "internal" %}, internal{% endif %}</div>
      {% else %}<span class="muted">none</span>{% endif %}</td>
    <td>{{ g.last_asked | when }}</td>
    <td class="where">{{ g.surfaces | join(", ") }}
      {% for surface, link in g.links %}<div><a href="{{ link | safe_url }}" rel="noreferrer noopener">{{ "thread" if surface == "slack" else "ticket" if surface == "helpdesk" else surface }} {{ loop.index }}</a></div>{% endfor %}</td>
  </tr>
  {% else %}
  <tr><td colspan="6" class="muted">No knowledge gaps: every logged question was answered without complaint.</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""

HEALTH = """{% extends "base.html" %}
{% macro link(url, text) %}{% if url | safe_url %}<a href="{{ url | safe_url }}" rel="noreferrer noopener">{{ text }}</a>{% else %}{{ text }}{% endif %}{% endmacro %}
{% block content %}
<h1>Knowledge health</h1>
<p class="hint">Public articles that recent solved tickets' replies contradict (numbers with units, menu paths, plan
names), articles cited in answers voted "not helpful", and old articles recent tickets keep citing.</p>
{% if flash %}<p class="flash ok" role="status">{{ flash }}</p>{% endif %}
{% if error %}<p class="flash bad" role="alert">{{ error }}</p>{% endif %}
{% if not on %}<p class="flash bad">Knowledge health is not available in this process.</p>{% else %}
<form method="post" action="/admin/health/check" class="inline">
  <input type="hidden" name="csrf" value="{{ csrf }}">
  <button type="submit" {{ "disabled" if running }}>{{ "Checking…" if running else "Check now" }}</button>
</form>
{% endif %}
{% if report %}
<div class="cards">
  <div class="card"><b>{{ report.contradictions | length }}</b>contradictions</div>
  <div class="card"><b>{{ report.not_helpful | length }}</b>not helpful</div>
  <div class="card"><b>{{ report.stale | length }}</b>stale</div>
  <div class="card"><b>{{ report.articles }}</b>articles, {{ report.tickets }} recent tickets compared</div>
</div>
<p class="hint">Report of {{ stored_at | when }} ({{ trigger or "unknown" }}).</p>
<h2>Contradictions</h2>
<table id="contradictions">
  <thead><tr><th>Article</th><th>The article says</th><th>Recent replies say</th><th>Evidence</th></tr></thead>
  <tbody>
  {% for c in report.contradictions %}
  <tr data-kind="{{ c.kind }}">
    <td>{{ link(c.article.url, c.article.title) }}{% if c.section %}<div class="muted">› {{ c.section }}</div>{% endif %}</td>
    <td class="q"><strong>{{ c.article_value }}</strong><div class="muted">{{ c.article_excerpt }}</div></td>
    <td><strong>{{ c.reply_value }}</strong> <span class="pill">{{ c.kind | replace("_", " ") }}</span></td>
    <td><ul>{% for t in c.tickets %}<li>{{ link(t.url, t.title) }} <span class="muted">({{ t.updated_at | when }}, similarity {{ "%.2f" | format(t.similarity) }})</span>
      <div class="answer">{{ t.excerpt }}</div></li>{% endfor %}</ul></td>
  </tr>
  {% else %}
  <tr><td colspan="4" class="muted">No contradictions found.</td></tr>
  {% endfor %}
  </tbody>
</table>
<h2>Cited in answers voted not helpful</h2>
<table id="not-helpful">
  <thead><tr><th>Article</th><th class="num">Not helpful</th><th class="num">Helpful</th><th>Questions</th></tr></thead>
  <tbody>
  {% for n in report.not_helpful %}
  <tr><td>{{ link(n.article.url, n.article.title) }}</td><td class="num">{{ n.not_helpful }}</td><td class="num">{{ n.helpful }}</td>
    <td><ul>{% for q in n.questions %}<li>{{ link(q.link, q.question) }}</li>{% endfor %}</ul></td></tr>
  {% else %}
  <tr><td colspan="4" class="muted">No article is cited mostly in answers voted down.</td></tr>
  {% endfor %}
  </tbody>
</table>
<h2>Old articles recent tickets keep citing</h2>
<table id="stale">
  <thead><tr><th>Article</th><th>Last updated</th><th>Recent tickets</th></tr></thead>
  <tbody>
  {% for st in report.stale %}
  <tr><td>{{ link(st.article.url, st.article.title) }}</td><td>{{ st.article.updated_at | when }} ({{ st.age_days }} days)</td>
    <td><ul>{% for t in st.tickets %}<li>{{ link(t.url, t.title) }} <span class="muted">{{ t.how }}</span></li>{% endfor %}</ul></td></tr>
  {% else %}
  <tr><td colspan="3" class="muted">No old article is cited by recent tickets.</td></tr>
  {% endfor %}
  </tbody>
</table>
{% elif on %}
<p class="muted">No report yet: press "Check now", or run <code>helpdesk-bot health</code>.</p>
{% endif %}
{% endblock %}
"""

DRAFTS = """{% extends "base.html" %}
{% block content %}
<h1>Helpdesk drafts</h1>
<p class="hint">Drafts written into helpdesk tickets as internal notes, newest first.</p>
<table id="drafts">
  <thead><tr><th>When</th><th>Helpdesk</th><th>Ticket</th><th>Note</th><th class="num">Confidence</th><th>Kind</th></tr></thead>
  <tbody>
  {% for d in drafts %}
  <tr>
    <td>{{ d.created_at | when }}</td><td>{{ d.provider }}</td><td>{{ d.ticket_id }}</td>
    <td>{% if d.note_id %}posted ({{ d.note_id }}){% else %}<span class="muted">not posted</span>{% endif %}</td>
    <td class="num">{{ "%.2f" | format(d.confidence) }}</td>
    <td>{% if d.abstained %}<span class="pill bad">no confident source</span>{% if d.reason %} <span class="muted reason">{{ d.reason | reason }}</span>{% endif %}{% else %}<span class="pill ok">cited answer</span>{% endif %}</td>
  </tr>
  {% else %}
  <tr><td colspan="6" class="muted">No drafts yet.</td></tr>
  {% endfor %}
  </tbody>
</table>
{% endblock %}
"""

MESSAGE = """{% extends "base.html" %}
{% block content %}
<h1>{{ title }}</h1>
<p>{{ message }}</p>
{% if csrf %}<p><a href="/admin">Back to the admin page</a></p>{% endif %}
{% endblock %}
"""


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def safe_url(value: str | None) -> str:
    """Only http(s) links: a document's URL is data from a source, never a ``javascript:`` link."""
    return value if isinstance(value, str) and value.lower().startswith(("https://", "http://")) else ""


def environment() -> Environment:
    env = Environment(
        loader=DictLoader({"base.html": BASE, "login.html": LOGIN, "sources.html": SOURCES, "questions.html": QUESTIONS,
                           "gaps.html": GAPS, "health.html": HEALTH, "drafts.html": DRAFTS, "message.html": MESSAGE}),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["safe_url"] = safe_url
    env.filters["reason"] = lambda value: reason_label(value) if value else "reason not recorded"
    return env
