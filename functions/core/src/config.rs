//! Configuration from environment variables, validated once at start-up. A missing or bad value
//! stops the function with a message that names the variable.

use std::time::Duration as StdDuration;

use chrono::Duration;
use thiserror::Error;

use crate::domain::{AccessMode, Country, Language, Secret};
use crate::pacing::Pacing;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// What the use cases need to know (no AWS or HTTP details).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where our pages are served, e.g. `https://signin.lender.example` (no trailing slash).
    pub public_base_url: String,
    pub default_language: Language,
    pub default_country: Country,
    pub access_mode: AccessMode,
    /// Key of the HMAC that signs links in emails.
    pub link_signing_key: Secret,
    /// Shown in pages and emails.
    pub company_name: String,
    pub pacing: Pacing,
    /// Wait between two import command polls (Kontomatik: 2–5 s).
    pub import_poll_interval: StdDuration,
    /// A worker that took the import claim this long ago without storing a command id is taken
    /// for dead; its import is never started again (Default Import is once per session).
    pub import_claim_lease: Duration,
    /// How long before its deadline a worker hands the import on to a delayed message.
    pub worker_safety_margin: Duration,
    /// How long after a drop-off (expired or failed sign-in) its follow-up is decided.
    pub follow_up_delay: Duration,
    /// At most one follow-up per user within this window.
    pub follow_up_window: Duration,
    /// How long the link in a follow-up works.
    pub resume_link_life: Duration,
    /// How long an unsubscribe link works.
    pub unsubscribe_link_life: Duration,
    /// Bearer token for the statistics route; the route is off without one.
    pub stats_token: Option<Secret>,
    /// Default Import asks for this many months of history (`since`).
    pub import_history_months: u32,
}

impl Settings {
    /// The callback Kontomatik sends the user back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.public_base_url, crate::CALLBACK_PATH)
    }

    /// Settings for tests and the local run.
    pub fn for_local(public_base_url: &str) -> Self {
        Settings {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            default_language: Language::FIRST,
            default_country: Country::FIRST,
            access_mode: AccessMode::Single,
            link_signing_key: Secret::new("local-development-signing-key-0123456789"),
            company_name: "Lender".into(),
            pacing: Pacing::default(),
            import_poll_interval: StdDuration::from_secs(3),
            import_claim_lease: Duration::minutes(2),
            worker_safety_margin: Duration::seconds(20),
            follow_up_delay: Duration::hours(1),
            follow_up_window: Duration::days(7),
            resume_link_life: Duration::days(7),
            unsubscribe_link_life: Duration::days(365),
            stats_token: None,
            import_history_months: DEFAULT_IMPORT_HISTORY_MONTHS,
        }
    }

    /// The `since` day of a Default Import started on `today`: `import_history_months` back.
    pub fn import_since(&self, today: chrono::NaiveDate) -> chrono::NaiveDate {
        today
            .checked_sub_months(chrono::Months::new(self.import_history_months))
            .unwrap_or(today)
    }
}

/// Months of history a Default Import asks for unless `IMPORT_HISTORY_MONTHS` says otherwise.
pub const DEFAULT_IMPORT_HISTORY_MONTHS: u32 = 12;

/// Every variable the functions read, with its meaning (the README and the template list them).
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "KONTOMATIK_BASE_URL",
        "Kontomatik API base URL (test or production)",
    ),
    (
        "KONTOMATIK_API_KEY",
        "Kontomatik API key (in AWS: resolved from SSM by the template)",
    ),
    ("TABLE_NAME", "the DynamoDB table"),
    ("IMPORT_QUEUE_URL", "the SQS import queue"),
    (
        "SENDER_EMAIL",
        "From address of every email (an SES identity)",
    ),
    ("PUBLIC_BASE_URL", "where the pages are served, https://…"),
    (
        "LINK_SIGNING_KEY",
        "HMAC key for links in emails, at least 32 characters",
    ),
    (
        "DEFAULT_LANGUAGE",
        "widget language when the form has none, e.g. en",
    ),
    ("DEFAULT_COUNTRY", "country when the form has none, e.g. pl"),
    ("ACCESS_MODE", "single, multiple or mixed"),
];

