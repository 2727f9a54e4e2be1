//! Profiles (sandbox, test, live), `btw.toml` and `BTW_*` environment variables, credentials.
//!
//! Precedence, highest first: command-line flags, `BTW_*` variables, the profile's table in
//! `btw.toml`, the profile's built-in defaults. The sandbox profile needs nothing at all.

use crate::api::{Credentials, RateLimit, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Where calls go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The embedded BT sandbox on loopback: no credentials, nothing real is ordered.
    #[default]
    Sandbox,
    /// BT's stubbed test environment (api-testa.business.bt.com): needs your test app's key and secret.
    Test,
    /// BT's live gateway: real orders. Mutating calls need --confirm-live.
    Live,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Sandbox => "sandbox",
            Profile::Test => "test",
            Profile::Live => "live",
        }
    }

    fn default_base_url(self) -> Option<&'static str> {
        match self {
            Profile::Sandbox => None,
            Profile::Test => Some("https://api-testa.business.bt.com"),
            Profile::Live => Some("https://api.wholesale.bt.com"),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" => Ok(Profile::Sandbox),
            "test" => Ok(Profile::Test),
            "live" => Ok(Profile::Live),
            other => Err(ConfigError(format!(
                "unknown profile {other:?}: expected sandbox, test or live"
            ))),
        }
    }
}

/// A configuration problem, said plainly.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The well-known loopback port of the shared embedded sandbox (see DESIGN.md, "The sandbox").
pub const SANDBOX_PORT: u16 = 47800;
/// The sandbox's seeded reseller.
pub const SANDBOX_CUG: &str = "CUG5019851064";
pub const SANDBOX_BILLING_ACCOUNT: &str = "GB01234567";

/// Script limits: each stops a runaway script with its own error.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_depth: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall-clock limit for one run, in seconds.
    pub timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_depth: 64,
            max_expr_depth: 128,
            max_string_size: 4 * 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 100_000,
            timeout_secs: 3600,
        }
    }
}

/// One profile's table in `btw.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    pub base_url: Option<String>,
    pub cug: Option<String>,
    pub billing_account: Option<String>,
    pub client_key: Option<String>,
    pub client_secret: Option<String>,
    pub call_timeout_secs: Option<f64>,
    /// BT's rate limit for this profile's credential: calls a second (see [`RateLimit`]).
    pub calls_per_sec: Option<f64>,
    /// How many calls may go at once after a quiet spell.
    pub call_burst: Option<u32>,
}

/// `btw.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub profile: Option<Profile>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileFile>,
    /// `[alerts]`: where failed runs and missed jobs are posted (see `crate::alerts`).
    #[serde(default)]
    pub alerts: AlertsFile,
    /// `[http]`: the console of `btw serve --http`.
    #[serde(default)]
    pub http: HttpFile,
    /// The store: a SQLite file, or a `postgres://` URL (`--store` and `BTW_STORE` win).
    pub store: Option<String>,
}

/// `[alerts]` in `btw.toml`; the signing secret comes from `BTW_ALERT_SECRET` only.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    pub webhook_url: Option<String>,
    /// `/healthz` reports the daemon unhealthy once an alert has been undeliverable this long.
    pub unhealthy_after_secs: Option<u64>,
}

/// `[http]` in `btw.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// The console's access token (`BTW_HTTP_TOKEN` wins).
    pub token: Option<String>,
}

/// What the operator's console and alerts need from the configuration.
#[derive(Clone, Debug, Default)]
pub struct ConsoleSettings {
    pub webhook_url: Option<String>,
    pub alert_secret: Option<Secret>,
    pub http_token: Option<Secret>,
    /// How long alerts may stay undeliverable before `/healthz` says so
    /// (`BTW_ALERT_UNHEALTHY_AFTER_SECS`, `[alerts] unhealthy_after_secs`; 15 minutes).
    pub alert_unhealthy_after: Duration,
}

/// How long alerts may stay undeliverable before `/healthz` is 503, by default.
pub const ALERT_UNHEALTHY_AFTER_DEFAULT_SECS: u64 = 15 * 60;
pub const ALERT_UNHEALTHY_AFTER_SECS: RangeInclusive<u64> = 1..=7 * 24 * 3600;

