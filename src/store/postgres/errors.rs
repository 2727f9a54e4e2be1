//! PostgreSQL errors said plainly: what failed and what to check (server, credentials,
//! database), never the password of the URL they came from.

use deadpool_postgres::PoolError;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

/// An error on its way to a [`super::super::StoreError`]: the executor's.
pub(crate) use crate::store::exec::DbErr as PgErr;

impl From<tokio_postgres::Error> for PgErr {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgErr(format!("{} ({})", db.message(), db.code().code())),
            None => PgErr(e.to_string()),
        }
    }
}

fn server(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// Why a connection could not be had, with what to check.
pub(crate) fn explain_pool(e: PoolError, config: &tokio_postgres::Config) -> PgErr {
    match e {
        PoolError::Backend(e) => explain_connect(&e, config),
        PoolError::Timeout(_) => PgErr(format!(
            "no connection to PostgreSQL at {} in time: is the server up and reachable, and not out of connections?",
            server(config)
        )),
        other => PgErr(other.to_string()),
    }
}

/// Why connecting failed: refused, authentication, a missing database, or the driver's words.
pub(crate) fn explain_connect(e: &tokio_postgres::Error, config: &tokio_postgres::Config) -> PgErr {
    let user = config.get_user().unwrap_or("(no user)");
    let db = config.get_dbname().unwrap_or(user);
    if let Some(d) = e.as_db_error() {
        let code = d.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return PgErr(format!(
                "PostgreSQL at {} refused user {user:?}: {}. Check the user and password (the URL, PGPASSWORD or ~/.pgpass) and the server's pg_hba.conf",
                server(config),
                d.message()
            ));
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return PgErr(format!(
                "database {db:?} does not exist on PostgreSQL at {}: create it (createdb -h HOST -U {user} {db}) or fix the URL's database name",
                server(config)
            ));
        }
        return PgErr(format!("PostgreSQL at {}: {}", server(config), d.message()));
    }
    let text = e.to_string();
    let source = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if source.contains("refused") || text.contains("refused") {
        return PgErr(format!(
            "cannot connect to PostgreSQL at {}: connection refused. Is the server running and listening on that host and port?",
            server(config)
        ));
    }
    PgErr(format!(
        "cannot connect to PostgreSQL at {}: {text}{}. Check the host, port and that the server is running",
        server(config),
        if source.is_empty() { String::new() } else { format!(" ({source})") }
    ))
}

/// `url` without its password (in the user part, or a `password=` parameter).
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}{hosts}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_taken_out_of_urls() {
        assert_eq!(
            redact_url("postgres://btw:s3cr%40t@db.example:5433/btw?sslmode=disable"),
            "postgres://btw@db.example:5433/btw?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://h1,h2/btw?user=a&password=hunter2"),
            "postgresql://h1,h2/btw?user=a&password=***"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
