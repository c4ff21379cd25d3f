//! Where the store lives, as an operator names it with `--database`: a SQLite file (the
//! embedded default) or a PostgreSQL URL (several nodes on one database).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The database a node uses.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// One SQLite file (WAL), on a local disk.
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its connection URL.
    Postgres(PostgresUrl),
}

/// A `postgres://` connection URL. It may carry a password, so it is never printed whole:
/// `Debug` and `Display` show it without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL to connect with, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its password: `***` in place of one in the user part, and the
    /// query (where sqlx also takes `password=`) reduced to `?…`.
    fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "postgres://***".to_owned();
        };
        let (location, query) = match rest.split_once('?') {
            Some((location, _)) => (location, "?…"),
            None => (rest, ""),
        };
        // The last `@` ends the user part: a password may hold an unescaped `@`.
        let shown = match location.rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => location.to_owned(),
            },
            None => location.to_owned(),
        };
        format!("{scheme}://{shown}{query}")
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&url.redacted()),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Database::Sqlite(path)
    }
}

impl FromStr for Database {
    type Err = String;

    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or
    /// a plain path is a SQLite file.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Database::Postgres(PostgresUrl(text.to_owned())));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        if path.contains("://") {
            return Err(format!(
                "{:?} is not a database this build knows: give a SQLite file path or a \
                 postgres:// URL",
                text.split("://").next().unwrap_or_default()
            ));
        }
        if path.is_empty() {
            return Err("the database path is empty".to_owned());
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_or_a_path_names_its_engine() {
        assert_eq!(
            "coffer.db".parse::<Database>(),
            Ok(Database::Sqlite("coffer.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/coffer/coffer.db".parse::<Database>(),
            Ok(Database::Sqlite("/var/lib/coffer/coffer.db".into()))
        );
        assert!(matches!(
            "postgresql://coffer@db/coffer".parse::<Database>(),
            Ok(Database::Postgres(_))
        ));
        assert!("mysql://db/coffer".parse::<Database>().is_err());
    }

    /// A password in the URL never reaches a log line or an error, wherever it is written:
    /// in the user part (even with an unescaped `@` in it) or as a `password` parameter.
    #[test]
    fn a_postgres_password_is_never_printed() {
        for (url, expected) in [
            (
                "postgres://coffer:s3cr3t@db.internal:5432/coffer",
                "postgres://coffer:***@db.internal:5432/coffer",
            ),
            (
                "postgres://coffer:s3@cr3t@db.internal/coffer",
                "postgres://coffer:***@db.internal/coffer",
            ),
            (
                "postgres://coffer@db.internal/coffer?sslmode=require&password=s3cr3t",
                "postgres://coffer@db.internal/coffer?…",
            ),
        ] {
            let database: Database = url.parse().expect("url");
            for shown in [database.to_string(), format!("{database:?}")] {
                assert!(
                    !shown.contains("s3cr3t") && !shown.contains("cr3t"),
                    "{shown}"
                );
                assert_eq!(shown, expected);
            }
        }
    }
}
