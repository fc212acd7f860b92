"""The public survey form: plain HTML that works without JavaScript; every value is escaped."""

from __future__ import annotations

from jinja2 import Environment, select_autoescape

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

PAGE = _env.from_string(
    """<!doctype html>
<html lang="{{ language or 'en' }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="stylesheet" href="/static/survey.css"></head>
<body>
<h1>{{ title }}</h1>
{% if message %}<p role="status">{{ message }}</p>{% endif %}
{% if survey %}
<form method="post" action="{{ action }}">
<fieldset><legend>{{ survey.question }}</legend>
{% for value in range(survey.scale_min, survey.scale_max + 1) %}
<label class="score"><input type="radio" name="score" value="{{ value }}" required> {{ value }}</label>
{% endfor %}
</fieldset>
<p><label for="comment">{{ survey.comment_prompt }}</label><br>
<textarea id="comment" name="comment" maxlength="5000"></textarea></p>
<button type="submit">Send</button>
</form>
{% endif %}
</body></html>"""
)


def render(
    title: str,
    *,
    survey: object = None,
    action: str = "",
    message: str = "",
    language: str | None = None,
) -> str:
    return PAGE.render(
        title=title, survey=survey, action=action, message=message, language=language
    )