/// Variables read when present.
pub const OPTIONAL_VARIABLES: &[(&str, &str)] = &[
    (
        "SES_CONFIGURATION_SET",
        "SES configuration set for every email",
    ),
    ("COMPANY_NAME", "shown in pages and emails"),
    (
        "FOLLOW_UP_DELAY_MINUTES",
        "delay before a drop-off's follow-up is decided (default 60)",
    ),
    (
        "FOLLOW_UP_WINDOW_DAYS",
        "at most one follow-up per user in this many days (default 7)",
    ),
    (
        "STATS_TOKEN",
        "bearer token of GET /stats (in AWS: from SSM); unset: the route is off",
    ),
    (
        "IMPORT_HISTORY_MONTHS",
        "months of history Default Import asks for (`since`), 1-120 (default 12)",
    ),
];

/// The whole configuration of a function.
#[derive(Debug, Clone)]
pub struct Config {
    pub kontomatik_base_url: String,
    pub kontomatik_api_key: Secret,
    pub table_name: String,
    pub import_queue_url: String,
    pub sender_email: String,
    /// Optional SES configuration set (`SES_CONFIGURATION_SET`).
    pub ses_configuration_set: Option<String>,
    pub settings: Settings,
}

fn required(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn http_url(name: &'static str, raw: String) -> Result<String, ConfigError> {
    let ok = (raw.starts_with("https://") || raw.starts_with("http://"))
        && raw.len() > "http://".len()
        && !raw.contains(char::is_whitespace);
    if !ok {
        return Err(ConfigError::Invalid {
            name,
            reason: "expected an absolute http(s) URL".into(),
        });
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn whole_number(
    name: &'static str,
    raw: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError::Invalid {
            name,
            reason: format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

fn minutes(name: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    whole_number(name, raw, 0..=100_000).map(Duration::minutes)
}

fn days(name: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    whole_number(name, raw, 0..=3_650).map(Duration::days)
}

impl Config {
    /// Reads the configuration through `get` (the process environment in production).
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let invalid = |name: &'static str| {
            move |e: crate::domain::InvalidInput| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }
        };
        let signing_key = required(get, "LINK_SIGNING_KEY")?;
        if signing_key.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "LINK_SIGNING_KEY",
                reason: "use at least 32 characters".into(),
            });
        }
        let sender = required(get, "SENDER_EMAIL")?;
        if !sender.contains('@') {
            return Err(ConfigError::Invalid {
                name: "SENDER_EMAIL",
                reason: "expected an email address".into(),
            });
        }
        let mut settings = Settings::for_local(&http_url(
            "PUBLIC_BASE_URL",
            required(get, "PUBLIC_BASE_URL")?,
        )?);
        settings.default_language = Language::parse(&required(get, "DEFAULT_LANGUAGE")?)
            .map_err(invalid("DEFAULT_LANGUAGE"))?;
        settings.default_country = Country::parse(&required(get, "DEFAULT_COUNTRY")?)
            .map_err(invalid("DEFAULT_COUNTRY"))?;
        settings.access_mode =
            AccessMode::parse(&required(get, "ACCESS_MODE")?).map_err(invalid("ACCESS_MODE"))?;
        settings.link_signing_key = Secret::new(signing_key);
        if let Some(name) = get("COMPANY_NAME").filter(|v| !v.trim().is_empty()) {
            settings.company_name = name.trim().to_owned();
        }
        if let Some(raw) = get("FOLLOW_UP_DELAY_MINUTES").filter(|v| !v.trim().is_empty()) {
            settings.follow_up_delay = minutes("FOLLOW_UP_DELAY_MINUTES", &raw)?;
        }
        if let Some(raw) = get("FOLLOW_UP_WINDOW_DAYS").filter(|v| !v.trim().is_empty()) {
            settings.follow_up_window = days("FOLLOW_UP_WINDOW_DAYS", &raw)?;
        }
        if let Some(raw) = get("IMPORT_HISTORY_MONTHS").filter(|v| !v.trim().is_empty()) {
            settings.import_history_months =
                whole_number("IMPORT_HISTORY_MONTHS", &raw, 1..=120)? as u32;
        }
        if let Some(token) = get("STATS_TOKEN").filter(|v| !v.trim().is_empty()) {
            if token.trim().len() < 24 {
                return Err(ConfigError::Invalid {
                    name: "STATS_TOKEN",
                    reason: "use at least 24 characters".into(),
                });
            }
            settings.stats_token = Some(Secret::new(token.trim()));
        }
        Ok(Config {
            kontomatik_base_url: http_url(
                "KONTOMATIK_BASE_URL",
                required(get, "KONTOMATIK_BASE_URL")?,
            )?,
            kontomatik_api_key: Secret::new(required(get, "KONTOMATIK_API_KEY")?),
            table_name: required(get, "TABLE_NAME")?,
            import_queue_url: http_url("IMPORT_QUEUE_URL", required(get, "IMPORT_QUEUE_URL")?)?,
            sender_email: sender,
            ses_configuration_set: get("SES_CONFIGURATION_SET").filter(|v| !v.trim().is_empty()),
            settings,
        })
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "KONTOMATIK_BASE_URL",
                "https://test.api.kontomatik.com/".to_owned(),
            ),
            ("KONTOMATIK_API_KEY", "k-123".to_owned()),
            ("TABLE_NAME", "signin".to_owned()),
            (
                "IMPORT_QUEUE_URL",
                "https://sqs.eu-central-1.amazonaws.com/1/imports".to_owned(),
            ),
            ("SENDER_EMAIL", "no-reply@lender.example".to_owned()),
            (
                "PUBLIC_BASE_URL",
                "https://signin.lender.example/".to_owned(),
            ),
            ("LINK_SIGNING_KEY", "x".repeat(40)),
            ("DEFAULT_LANGUAGE", "pl".to_owned()),
            ("DEFAULT_COUNTRY", "PL".to_owned()),
            ("ACCESS_MODE", "single".to_owned()),
        ])
    }

    fn load(e: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(&|k| e.get(k).cloned())
    }

    #[test]
    fn a_complete_environment_loads() {
        let c = load(&env()).expect("valid");
        assert_eq!(c.kontomatik_base_url, "https://test.api.kontomatik.com");
        assert_eq!(
            c.settings.redirect_uri(),
            "https://signin.lender.example/kontomatik-signin"
        );
        assert_eq!(c.settings.default_country.as_str(), "pl");
        assert!(
            !format!("{c:?}").contains("k-123"),
            "the key is not in Debug"
        );
    }

    #[test]
    fn default_import_history_is_twelve_months_and_configurable() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("day");
        let c = load(&env()).expect("valid");
        assert_eq!(
            c.settings.import_since(today),
            chrono::NaiveDate::from_ymd_opt(2025, 11, 26).expect("day")
        );
        let mut e = env();
        e.insert("IMPORT_HISTORY_MONTHS", "3".into());
        e.insert("FOLLOW_UP_WINDOW_DAYS", "2".into());
        let c = load(&e).expect("valid");
        assert_eq!(
            c.settings.import_since(today),
            chrono::NaiveDate::from_ymd_opt(2026, 8, 26).expect("day")
        );
        assert_eq!(c.settings.follow_up_window, Duration::days(2));
    }

    #[test]
    fn every_missing_variable_is_named() {
        for (name, _) in VARIABLES {
            let mut e = env();
            e.remove(name);
            assert_eq!(load(&e).unwrap_err(), ConfigError::Missing(name), "{name}");
            e.insert(name, "   ".into());
            assert_eq!(
                load(&e).unwrap_err(),
                ConfigError::Missing(name),
                "{name} blank"
            );
        }
    }

    #[test]
    fn bad_values_are_named_with_the_reason() {
        for (name, value) in [
            ("PUBLIC_BASE_URL", "signin.lender.example"),
            ("KONTOMATIK_BASE_URL", "ftp://x"),
            ("LINK_SIGNING_KEY", "short"),
            ("DEFAULT_LANGUAGE", "xx"),
            ("DEFAULT_COUNTRY", "atlantis"),
            ("ACCESS_MODE", "sometimes"),
            ("SENDER_EMAIL", "nobody"),
            ("IMPORT_HISTORY_MONTHS", "0"),
            ("IMPORT_HISTORY_MONTHS", "twelve"),
            ("FOLLOW_UP_WINDOW_DAYS", "-1"),
        ] {
            let mut e = env();
            e.insert(name, value.into());
            let err = load(&e).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{name}: {err}"
            );
            assert!(err.to_string().contains(name));
        }
    }
}
