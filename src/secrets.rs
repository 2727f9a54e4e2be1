//! One rule for what is secret and how it is hidden, for every place a value may be shown or
//! written: run reports, the console, `btw runs`, `btw schedule list`, logs and HTTP traces.
//!
//! A value is secret when its key names one (password, token, client secret, …) or when the
//! recipe declares the parameter `secret`. It is replaced whole by [`MASK`].

use serde_json::Value;

/// What a secret is shown as.
pub const MASK: &str = "***";

/// Whether a key or header name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    const SECRET: [&str; 14] = [
        "secret",
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "token",
        "credential",
        "authorization",
        "bearer",
        "api_key",
        "apikey",
        "access_key",
        "private_key",
        "cookie",
    ];
    let lower = name.to_ascii_lowercase();
    SECRET.iter().any(|s| lower.contains(s))
}

/// `value` with every secret hidden, at any depth: values under secret names, and the
/// top-level keys in `declared` (the recipe's `secret` parameters).
pub fn masked(value: &Value, declared: &[String]) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if (is_secret_name(k) || declared.iter().any(|d| d == k)) && !v.is_null() {
                        (k.clone(), Value::String(MASK.into()))
                    } else {
                        (k.clone(), masked(v, &[]))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| masked(v, &[])).collect()),
        other => other.clone(),
    }
}

/// Creates (or truncates) a file only its owner can read: reports and traces may name what a
/// run did for a customer, and the store may keep a secret to resume a run.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    // A link would have btw write (and narrow the mode of) whatever file it points at.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(format!(
            "{} is a symbolic link: refused, give the file itself",
            path.display()
        )));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // An existing file keeps its mode on open: narrow it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_by_name_and_by_declaration_are_hidden_at_any_depth() {
        let v = json!({"api_password": "p", "pin": "1234", "company": "Acme",
                       "users": [{"token": "t", "name": "Ada"}], "client_secret": null});
        let m = masked(&v, &["pin".to_string()]);
        assert_eq!(
            m,
            json!({"api_password": "***", "pin": "***", "company": "Acme",
                   "users": [{"token": "***", "name": "Ada"}], "client_secret": null})
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "x").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_private(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
