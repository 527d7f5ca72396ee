//! Builds the empty database a new SQLite store starts from.
//!
//! Running MLflow's schema script (153 statements, with Trackway's side indexes) took about
//! 8 ms of a 16 ms start on a fresh database, plus 232 pages through the WAL; SQLite spends it
//! parsing and planning the DDL, and it is the same work with the same result every time. So
//! the build runs the script once, with the same SQLite the server links, and the crate embeds
//! the result, compressed (the database is 952 KiB, mostly empty pages): a new database file is
//! that template written out (`schema::create_sqlite_from_template`). An existing file, even an
//! empty one, still gets the script at run time.

use std::io::Write;
use std::path::PathBuf;

// The build reads only the SQLite side of the definitions.
#[allow(dead_code)]
mod side_indexes {
    include!("src/side_indexes.rs");
}

fn main() {
    println!("cargo::rerun-if-changed=schema/sqlite.sql");
    println!("cargo::rerun-if-changed=src/side_indexes.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let path = out.join("empty-mlflow.db");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        match std::fs::remove_file(&name) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("cannot remove {}: {e}", PathBuf::from(name).display())
            }
            _ => {}
        }
    }

    let conn = rusqlite::Connection::open(&path).expect("create the template database");
    // The mode is recorded in the file's header, so the server opens the copy in WAL mode
    // without converting it (a conversion is four more syncs).
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("switch the template to WAL");
    assert_eq!(mode, "wal");
    conn.execute_batch("BEGIN").expect("begin");
    conn.execute_batch(include_str!("schema/sqlite.sql"))
        .expect("MLflow's SQLite schema script");
    for index in side_indexes::SIDE_INDEXES {
        conn.execute_batch(&side_indexes::create_index_sql(index, index.columns, false))
            .expect("a side index");
    }
    conn.execute_batch("COMMIT").expect("commit");
    // Closing the last connection checkpoints the WAL into the file and removes it.
    conn.close()
        .map_err(|(_, e)| e)
        .expect("close the template");

    let bytes = std::fs::read(&path).expect("read the template");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).expect("compress the template");
    let compressed = encoder.finish().expect("compress the template");
    std::fs::write(out.join("empty-mlflow.db.zlib"), compressed).expect("write the template");
}