/// Where the calls of a run go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A BT host (or a sandbox someone else runs) at this base URL.
    Url(String),
    /// The shared embedded sandbox on the well-known port: use the one listening there, or start it.
    EmbeddedSandbox,
}

/// The resolved settings of one btw process.
#[derive(Clone, Debug)]
pub struct Settings {
    pub profile: Profile,
    pub target: Target,
    pub cug: String,
    pub billing_account: String,
    pub credentials: Credentials,
    pub confirm_live: bool,
    pub limits: Limits,
    pub call_timeout: Duration,
    /// BT's rate limit for the credential, shared by every run of the process (and divided
    /// among the daemons on one store); `None`: no limit (the sandbox, unless set).
    pub rate: Option<RateLimit>,
    /// btw's own files: sandbox state, history, store.
    pub data_dir: PathBuf,
    /// `store` in `btw.toml`: the store when neither `--store` nor `BTW_STORE` names one.
    pub store: Option<PathBuf>,
    /// The shared embedded sandbox's loopback port (`BTW_SANDBOX_PORT`).
    pub sandbox_port: u16,
    /// A background sandbox stops after this long without a request (`BTW_SANDBOX_IDLE_SECS`).
    pub sandbox_idle: Duration,
    pub console: ConsoleSettings,
}

/// What the command line says, before files and environment are merged in.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub profile: Option<Profile>,
    pub config_file: Option<PathBuf>,
    pub confirm_live: bool,
}

/// Reads the environment through a function, so tests need not touch the process's variables.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Resolves settings from overrides, the environment and `btw.toml`.
    pub fn load(over: &Overrides) -> Result<Settings, ConfigError> {
        Self::load_with(over, &process_env)
    }

    pub fn load_with(over: &Overrides, env: EnvFn) -> Result<Settings, ConfigError> {
        let file_path = config_file_path(over, env);
        let file = match &file_path {
            Some(p) => read_config_file(p)?,
            None => ConfigFile::default(),
        };
        let profile = match (over.profile, env("BTW_PROFILE")) {
            (Some(p), _) => p,
            (None, Some(s)) => s.parse()?,
            (None, None) => file.profile.unwrap_or_default(),
        };
        let section = file
            .profiles
            .get(profile.name())
            .cloned()
            .unwrap_or_default();
        let pick = |var: &str, from_file: &Option<String>| env(var).or_else(|| from_file.clone());

        let base_url = pick("BTW_BASE_URL", &section.base_url);
        let target = match (base_url, profile.default_base_url()) {
            (Some(url), _) => Target::Url(validate_url(&url)?),
            (None, Some(url)) => Target::Url(url.to_string()),
            (None, None) => Target::EmbeddedSandbox,
        };
        let sandbox = profile == Profile::Sandbox;
        let cug = pick("BTW_CUG", &section.cug)
            .or_else(|| sandbox.then(|| SANDBOX_CUG.to_string()))
            .unwrap_or_default();
        let billing_account = pick("BTW_BILLING_ACCOUNT", &section.billing_account)
            .or_else(|| sandbox.then(|| SANDBOX_BILLING_ACCOUNT.to_string()))
            .unwrap_or_default();
        let client_key = pick("BTW_CLIENT_KEY", &section.client_key)
            .or_else(|| sandbox.then(|| "btw-sandbox-key".to_string()))
            .unwrap_or_default();
        let client_secret = pick("BTW_CLIENT_SECRET", &section.client_secret)
            .or_else(|| sandbox.then(|| "btw-sandbox-secret".to_string()))
            .unwrap_or_default();
        if !sandbox {
            require_account(profile, &client_key, &client_secret, &cug)?;
        }
        let file_name = file_path.as_deref().unwrap_or(Path::new("btw.toml"));
        let limits = limits_from(&file.limits, file_name, env)?;
        let call_timeout = call_timeout_from(&section, profile, file_name, env)?;
        let rate = rate_from(&section, profile, file_name, env)?;
        let data_dir = env("BTW_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::data_dir().map(|d| d.join("btw")))
            .unwrap_or_else(|| PathBuf::from(".btw"));
        let (sandbox_port, sandbox_idle) = sandbox_settings(env)?;
        Ok(Settings {
            profile,
            target,
            cug,
            billing_account,
            credentials: Credentials {
                client_key,
                client_secret: Secret::new(client_secret),
            },
            confirm_live: over.confirm_live,
            limits,
            call_timeout: Duration::from_secs_f64(call_timeout),
            rate,
            data_dir,
            store: file
                .store
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            sandbox_port,
            sandbox_idle,
            console: ConsoleSettings {
                webhook_url: env("BTW_ALERT_WEBHOOK_URL").or(file.alerts.webhook_url.clone()),
                alert_secret: env("BTW_ALERT_SECRET").map(Secret::new),
                http_token: pick("BTW_HTTP_TOKEN", &file.http.token).map(Secret::new),
                alert_unhealthy_after: alert_unhealthy_after(&file.alerts, env)?,
            },
        })
    }

    /// Why mutating calls must be refused, if they must.
    pub fn mutation_refusal(&self) -> Option<String> {
        (self.profile == Profile::Live && !self.confirm_live).then(|| {
            "the live profile places real orders; run again with --confirm-live to allow calls that change anything at BT".to_string()
        })
    }
}

