"""The web dashboard: server-rendered pages (Jinja2, autoescaped) whose charts (Apache ECharts,
vendored) and tables read the same JSON API as everyone else."""
