"""The server (`tenure serve`) and its API keys (`tenure keys`)."""

from typing import Annotated, Any

import typer

from tenure.cli.common import (
    AppDbOption,
    DbOption,
    Group,
    err,
    friendly_errors,
    open_store,
    open_writer,
    out,
    write,
)

# How long a thread running Python code keeps the interpreter lock while another waits for it
# (CPython's default is 5 ms). A request answered from the cache needs the lock a few times, on
# the event loop and on a pool thread; while a computation runs Python code (building a query,
# converting its result) each of those waits could take the whole default interval, and under
# load the cached answers' p95 went from a few ms to 300 ms and more (benchmarks/serve_load.py).
SWITCH_INTERVAL_SECONDS = 0.001

keys_app = typer.Typer(cls=Group, help="API keys for the REST API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")


@friendly_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    app_db: Annotated[
        str | None,
        typer.Option(
            "--app-db", help="App store URL (default $TENURE_APP_DB or sqlite:///tenure-app.db)."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the public survey forms, and run the
    automations every minute."""
    import contextlib
    import sys

    import uvicorn

    from tenure.api.warming import Warming
    from tenure.cli.remote import announced

    address = f"http://{host}:{port}"
    local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
    with contextlib.ExitStack() as held:
        token = held.enter_context(announced(db, local))

        def build() -> Any:
            """The application, built on a thread while the socket already answers."""
            from tenure.api.app import create_app
            from tenure.cli.remote import add_route
            from tenure.live import LiveWorkspace

            ws = held.enter_context(open_writer(db))
            store = held.enter_context(open_store(app_db))
            live = LiveWorkspace(ws)
            api = create_app(live, store, base_url=address, schedule_seconds=60)
            add_route(api, live, store, token)
            err().print(f"serving {ws.url} at {address} (API docs at /docs)", highlight=False)
            return api

        def stop(_: BaseException) -> None:
            server.should_exit = True

        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        warming = Warming(build, on_failure=stop)
        server = uvicorn.Server(uvicorn.Config(warming, host=host, port=port))
        server.run()
        if warming.error is not None:
            raise warming.error


@keys_app.command("create")
@friendly_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", help="viewer, editor or admin, or ingest (only sends product events)."
        ),
    ] = "viewer",
    app_db: AppDbOption = None,
) -> None:
    """Create an API key; it is shown once."""
    from tenure.app.keys import create_key

    with open_store(app_db) as store:
        key = create_key(store, name, role)
    write(key + "\n")


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The name given at creation.")],
    app_db: AppDbOption = None,
) -> None:
    """Revoke every active key of that name."""
    from tenure.app.keys import revoke_key

    with open_store(app_db) as store:
        revoked = revoke_key(store, name)
    out().print(f"revoked {revoked} key(s)", highlight=False)