/// `--config`, `BTW_CONFIG`, `./btw.toml`, or btw.toml in the user's config folder: the first
/// that is given or exists.
fn config_file_path(over: &Overrides, env: EnvFn) -> Option<PathBuf> {
    over.config_file
        .clone()
        .or_else(|| env("BTW_CONFIG").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("btw.toml")).filter(|p| p.exists()))
        .or_else(|| {
            dirs::config_dir()
                .map(|d| d.join("btw").join("btw.toml"))
                .filter(|p| p.exists())
        })
}

/// BT's test and live hosts need the reseller's own app credentials and CUG.
fn require_account(
    profile: Profile,
    client_key: &str,
    client_secret: &str,
    cug: &str,
) -> Result<(), ConfigError> {
    if client_key.is_empty() || client_secret.is_empty() {
        return Err(ConfigError(format!(
            "the {profile} profile needs your BT app's consumer key and secret: set BTW_CLIENT_KEY and BTW_CLIENT_SECRET, or client_key and client_secret under [profiles.{profile}] in btw.toml"
        )));
    }
    if cug.is_empty() {
        return Err(ConfigError(format!(
            "the {profile} profile needs your CUG id (Business Zone): set BTW_CUG or cug under [profiles.{profile}] in btw.toml"
        )));
    }
    Ok(())
}

/// The file's limits with the environment's overrides, each checked against its range.
fn limits_from(file: &Limits, file_name: &Path, env: EnvFn) -> Result<Limits, ConfigError> {
    let mut limits = file.clone();
    limits.validate(|k| format!("{} [limits] {k}", file_name.display()))?;
    if let Some(v) = env("BTW_MAX_OPERATIONS") {
        limits.max_operations = parse_num("BTW_MAX_OPERATIONS", &v)?;
        in_range("BTW_MAX_OPERATIONS", limits.max_operations, MAX_OPERATIONS)?;
    }
    if let Some(v) = env("BTW_TIMEOUT_SECS") {
        limits.timeout_secs = parse_num("BTW_TIMEOUT_SECS", &v)?;
        in_range("BTW_TIMEOUT_SECS", limits.timeout_secs, TIMEOUT_SECS)?;
    }
    Ok(limits)
}

/// The shared sandbox's port and idle timeout; a bad value is refused, never silently replaced.
fn sandbox_settings(env: EnvFn) -> Result<(u16, Duration), ConfigError> {
    let port = match env("BTW_SANDBOX_PORT") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                ConfigError(format!(
                    "BTW_SANDBOX_PORT = {p:?} is not a port (1 to 65535)"
                ))
            })?,
        None => SANDBOX_PORT,
    };
    let idle = match env("BTW_SANDBOX_IDLE_SECS") {
        Some(v) => in_range(
            "BTW_SANDBOX_IDLE_SECS",
            parse_num("BTW_SANDBOX_IDLE_SECS", &v)?,
            SANDBOX_IDLE_SECS,
        )?,
        None => SANDBOX_IDLE_DEFAULT_SECS,
    };
    Ok((port, Duration::from_secs(idle)))
}

