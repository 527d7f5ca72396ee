// Trackway's side indexes, as data. Included (`include!`) both by the `side` module and by the
// crate's build script, which builds the empty database template from the same definitions
// (see `schema::create_sqlite_from_template`), so the two cannot drift apart.

/// One side index: its columns on SQLite, and what PostgreSQL gets.
pub(crate) struct SideIndex {
    pub(crate) name: &'static str,
    pub(crate) table: &'static str,
    pub(crate) columns: &'static str,
    pub(crate) postgres: OnPostgres,
}

/// Whether PostgreSQL gets a side index, and with which columns.
pub(crate) enum OnPostgres {
    Same,
    Columns(&'static str),
    Skip,
}

pub(crate) const SIDE_INDEXES: &[SideIndex] = &[
    SideIndex {
        name: "trackway_metrics_history",
        table: "metrics",
        columns: "run_uuid, \"key\", \"timestamp\", step, value, is_nan",
        postgres: OnPostgres::Same,
    },
    SideIndex {
        name: "trackway_latest_metrics_key_value",
        table: "latest_metrics",
        columns: "\"key\", value, is_nan, run_uuid",
        postgres: OnPostgres::Same,
    },
    SideIndex {
        name: "trackway_latest_metrics_key_run",
        table: "latest_metrics",
        columns: "\"key\", run_uuid, value, is_nan",
        postgres: OnPostgres::Same,
    },
    SideIndex {
        name: "trackway_runs_experiment_start",
        table: "runs",
        // SQLite puts NULL first in ascending order, so last in a descending index.
        columns: "experiment_id, start_time DESC, run_uuid",
        postgres: OnPostgres::Columns("experiment_id, start_time DESC NULLS LAST, run_uuid"),
    },
    SideIndex {
        name: "trackway_params_key_value",
        table: "params",
        columns: "\"key\", value, run_uuid",
        postgres: OnPostgres::Skip,
    },
    SideIndex {
        name: "trackway_tags_key_value",
        table: "tags",
        columns: "\"key\", value, run_uuid",
        postgres: OnPostgres::Skip,
    },
];

/// `CREATE INDEX` for one side index with the given columns.
pub(crate) fn create_index_sql(index: &SideIndex, columns: &str, concurrently: bool) -> String {
    format!(
        "CREATE INDEX {}IF NOT EXISTS {} ON {} ({columns})",
        if concurrently { "CONCURRENTLY " } else { "" },
        index.name,
        index.table,
    )
}
