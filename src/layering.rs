//! The dependency direction of `docs/architecture.md`, checked on the sources: a layer that
//! names what it must not know fails the build's tests, not a review.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/<dir>` (or the file `src/<dir>.rs`), with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![root.join(dir), root.join(format!("{dir}.rs"))];
    let mut found = Vec::new();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).expect("a readable source directory");
            pending.extend(entries.map(|e| e.expect("a directory entry").path()));
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            found.push((path, text));
        }
    }
    assert!(!found.is_empty(), "no sources under src/{dir}");
    found
}

/// The files of layer `dir` whose code names any of `forbidden`.
fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    sources(dir)
        .into_iter()
        .flat_map(|(path, text)| {
            forbidden
                .iter()
                .filter(|name| text.contains(*name))
                .map(|name| format!("{} names {name}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_service_knows_no_http_sql_or_pkcs11() {
    assert_eq!(
        offenders("service", &["axum::", "sqlx::", "cryptoki::", "rusqlite::"]),
        Vec::<String>::new()
    );
}

#[test]
fn http_reads_the_store_only_through_the_service() {
    assert_eq!(
        offenders(
            "http",
            &["crate::store", "sqlx::", "cryptoki::", "crate::hsm"]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn the_store_knows_nothing_above_it() {
    assert_eq!(
        offenders(
            "store",
            &["crate::service", "crate::http", "axum::", "cryptoki::"]
        ),
        Vec::<String>::new()
    );
}