/// How long alerts may stay undeliverable before `/healthz` says so.
fn alert_unhealthy_after(file: &AlertsFile, env: EnvFn) -> Result<Duration, ConfigError> {
    const NAME: &str = "BTW_ALERT_UNHEALTHY_AFTER_SECS";
    let secs = match env(NAME) {
        Some(v) => in_range(NAME, parse_num(NAME, &v)?, ALERT_UNHEALTHY_AFTER_SECS)?,
        None => match file.unhealthy_after_secs {
            Some(s) => in_range(
                "[alerts] unhealthy_after_secs",
                s,
                ALERT_UNHEALTHY_AFTER_SECS,
            )?,
            None => ALERT_UNHEALTHY_AFTER_DEFAULT_SECS,
        },
    };
    Ok(Duration::from_secs(secs))
}

/// The time allowed for one HTTP call, in seconds: the environment's, the profile's or 30.
fn call_timeout_from(
    section: &ProfileFile,
    profile: Profile,
    file_name: &Path,
    env: EnvFn,
) -> Result<f64, ConfigError> {
    match env("BTW_CALL_TIMEOUT_SECS") {
        Some(v) => {
            let secs = parse_num::<f64>("BTW_CALL_TIMEOUT_SECS", &v)?;
            in_range("BTW_CALL_TIMEOUT_SECS", secs, CALL_TIMEOUT_SECS)
        }
        None => {
            let secs = section.call_timeout_secs.unwrap_or(30.0);
            let name = format!(
                "{} [profiles.{profile}] call_timeout_secs",
                file_name.display()
            );
            in_range(&name, secs, CALL_TIMEOUT_SECS)
        }
    }
}

/// BT's rate limit: the environment's, the profile's, or the profile's default (test and live:
/// [`DEFAULT_CALLS_PER_SEC`] with bursts of [`DEFAULT_CALL_BURST`]; the sandbox: none unless
/// set). Each value is checked against its range, naming where it came from.
fn rate_from(
    section: &ProfileFile,
    profile: Profile,
    file_name: &Path,
    env: EnvFn,
) -> Result<Option<RateLimit>, ConfigError> {
    let key = |k: &str| format!("{} [profiles.{profile}] {k}", file_name.display());
    let per_sec = match env("BTW_CALLS_PER_SEC") {
        Some(v) => Some(in_range(
            "BTW_CALLS_PER_SEC",
            parse_num("BTW_CALLS_PER_SEC", &v)?,
            CALLS_PER_SEC,
        )?),
        None => section
            .calls_per_sec
            .map(|v| in_range(&key("calls_per_sec"), v, CALLS_PER_SEC))
            .transpose()?,
    };
    let burst = match env("BTW_CALL_BURST") {
        Some(v) => Some(in_range(
            "BTW_CALL_BURST",
            parse_num("BTW_CALL_BURST", &v)?,
            CALL_BURST,
        )?),
        None => section
            .call_burst
            .map(|v| in_range(&key("call_burst"), v, CALL_BURST))
            .transpose()?,
    };
    let per_sec = match (per_sec, profile) {
        (Some(r), _) => r,
        (None, Profile::Sandbox) if burst.is_none() => return Ok(None),
        (None, _) => DEFAULT_CALLS_PER_SEC,
    };
    Ok(Some(RateLimit {
        per_sec,
        burst: burst.unwrap_or(DEFAULT_CALL_BURST),
    }))
}

fn read_config_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

fn validate_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(ConfigError(format!(
            "base URL {trimmed:?} must start with http:// or https://"
        )));
    }
    Ok(trimmed.to_string())
}

