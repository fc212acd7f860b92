"""The Python API: a Workspace is one company's data on one engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import ibis.expr.types as ir
import pandas as pd

from tenure.data import loader
from tenure.data.contract import CONTRACTS, DERIVED, contract_for
from tenure.data.currencies import ISO_4217
from tenure.data.mapping import Mapping, read_mapping
from tenure.engine.connection import default_url, open_backend
from tenure.errors import TenureError
from tenure.metrics import compiled
from tenure.metrics.definitions import Definitions, definition_defaults
from tenure.metrics.policy import RevenuePolicy, preset_settings, setting_defaults

if TYPE_CHECKING:
    from tenure.app.tables import AppTables

T = TypeVar("T")
DEFAULT_SETTINGS = {
    "reporting_currency": "USD",
    "timezone": "UTC",
    **setting_defaults(),
    **definition_defaults(),
}


EVERYTHING = "*"  # in `touched`: a write that may change anything (a setting, ...)


class Workspace:
    """Tables, settings and loads of one company. Metrics and models are computed from it."""

    def __init__(self, backend: Any, url: str = "", *, read_only: bool = False) -> None:
        self.backend = backend
        self.url = url
        self.read_only = read_only
        self._settings: dict[str, str] | None = None
        # Ibis table handles (each costs a catalog look-up); a load through this workspace can
        # add attribute columns, so it clears them.
        self._tables: dict[str, ir.Table] = {}
        self.data_version = 0  # moves with every load through this workspace (cache keys)
        # Results derived from one data version (a fitted comment model, ...); a live workspace
        # shares one memo between its readers.
        self.memo: dict[Any, Any] = {}
        # The SQL of recent metric requests, valid across data versions and stores.
        self.compiled = compiled.SHARED
        # Run before the connection closes (a live workspace closes its readers' cursors).
        self.on_close: list[Callable[[], None]] = []
        # What a live workspace's cache needs to know: the tables a computation read (a set
        # while it is watched) and the tables a write changed (EVERYTHING for any write other
        # than a load: settings, models, ...).
        self.reads: set[str] | None = None
        self.touched: set[str] = set()

    # -- connection ---------------------------------------------------------------------------
    @property
    def is_embedded(self) -> bool:
        return getattr(self.backend, "name", "") == "duckdb"

    @property
    def duckdb(self) -> Any:
        """The raw DuckDB connection of the embedded store (loading writes through it)."""
        if not self.is_embedded:
            raise TenureError(
                f"loading writes to the embedded DuckDB store; {self.url!r} is read through Ibis. "
                "Load into duckdb:///..., then export to Parquet for the distributed engine"
            )
        return self.backend.con

    def close(self) -> None:
        for callback in self.on_close:
            callback()
        self.on_close.clear()
        self.backend.disconnect()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- tables -------------------------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self.backend.list_tables()

    def note_read(self, name: str) -> None:
        """Record that the computation being watched reads `name` (see `reads`)."""
        if self.reads is not None:
            self.reads.add(name)

    def remembered(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, kept in the memo for this data version (a part of an answer that other
        answers share), with the tables it read: each reuse notes them again, so the answer
        that reuses it is renewed when they change."""
        entry = ("remembered", self.data_version, key)
        found: tuple[T, frozenset[str]] | None = self.memo.get(entry)
        if found is None:
            watching, self.reads = self.reads, set()
            try:
                value = compute()
            finally:
                read, self.reads = frozenset(self.reads or ()), watching
            found = self.memo[entry] = (value, read)
        for name in found[1]:
            self.note_read(name)
        return found[0]

    def table(self, name: str) -> ir.Table:
        """The Ibis table for a canonical table; an empty one of the right shape if not loaded."""
        self.note_read(name)
        if name not in self._tables:
            contract = contract_for(name)
            if not self.has_table(name):
                if not self.is_embedded:
                    raise TenureError(f"the table {name!r} is not loaded on {self.url!r}")
                loader.ensure_table(self.duckdb, contract, temporary=self.read_only)
            self._tables[name] = self.backend.table(name)
        return self._tables[name]

    def row_counts(self) -> dict[str, int]:
        present = set(self.backend.list_tables())
        return {
            name: int(self.backend.table(name).count().execute()) if name in present else 0
            for name in CONTRACTS
        }

    def loads(self) -> pd.DataFrame:
        """The load log: one row per load with its counts."""
        loader.ensure_bookkeeping(self.duckdb)
        result: pd.DataFrame = (
            self.backend.table(loader.LOADS_TABLE).order_by("loaded_at").to_pandas()
        )
        return result

    def export(self, folder: str | Path, *, partition_by: str | None = None) -> list[Path]:
        """Write every loaded table to `<folder>/<table>.parquet` (for pyspark:///folder); with
        `partition_by="month"`, the fact tables as Hive partitions by the month of their main
        timestamp (see `tenure.data.export`)."""
        from tenure.data.export import check_partitioning, write_table

        check_partitioning(partition_by)
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in [*CONTRACTS, *DERIVED]:  # with the attribute history, for point-in-time
            if self.has_table(name):
                path = target / f"{name}.parquet"
                write_table(self, name, path, partition_by)
                written.append(path)
        return written

    # -- settings -----------------------------------------------------------------------------
    def setting(self, key: str) -> str:
        if key not in DEFAULT_SETTINGS:
            raise TenureError(f"unknown setting {key!r}; valid: {', '.join(DEFAULT_SETTINGS)}")
        if not self.is_embedded:
            return DEFAULT_SETTINGS[key]
        if self._settings is None:
            self._settings = loader.read_settings(self.duckdb)
        return self._settings.get(key, DEFAULT_SETTINGS[key])

    def set_setting(self, key: str, value: str) -> None:
        self.setting(key)  # validates the key
        if key == "reporting_currency" and value.upper() not in ISO_4217:
            raise TenureError(f"{value!r} is not an ISO 4217 currency code")
        if key == "timezone":
            loader.check_timezone(value)
        if key.startswith("policy."):
            RevenuePolicy.from_settings({key: value})  # validates the value
        if key.startswith("definition."):
            Definitions.from_settings({key: value})
        value = value.upper() if key == "reporting_currency" else value
        # A vendor preset writes every policy setting; one set later overrides it alone.
        writes = preset_settings(value) if key == "policy.preset" else {key: value}
        for name, text in writes.items():
            loader.write_setting(self.duckdb, name, text)
        self.touched.add(EVERYTHING)
        self._settings = None
        if key == "timezone" or key.startswith("definition."):
            self.refresh_rollups()
        if key in ("timezone", "reporting_currency") or key.startswith("policy."):
            self.refresh_ledger()

    @property
    def reporting_currency(self) -> str:
        return self.setting("reporting_currency")

    @property
    def timezone(self) -> str:
        return self.setting("timezone")

    @property
    def policy(self) -> RevenuePolicy:
        """The revenue policy from the `policy.*` settings (defaults where unset)."""
        return RevenuePolicy.from_settings({k: self.setting(k) for k in setting_defaults()})

    @property
    def definitions(self) -> Definitions:
        """How engagement, voice and support metrics count, from the `definition.*` settings."""
        return Definitions.from_settings({k: self.setting(k) for k in definition_defaults()})

    # -- metrics ------------------------------------------------------------------------------
    def metrics(
        self,
        names: Sequence[str],
        *,
        grain: str = "month",
        start: dt.date | None = None,
        end: dt.date | None = None,
        by: Sequence[str] = (),
        where: str | None = None,
        policy: RevenuePolicy | None = None,
        definitions: Definitions | None = None,
    ) -> pd.DataFrame:
        """Metrics per period and segment: metric, period_start, segments, value, numerator,
        denominator (see `tenure.metrics.CATALOG`). `by` takes account attributes, and fact
        dimensions (page, feature, channel, survey, ...) for the metrics that have them."""
        from tenure.metrics.compute import compute

        return compute(
            self,
            names,
            grain=grain,
            start=start,
            end=end,
            by=by,
            where=where,
            policy=policy,
            definitions=definitions,
        )

    def drill(
        self,
        name: str,
        period: str,
        *,
        grain: str = "month",
        by: Sequence[str] = (),
        where: str | None = None,
        dimension: tuple[str, str] | None = None,
    ) -> pd.DataFrame:
        """The accounts behind one metric in one period ('2025-03', '2025-Q1', ...); with
        `dimension` (name, value), behind one value of a fact dimension (one feature)."""
        from tenure.metrics.compute import drill

        return drill(self, name, period, grain=grain, by=by, where=where, dimension=dimension)

    def stickiness(
        self,
        *,
        grain: str = "month",
        start: dt.date | None = None,
        end: dt.date | None = None,
        by: Sequence[str] = (),
        where: str | None = None,
        unit: str = "user",
    ) -> pd.DataFrame:
        """How many users (or accounts) were active on exactly k days of each period, k = 1 to
        the days in the period: period_start, segments, days_active, users (or accounts)."""
        from tenure.metrics.compute import make_query
        from tenure.metrics.lifecycle import check_unit, stickiness

        check_unit(unit)
        query = make_query(
            self, [], grain=grain, start=start, end=end, by=by, where=where, policy=None
        )
        return stickiness(query, unit)

    def retention(
        self,
        *,
        kind: str = "first_time",
        unit: str = "user",
        grain: str = "week",
        periods: int = 8,
        bracket: str = "exact",
        start: dt.date | None = None,
        end: dt.date | None = None,
        where: str | None = None,
        event: str | None = None,
    ) -> pd.DataFrame:
        """Retention of users or accounts by cohort (first_time or recurring), at each offset
        0..periods exactly or on or after it: cohort_start, offset, period_start, cohort_size,
        retained and rate % (see `tenure.metrics.retention`)."""
        from tenure.metrics.retention import retention

        return retention(
            self,
            kind=kind,
            unit=unit,
            grain=grain,
            periods=periods,
            bracket=bracket,
            start=start,
            end=end,
            where=where,
            event=event,
        )

    def cohorts(self, **options: Any) -> pd.DataFrame:
        """Logo and revenue retention by first-paid cohort (see `tenure.metrics.lifetimes`)."""
        from tenure.metrics.lifetimes import cohorts

        return cohorts(self, **options)

    def cohort_accounts(self, cohort: dt.date, offset: int, **options: Any) -> pd.DataFrame:
        """The accounts behind one cohort cell: the cohort's accounts, active `offset` periods
        later or not (see `tenure.metrics.lifetimes.cohort_accounts`)."""
        from tenure.metrics.lifetimes import cohort_accounts

        return cohort_accounts(self, cohort, offset, **options)

    def funnel(self, steps: Sequence[str], **options: Any) -> pd.DataFrame:
        """Ordered funnel of `steps` (event names) with a conversion window (see
        `tenure.metrics.funnels`)."""
        from tenure.metrics.funnels import funnel

        return funnel(self, steps, **options)

    def funnel_people(self, steps: Sequence[str], step: int, **options: Any) -> pd.DataFrame:
        """The people who reached (or `dropped=True`: dropped at) one step of `funnel`, with
        the step's numerator and denominator in `frame.attrs`."""
        from tenure.metrics.funnels import funnel_people

        return funnel_people(self, steps, step, **options)

    def feedback(self, **options: Any) -> pd.DataFrame:
        """Survey comments with language, band, sentiment, themes and key phrases (see
        `tenure.text.feedback.comments`)."""
        from tenure.text.feedback import comments

        return comments(self, **options)

    def survival(self, **options: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Kaplan-Meier curve of account lifetimes and median lifetime per segment."""
        from tenure.models.survival import survival

        return survival(self, **options)

    def survival_accounts(self, days: float, **options: Any) -> pd.DataFrame:
        """The accounts at risk at one point of the survival curve, those that churned there
        flagged (see `tenure.models.survival.survival_accounts`)."""
        from tenure.models.survival import survival_accounts

        return survival_accounts(self, days, **options)

    # -- models -------------------------------------------------------------------------------
    def purchase_histories(self, calibration_end: dt.date, **options: Any) -> pd.DataFrame:
        """Frequency, recency, T and mean repeat spend per account (see
        `tenure.metrics.purchase_histories`)."""
        from tenure.metrics.purchase_histories import purchase_histories

        return purchase_histories(self, calibration_end, **options)

    def clv(
        self,
        calibration_end: dt.date,
        *,
        unit: str = "week",
        model: str = "bgnbd",
        horizon: int | None = None,
        annual_discount: float = 0.10,
        where: str | None = None,
    ) -> tuple[dict[str, Any], pd.DataFrame | None]:
        """Fit BG/NBD (or Pareto/NBD) and Gamma-Gamma on purchases up to `calibration_end`;
        with a horizon (in units), also predict each account's purchases and lifetime value,
        with the purchases it actually made in that window when the data reaches past it."""
        from tenure.metrics.purchase_histories import purchase_histories, unit_days
        from tenure.models.clv import ClvModel, discount_per_unit

        days = unit_days(unit)
        holdout_end = (
            calibration_end + dt.timedelta(days=round(horizon * days))
            if horizon is not None
            else None
        )
        histories = purchase_histories(
            self, calibration_end, unit, holdout_end=holdout_end, where=where
        )
        fitted = ClvModel.fit(histories, model)
        summary = {"calibration_end": calibration_end.isoformat(), **fitted.summary()}
        if horizon is None:
            return summary, None
        predicted = fitted.predict(
            histories,
            horizon,
            discount_per_unit=discount_per_unit(annual_discount, days),
            margin=self.policy.gross_margin,
        )
        return summary, predicted

    def renewals(
        self, *, horizon: int = 12, discount: float = 0.01, **options: Any
    ) -> pd.DataFrame:
        """sBG renewal model per segment, fitted to the logo cohorts (options as `cohorts`)."""
        from tenure.models.renewals import fit_renewals

        cohorts = self.cohorts(**options)
        return fit_renewals(cohorts, options.get("by", ()), horizon=horizon, discount=discount)

    def health(
        self,
        *,
        as_of: dt.date | None = None,
        config: str | Path | None = None,
        where: str | None = None,
    ) -> pd.DataFrame:
        """Health score, band, trend against 30 days earlier, component scores and what pulled
        each account down, for the accounts paying on `as_of` (see `tenure.models.health`)."""
        from tenure.models.health import HealthModel, health_scores

        return health_scores(self, as_of=as_of, model=HealthModel.load(config), where=where)

    def health_history(
        self, days: Sequence[dt.date], *, config: str | Path | None = None
    ) -> pd.DataFrame:
        """Health of the paying accounts on each of `days`."""
        from tenure.models.health import HealthModel, health_history

        return health_history(self, list(days), model=HealthModel.load(config))

    def train_churn(
        self, *, horizon_days: int = 90, as_of: dt.date | None = None
    ) -> dict[str, Any]:
        """Train churn prediction on this workspace's history, store it, return its report."""
        from tenure.models import store
        from tenure.models.churn import train

        model = train(self, horizon_days=horizon_days, as_of=as_of)
        store.save(self.duckdb, "churn", model.dumps(), model.report)
        self.touched.add(store.MODELS_TABLE)
        return model.report

    def churn_risk(self, *, as_of: dt.date | None = None) -> pd.DataFrame:
        """Churn probability and drivers of each paying account, from the stored model."""
        from tenure.models.churn import score, stored

        return score(self, stored(self), as_of=as_of)

    # -- loading ------------------------------------------------------------------------------
    def load(
        self,
        table: str,
        source: str | Path | Any,
        *,
        mapping: Mapping | str | Path | None = None,
        fmt: str | None = None,
        timezone: str | None = None,
        rejects_path: str | Path | None = None,
        strict: bool = False,
    ) -> loader.LoadReport:
        """Load a CSV / JSON Lines / Parquet file or a pandas / Polars DataFrame into `table`.

        Bad rows are rejected with their line, column and reason (and written to the rejects file);
        good rows load; loading the same data again changes nothing. Rows naming an account not
        in accounts load with a warning in the report (`report.warnings`), or are rejected when
        `strict`.
        """
        if isinstance(mapping, (str, Path)):
            mapping = read_mapping(Path(mapping))
        self._tables.clear()
        self.data_version += 1
        self.touched.add(table)  # the event rollups follow events: their readers read events
        report = loader.load(
            self.duckdb,
            table,
            Path(source) if isinstance(source, str) else source,
            reporting_currency=self.reporting_currency,
            mapping=mapping,
            fmt=fmt,
            timezone=timezone,
            rejects_path=Path(rejects_path) if rejects_path is not None else None,
            reporting_timezone=self.timezone,
            strict=strict,
            on_change=self._maintenance(table),
        )
        if table == "events" and report.inserted + report.updated:
            self.refresh_rollups()  # those a small load could not update by partition
        if table in ("subscriptions", "fx_rates") and report.inserted + report.updated:
            self.refresh_ledger()  # the tables it reads (revenue_ledger.READS)
        return report

    def _maintenance(self, table: str) -> loader.OnChange | None:
        """What a load of `table` runs before it commits: an events load updates by partition
        the event rollups that are current before it; a subscriptions load updates the revenue
        ledger's rows of the accounts it touches, when the ledger is current before it."""
        from tenure.metrics import revenue_ledger, rollups
        from tenure.metrics.engagement import ROLLUPS

        if table == "events":
            fresh = rollups.current(self, ROLLUPS)
            return lambda con, touched: rollups.apply_load(self, fresh, touched)
        if table == "subscriptions" and revenue_ledger.serves_now(self):
            return lambda con, touched: revenue_ledger.apply_load(self, touched)
        return None

    def refresh_rollups(self) -> list[str]:
        """Rebuild the event rollups that engagement metrics read (active user-days, sessions,
        page views and features used per day) where they no longer match the events or the
        settings; loads and setting changes call it. Returns the names rebuilt."""
        from tenure.metrics import rollups
        from tenure.metrics.engagement import ROLLUPS

        return rollups.refresh(self, ROLLUPS)

    def refresh_ledger(self) -> bool:
        """Rebuild the revenue ledger that monthly revenue metrics read, where it no longer
        matches the subscriptions, the exchange rates, the settings or the month; loads,
        setting changes and the account snapshot's refresh call it. Returns whether it was
        rebuilt."""
        from tenure.metrics import revenue_ledger

        return revenue_ledger.refresh(self)


def connect(url: str | None = None, *, read_only: bool = False) -> Workspace:
    """Open a workspace: `duckdb:///tenure.duckdb` (the default, or $TENURE_DB) or any Ibis URL."""
    url = url or default_url()
    return Workspace(open_backend(url, read_only=read_only), url, read_only=read_only)


if TYPE_CHECKING:
    # mypy proves here that a Workspace is what the layers below it are typed against
    # (AppTables extends metrics.tables.Tables).
    _WORKSPACE_IS_TABLES: type[AppTables] = Workspace