/// The ranges settings accept: beyond them a run cannot work (or would overflow a clock), so
/// they are refused with the setting's name instead. Zero is no longer "unlimited".
pub const MAX_OPERATIONS: RangeInclusive<u64> = 1..=1_000_000_000_000;
pub const TIMEOUT_SECS: RangeInclusive<u64> = 1..=30 * 24 * 3600;
pub const CALL_TIMEOUT_SECS: RangeInclusive<f64> = 0.001..=3600.0;
/// BT's rate limit per credential: calls a second, and the burst after a quiet spell.
pub const CALLS_PER_SEC: RangeInclusive<f64> = 0.01..=10_000.0;
pub const CALL_BURST: RangeInclusive<u32> = 1..=10_000;
/// The test and live profiles' limit unless set: what BT is asked to allow a reseller's
/// credential; set `calls_per_sec` to the rate agreed for yours.
pub const DEFAULT_CALLS_PER_SEC: f64 = 20.0;
pub const DEFAULT_CALL_BURST: u32 = 20;
/// A background sandbox's idle timeout: a second to a week; half an hour unless set.
pub const SANDBOX_IDLE_SECS: RangeInclusive<u64> = 1..=7 * 24 * 3600;
pub const SANDBOX_IDLE_DEFAULT_SECS: u64 = 1800;
const CALL_DEPTH: RangeInclusive<usize> = 1..=256;
const EXPR_DEPTH: RangeInclusive<usize> = 1..=512;
const STRING_SIZE: RangeInclusive<usize> = 1..=256 * 1024 * 1024;
const COLLECTION_SIZE: RangeInclusive<usize> = 1..=10_000_000;

impl Limits {
    /// Refuses a limit out of its range; `name_of` says where a limit's value came from.
    pub fn validate(&self, name_of: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        in_range(
            &name_of("max_operations"),
            self.max_operations,
            MAX_OPERATIONS,
        )?;
        in_range(&name_of("timeout_secs"), self.timeout_secs, TIMEOUT_SECS)?;
        in_range(&name_of("max_call_depth"), self.max_call_depth, CALL_DEPTH)?;
        in_range(&name_of("max_expr_depth"), self.max_expr_depth, EXPR_DEPTH)?;
        in_range(
            &name_of("max_string_size"),
            self.max_string_size,
            STRING_SIZE,
        )?;
        in_range(
            &name_of("max_array_size"),
            self.max_array_size,
            COLLECTION_SIZE,
        )?;
        in_range(&name_of("max_map_size"), self.max_map_size, COLLECTION_SIZE)?;
        Ok(())
    }
}

/// `value` if it lies in `range` (NaN never does), else an error naming the setting.
pub fn in_range<T: PartialOrd + fmt::Display + Copy>(
    name: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        return Ok(value);
    }
    Err(ConfigError(format!(
        "{name} = {value} is out of range: expected {} to {}",
        range.start(),
        range.end()
    )))
}

/// A clap value parser for a number of seconds in `range` (flags get the same checks as settings).
pub fn secs_in(range: RangeInclusive<f64>) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |text| {
        let v: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "{v} is out of range: expected {} to {}",
                range.start(),
                range.end()
            ))
        }
    }
}

fn parse_num<T: FromStr>(name: &str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| ConfigError(format!("{name}={v:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_rate_limit_has_defaults_per_profile_and_ranges() {
        let s = Settings::load_with(&Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(s.rate, None, "the sandbox is not limited unless asked");
        let s = Settings::load_with(
            &Overrides::default(),
            &env_of(&[("BTW_CALLS_PER_SEC", "2.5"), ("BTW_CALL_BURST", "4")]),
        )
        .unwrap();
        assert_eq!(
            s.rate,
            Some(RateLimit {
                per_sec: 2.5,
                burst: 4
            })
        );
        let bad: [&'static [(&'static str, &'static str)]; 3] = [
            &[("BTW_CALLS_PER_SEC", "0")],
            &[("BTW_CALLS_PER_SEC", "fast")],
            &[("BTW_CALL_BURST", "0")],
        ];
        for pairs in bad {
            let e = Settings::load_with(&Overrides::default(), &env_of(pairs)).unwrap_err();
            assert!(e.0.contains(pairs[0].0), "{pairs:?}: {e}");
        }
        let live = Settings::load_with(
            &Overrides::default(),
            &env_of(&[
                ("BTW_PROFILE", "live"),
                ("BTW_CLIENT_KEY", "k"),
                ("BTW_CLIENT_SECRET", "s"),
                ("BTW_CUG", "CUG1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            live.rate,
            Some(RateLimit {
                per_sec: DEFAULT_CALLS_PER_SEC,
                burst: DEFAULT_CALL_BURST
            })
        );
    }

    #[test]
    fn sandbox_needs_nothing() {
        let s = Settings::load_with(&Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(s.profile, Profile::Sandbox);
        assert_eq!(s.target, Target::EmbeddedSandbox);
        assert_eq!(s.cug, SANDBOX_CUG);
        assert!(s.mutation_refusal().is_none());
    }

    #[test]
    fn env_points_the_sandbox_elsewhere() {
        let s = Settings::load_with(
            &Overrides::default(),
            &env_of(&[("BTW_BASE_URL", "http://127.0.0.1:9/")]),
        )
        .unwrap();
        assert_eq!(s.target, Target::Url("http://127.0.0.1:9".into()));
    }

    #[test]
    fn sandbox_port_and_idle_timeout() {
        let over = Overrides::default();
        let s = Settings::load_with(&over, &env_of(&[])).unwrap();
        assert_eq!(s.sandbox_port, SANDBOX_PORT);
        assert_eq!(s.sandbox_idle, Duration::from_secs(1800));
        let s = Settings::load_with(
            &over,
            &env_of(&[
                ("BTW_SANDBOX_PORT", " 48000 "),
                ("BTW_SANDBOX_IDLE_SECS", "5"),
            ]),
        )
        .unwrap();
        assert_eq!((s.sandbox_port, s.sandbox_idle.as_secs()), (48000, 5));
        for (var, value) in [
            ("BTW_SANDBOX_PORT", "0"),
            ("BTW_SANDBOX_PORT", "65536"),
            ("BTW_SANDBOX_PORT", "http"),
            ("BTW_SANDBOX_IDLE_SECS", "0"),
            ("BTW_SANDBOX_IDLE_SECS", "soon"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(var, value)].into_boxed_slice());
            let err = Settings::load_with(&over, &env_of(pairs)).unwrap_err();
            assert!(err.0.contains(var), "{err}");
        }
    }

    #[test]
    fn test_profile_wants_credentials() {
        let over = Overrides {
            profile: Some(Profile::Test),
            ..Default::default()
        };
        let err = Settings::load_with(&over, &env_of(&[])).unwrap_err();
        assert!(err.0.contains("BTW_CLIENT_KEY"), "{err}");
        let s = Settings::load_with(
            &over,
            &env_of(&[
                ("BTW_CLIENT_KEY", "k"),
                ("BTW_CLIENT_SECRET", "s3cret"),
                ("BTW_CUG", "CUG1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.target,
            Target::Url("https://api-testa.business.bt.com".into())
        );
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn live_refuses_mutations_without_confirmation() {
        let env = env_of(&[
            ("BTW_CLIENT_KEY", "k"),
            ("BTW_CLIENT_SECRET", "s"),
            ("BTW_CUG", "C"),
        ]);
        let mut over = Overrides {
            profile: Some(Profile::Live),
            ..Default::default()
        };
        assert!(Settings::load_with(&over, &env)
            .unwrap()
            .mutation_refusal()
            .is_some());
        over.confirm_live = true;
        assert!(Settings::load_with(&over, &env)
            .unwrap()
            .mutation_refusal()
            .is_none());
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Settings::load_with(&Overrides::default(), &env_of(&[("BTW_PROFILE", "prod")]))
            .unwrap_err();
        assert!(e.0.contains("sandbox, test or live"));
        let e = Settings::load_with(
            &Overrides::default(),
            &env_of(&[("BTW_BASE_URL", "ftp://x")]),
        )
        .unwrap_err();
        assert!(e.0.contains("http://"));
    }
}

#[cfg(test)]
mod store_setting_tests {
    use super::*;

    #[test]
    fn the_store_can_be_named_in_btw_toml() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("btw.toml");
        std::fs::write(&file, "store = \"postgres://btw@db:5432/btw\"\n").unwrap();
        let over = Overrides {
            config_file: Some(file),
            ..Overrides::default()
        };
        let s = Settings::load_with(&over, &|_| None).unwrap();
        assert_eq!(
            s.store.as_deref(),
            Some(Path::new("postgres://btw@db:5432/btw"))
        );
        let s = Settings::load_with(&Overrides::default(), &|_| None).unwrap();
        assert_eq!(s.store, None);
    }
}
