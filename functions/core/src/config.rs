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
    /// Key of the HMAC that signs links in emails; only the functions that sign or check links
    /// read it (`None` elsewhere, and using it there is an error, never an unsigned link).
    pub link_signing_key: Option<Secret>,
    /// Shown in pages and emails.
    pub company_name: String,
    pub pacing: Pacing,
    /// Wait between two import command polls (Kontomatik: 2–5 s).
    pub import_poll_interval: StdDuration,
    /// Where the worker waits between two command polls (`IMPORT_COMMAND_WAIT`).
    pub command_wait: CommandWait,
    /// After Kontomatik's `JobsQuotaExceeded` (nothing was started), the import is tried again
    /// this much later.
    pub jobs_quota_backoff: StdDuration,
    /// A worker that took the import claim this long ago without storing a command id is taken
    /// for dead; its import is never started again (Default Import is once per session).
    pub import_claim_lease: Duration,
    /// How long before its deadline a worker hands the import on to a delayed message.
    pub worker_safety_margin: Duration,
    /// The time one Kontomatik call may take, with the writes after it: the client's per-call
    /// timeout (15 s) plus 5 s. No call is started with less time than this left before the
    /// invocation's deadline (a status check by the poller, Default Import by the worker).
    pub kontomatik_call_budget: Duration,
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
    /// How long a page's form token works (a form left open longer is shown again, filled in,
    /// with a fresh token).
    pub form_token_life: Duration,
    /// Abuse limits: starts (each costs a Kontomatik call) per client address per hour, and
    /// sign-in links emailed per recipient per day.
    pub limits: Limits,
    /// User records are deleted this long after the person's last start.
    pub user_retention: Duration,
    /// Import records (the analysis) are deleted this long after the import.
    pub import_retention: Duration,
    /// Where a Kontomatik link may send the user.
    pub link_origins: LinkOrigins,
    /// Who may sign in to the funnel page (marketing); nobody when empty.
    pub staff_emails: Vec<crate::domain::Email>,
    /// Whether an applicant must log in (by emailed link) before starting (`APPLICANT_LOGIN`).
    pub applicant_login: ApplicantLogin,
}

/// Whether applicants log in before they start (`APPLICANT_LOGIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicantLogin {
    /// Anyone may start; a logged-in person keeps one owner id across applications, an
    /// anonymous start gets an owner id of its own.
    Optional,
    /// The start form is shown only to a logged-in person, with their verified address; the
    /// callback shows a sign-in's page only to its logged-in owner.
    Required,
}

impl ApplicantLogin {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            other => Err(format!("{other:?}: expected optional or required")),
        }
    }
}

/// Where the worker waits between two polls of an import command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandWait {
    /// The job goes back on the queue with the wait as its delay and the invocation ends: a
    /// waiting import holds no worker and bills nothing; each poll is a short invocation.
    DelayedMessage,
    /// The invocation sleeps between polls (fewer requests, but billed while waiting, and a
    /// worker is held for the whole import).
    InInvocation,
}

impl CommandWait {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "delayed-message" => Ok(Self::DelayedMessage),
            "in-invocation" => Ok(Self::InInvocation),
            other => Err(format!(
                "{other:?}: expected delayed-message or in-invocation"
            )),
        }
    }
}

/// The abuse limits (see [`Settings::limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub starts_per_client_per_hour: u64,
    pub link_emails_per_recipient_per_day: u64,
    /// Applicant log-in links emailed to one mailbox per day.
    pub login_emails_per_recipient_per_day: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            starts_per_client_per_hour: 20,
            link_emails_per_recipient_per_day: 3,
            login_emails_per_recipient_per_day: 5,
        }
    }
}

/// User records are kept this long after the person's last start unless
/// `USER_RETENTION_DAYS` says otherwise.
pub fn default_user_retention() -> Duration {
    Duration::days(365)
}

/// Import records are kept this long unless `IMPORT_RETENTION_DAYS` says otherwise.
pub fn default_import_retention() -> Duration {
    Duration::days(90)
}

/// The places a Kontomatik link may send the user to: `https` on an allowed host (an exact
/// name, or `*.` and a domain for its subdomains), or one exact `http://` origin on the
/// loopback interface (the local sandbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOrigins {
    https_hosts: Vec<String>,
    loopback_http: Vec<(String, u16)>,
}

impl Default for LinkOrigins {
    /// Kontomatik's own domain and its subdomains.
    fn default() -> Self {
        LinkOrigins {
            https_hosts: vec!["kontomatik.com".into(), "*.kontomatik.com".into()],
            loopback_http: vec![],
        }
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl LinkOrigins {
    /// A comma-separated list: `kontomatik.com, *.kontomatik.com, http://127.0.0.1:8090`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut origins = LinkOrigins {
            https_hosts: vec![],
            loopback_http: vec![],
        };
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.starts_with("http://") {
                origins.allow_loopback_http(entry)?;
                continue;
            }
            let host = entry.strip_prefix("https://").unwrap_or(entry);
            let bare = host.strip_prefix("*.").unwrap_or(host);
            let valid = !bare.is_empty()
                && bare.contains('.')
                && bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !valid {
                return Err(format!("{entry:?} is not a host name like kontomatik.com"));
            }
            origins.https_hosts.push(host.to_ascii_lowercase());
        }
        if origins.https_hosts.is_empty() && origins.loopback_http.is_empty() {
            return Err("name at least one host".into());
        }
        Ok(origins)
    }

    /// Also allows the `http://` origin of `base` (e.g. the local sandbox), which must be on
    /// the loopback interface.
    pub fn allow_loopback_http(&mut self, base: &str) -> Result<(), String> {
        let url = url::Url::parse(base).map_err(|e| format!("{base:?}: {e}"))?;
        let loopback = url.host().is_some_and(|h| is_loopback(&h));
        if url.scheme() != "http" || !loopback {
            return Err(format!(
                "{base:?}: plain http is allowed only on the loopback interface"
            ));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(80);
        self.loopback_http.push((host, port));
        Ok(())
    }

    /// `link` as parsed and written out again, if the user may be sent there.
    pub fn allowed(&self, link: &str) -> Option<String> {
        let url = url::Url::parse(link).ok()?;
        self.allows(link).then(|| url.to_string())
    }

    /// Whether the user may be sent to `link`.
    pub fn allows(&self, link: &str) -> bool {
        let Ok(url) = url::Url::parse(link) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        match url.scheme() {
            "https" => {
                url.port().is_none()
                    && self
                        .https_hosts
                        .iter()
                        .any(|allowed| match allowed.strip_prefix("*.") {
                            Some(domain) => host
                                .strip_suffix(domain)
                                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                            None => host == *allowed,
                        })
            }
            "http" => {
                let port = url.port_or_known_default().unwrap_or(80);
                self.loopback_http
                    .iter()
                    .any(|(h, p)| *h == host && *p == port)
            }
            _ => false,
        }
    }
}

impl Settings {
    /// The callback Kontomatik sends the user back to.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.public_base_url, crate::CALLBACK_PATH)
    }

    /// Settings with every tunable at its default and no link-signing key or stats token.
    pub fn with_defaults(public_base_url: &str) -> Self {
        Settings {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            default_language: Language::FIRST,
            default_country: Country::FIRST,
            access_mode: AccessMode::Single,
            link_signing_key: None,
            company_name: "Lender".into(),
            pacing: Pacing::default(),
            import_poll_interval: StdDuration::from_secs(3),
            command_wait: CommandWait::DelayedMessage,
            jobs_quota_backoff: StdDuration::from_secs(60),
            import_claim_lease: Duration::minutes(2),
            worker_safety_margin: Duration::seconds(20),
            kontomatik_call_budget: Duration::seconds(20),
            follow_up_delay: Duration::hours(1),
            follow_up_window: Duration::days(7),
            resume_link_life: Duration::days(7),
            unsubscribe_link_life: Duration::days(365),
            stats_token: None,
            import_history_months: DEFAULT_IMPORT_HISTORY_MONTHS,
            form_token_life: Duration::hours(2),
            limits: Limits::default(),
            user_retention: default_user_retention(),
            import_retention: default_import_retention(),
            link_origins: LinkOrigins::default(),
            staff_emails: vec![],
            applicant_login: ApplicantLogin::Optional,
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

/// Every variable the functions read, with its meaning (docs/architecture.md and the template list them).
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
    (
        "START_LIMIT_PER_CLIENT_PER_HOUR",
        "sign-ins one client address may start in an hour (default 20)",
    ),
    (
        "LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY",
        "sign-in links emailed to one address in a day (default 3)",
    ),
    (
        "LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY",
        "applicant log-in links emailed to one mailbox in a day (default 5)",
    ),
    (
        "APPLICANT_LOGIN",
        "optional (default) or required: whether applicants log in by emailed link before starting",
    ),
    (
        "USER_RETENTION_DAYS",
        "user records are deleted this many days after the last start (default 365)",
    ),
    (
        "IMPORT_RETENTION_DAYS",
        "import records are deleted this many days after the import (default 90)",
    ),
    (
        "STAFF_EMAILS",
        "who may sign in to the funnel page by emailed link, comma-separated (default: nobody)",
    ),
    (
        "EVENT_BUS_NAME",
        "the EventBridge bus (name or ARN) that the decisive moments are published to (default: none, events off)",
    ),
    (
        "IMPORT_COMMAND_WAIT",
        "where the worker waits between import command polls: delayed-message (default: a delayed SQS message, nothing billed while waiting) or in-invocation",
    ),
    (
        "KONTOMATIK_LINK_HOSTS",
        "hosts a Kontomatik link may send the user to, https only (default kontomatik.com, *.kontomatik.com)",
    ),
];

/// Where Kontomatik is and the key to it (the functions that call Kontomatik).
#[derive(Debug, Clone)]
pub struct KontomatikConfig {
    pub base_url: String,
    pub api_key: Secret,
}

/// How email is sent (the functions that send email).
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub sender_email: String,
    /// Optional SES configuration set (`SES_CONFIGURATION_SET`).
    pub configuration_set: Option<String>,
}

/// The configuration of one function: only what it reads. A part the function does not read is
/// `None`, and the function is built without that adapter.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub kontomatik: Option<KontomatikConfig>,
    pub import_queue_url: Option<String>,
    pub mail: Option<MailConfig>,
    /// The EventBridge bus for other systems (`EVENT_BUS_NAME`); events are off without one.
    pub event_bus: Option<String>,
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
    /// Reads the variables in `reads` through `get` (the process environment in production);
    /// every other variable is ignored even when set. A variable of [`VARIABLES`] that the
    /// function reads must be set.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        reads: &[&str],
    ) -> Result<Config, ConfigError> {
        let reads_var = |name: &str| reads.contains(&name);
        let get = |name: &str| if reads_var(name) { get(name) } else { None };
        let get: &dyn Fn(&str) -> Option<String> = &get;
        // A required variable, if this function reads it.
        let need = |name: &'static str| -> Result<Option<String>, ConfigError> {
            if reads_var(name) {
                required(get, name).map(Some)
            } else {
                Ok(None)
            }
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let invalid = |name: &'static str| {
            move |e: crate::domain::InvalidInput| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }
        };
        let public_base_url = match need("PUBLIC_BASE_URL")? {
            Some(raw) => http_url("PUBLIC_BASE_URL", raw)?,
            None => String::new(),
        };
        let mut settings = Settings::with_defaults(&public_base_url);
        if let Some(key) = need("LINK_SIGNING_KEY")? {
            // one key, or `id:key,id:key…` (the first signs, all verify: crate::links)
            let key = Secret::new(key);
            if let Some(reason) = crate::links::key_problem(&key) {
                return Err(ConfigError::Invalid {
                    name: "LINK_SIGNING_KEY",
                    reason,
                });
            }
            settings.link_signing_key = Some(key);
        }
        let mail = match need("SENDER_EMAIL")? {
            Some(sender) if !sender.contains('@') => {
                return Err(ConfigError::Invalid {
                    name: "SENDER_EMAIL",
                    reason: "expected an email address".into(),
                })
            }
            Some(sender_email) => Some(MailConfig {
                sender_email,
                configuration_set: optional("SES_CONFIGURATION_SET").map(|v| v.trim().to_owned()),
            }),
            None => None,
        };
        if let Some(raw) = need("DEFAULT_LANGUAGE")? {
            settings.default_language =
                Language::parse(&raw).map_err(invalid("DEFAULT_LANGUAGE"))?;
        }
        if let Some(raw) = need("DEFAULT_COUNTRY")? {
            settings.default_country = Country::parse(&raw).map_err(invalid("DEFAULT_COUNTRY"))?;
        }
        if let Some(raw) = need("ACCESS_MODE")? {
            settings.access_mode = AccessMode::parse(&raw).map_err(invalid("ACCESS_MODE"))?;
        }
        if let Some(name) = optional("COMPANY_NAME") {
            settings.company_name = name.trim().to_owned();
        }
        if let Some(raw) = optional("FOLLOW_UP_DELAY_MINUTES") {
            settings.follow_up_delay = minutes("FOLLOW_UP_DELAY_MINUTES", &raw)?;
        }
        if let Some(raw) = optional("FOLLOW_UP_WINDOW_DAYS") {
            settings.follow_up_window = days("FOLLOW_UP_WINDOW_DAYS", &raw)?;
        }
        if let Some(raw) = optional("IMPORT_COMMAND_WAIT") {
            settings.command_wait =
                CommandWait::parse(&raw).map_err(|reason| ConfigError::Invalid {
                    name: "IMPORT_COMMAND_WAIT",
                    reason,
                })?;
        }
        if let Some(raw) = optional("IMPORT_HISTORY_MONTHS") {
            settings.import_history_months =
                whole_number("IMPORT_HISTORY_MONTHS", &raw, 1..=120)? as u32;
        }
        if let Some(token) = optional("STATS_TOKEN") {
            if token.trim().len() < 24 {
                return Err(ConfigError::Invalid {
                    name: "STATS_TOKEN",
                    reason: "use at least 24 characters".into(),
                });
            }
            settings.stats_token = Some(Secret::new(token.trim()));
        }
        if let Some(raw) = optional("START_LIMIT_PER_CLIENT_PER_HOUR") {
            settings.limits.starts_per_client_per_hour =
                whole_number("START_LIMIT_PER_CLIENT_PER_HOUR", &raw, 1..=100_000)? as u64;
        }
        if let Some(raw) = optional("LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY") {
            settings.limits.link_emails_per_recipient_per_day =
                whole_number("LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY", &raw, 1..=1_000)? as u64;
        }
        if let Some(raw) = optional("LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY") {
            settings.limits.login_emails_per_recipient_per_day =
                whole_number("LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY", &raw, 1..=1_000)? as u64;
        }
        if let Some(raw) = optional("APPLICANT_LOGIN") {
            settings.applicant_login =
                ApplicantLogin::parse(&raw).map_err(|reason| ConfigError::Invalid {
                    name: "APPLICANT_LOGIN",
                    reason,
                })?;
        }
        if let Some(raw) = optional("USER_RETENTION_DAYS") {
            settings.user_retention =
                whole_number("USER_RETENTION_DAYS", &raw, 1..=3_650).map(Duration::days)?;
        }
        if let Some(raw) = optional("IMPORT_RETENTION_DAYS") {
            settings.import_retention =
                whole_number("IMPORT_RETENTION_DAYS", &raw, 1..=3_650).map(Duration::days)?;
        }
        if let Some(raw) = optional("KONTOMATIK_LINK_HOSTS") {
            settings.link_origins =
                LinkOrigins::parse(&raw).map_err(|reason| ConfigError::Invalid {
                    name: "KONTOMATIK_LINK_HOSTS",
                    reason,
                })?;
        }
        if let Some(raw) = optional("STAFF_EMAILS") {
            settings.staff_emails = raw
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| crate::domain::Email::parse(e).map_err(invalid("STAFF_EMAILS")))
                .collect::<Result<_, _>>()?;
        }
        if settings.import_retention > settings.user_retention {
            return Err(ConfigError::Invalid {
                name: "IMPORT_RETENTION_DAYS",
                reason: "keep import records no longer than user records (USER_RETENTION_DAYS), or erasure could not find them".into(),
            });
        }
        let kontomatik = match need("KONTOMATIK_BASE_URL")? {
            Some(raw) => Some(KontomatikConfig {
                base_url: http_url("KONTOMATIK_BASE_URL", raw)?,
                api_key: Secret::new(required(get, "KONTOMATIK_API_KEY")?),
            }),
            None => None,
        };
        // A Kontomatik on the loopback interface (the local sandbox) may send users to itself.
        if let Some(k) = &kontomatik {
            if k.base_url.starts_with("http://") {
                let _ = settings.link_origins.allow_loopback_http(&k.base_url);
            }
        }
        let import_queue_url = match need("IMPORT_QUEUE_URL")? {
            Some(raw) => Some(http_url("IMPORT_QUEUE_URL", raw)?),
            None => None,
        };
        Ok(Config {
            table_name: required(get, "TABLE_NAME")?,
            kontomatik,
            import_queue_url,
            mail,
            event_bus: optional("EVENT_BUS_NAME").map(|v| v.trim().to_owned()),
            settings,
        })
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

    fn every_name() -> Vec<&'static str> {
        VARIABLES
            .iter()
            .chain(OPTIONAL_VARIABLES)
            .map(|(n, _)| *n)
            .collect()
    }

    fn load(e: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(&|k| e.get(k).cloned(), &every_name())
    }

    #[test]
    fn a_complete_environment_loads() {
        let c = load(&env()).expect("valid");
        assert_eq!(
            c.kontomatik.as_ref().expect("read").base_url,
            "https://test.api.kontomatik.com"
        );
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
    fn a_function_reads_only_its_own_variables() {
        let mut e = env();
        e.insert("ACCESS_MODE", "sometimes".into());
        let get = |k: &str| e.get(k).cloned();
        let c = Config::from_lookup(&get, &["TABLE_NAME", "LINK_SIGNING_KEY", "PUBLIC_BASE_URL"])
            .expect("a bad variable the function does not read is ignored");
        assert!(c.kontomatik.is_none() && c.mail.is_none() && c.import_queue_url.is_none());
        assert!(c.settings.link_signing_key.is_some());
        assert_eq!(c.settings.access_mode, AccessMode::Single);
        let c = Config::from_lookup(&get, &["TABLE_NAME", "PUBLIC_BASE_URL"]).expect("valid");
        assert!(c.settings.link_signing_key.is_none(), "not read, not kept");
        let none = |_: &str| None;
        assert_eq!(
            Config::from_lookup(&none, &["TABLE_NAME"]).unwrap_err(),
            ConfigError::Missing("TABLE_NAME")
        );
        let only_table = |k: &str| (k == "TABLE_NAME").then(|| "t".to_owned());
        assert_eq!(
            Config::from_lookup(&only_table, &["TABLE_NAME", "SENDER_EMAIL"]).unwrap_err(),
            ConfigError::Missing("SENDER_EMAIL")
        );
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
            ("START_LIMIT_PER_CLIENT_PER_HOUR", "0"),
            ("LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY", "many"),
            ("USER_RETENTION_DAYS", "0"),
            ("IMPORT_RETENTION_DAYS", "-5"),
            ("KONTOMATIK_LINK_HOSTS", "http://evil.example"),
            ("KONTOMATIK_LINK_HOSTS", "evil/path"),
            ("KONTOMATIK_LINK_HOSTS", " , "),
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

    #[test]
    fn kontomatik_links_go_only_to_allowed_https_hosts() {
        let default = LinkOrigins::default();
        for ok in [
            "https://signin.kontomatik.com/r/abc",
            "https://kontomatik.com/x",
            "https://test.signin.kontomatik.com/x?y=1",
        ] {
            assert!(default.allows(ok), "{ok}");
        }
        for bad in [
            "http://signin.kontomatik.com/r/abc",
            "https://kontomatik.com.evil.example/x",
            "https://evilkontomatik.com/x",
            "https://signin.kontomatik.com@evil.example/x",
            "https://user@signin.kontomatik.com/x",
            "https://signin.kontomatik.com:8443/x",
            "javascript:alert(1)",
            "//signin.kontomatik.com/x",
            "not a url",
            "http://127.0.0.1:8090/signin/1",
        ] {
            assert!(!default.allows(bad), "{bad}");
        }
        let local = LinkOrigins::parse("kontomatik.com, http://127.0.0.1:8090").expect("valid");
        assert!(local.allows("http://127.0.0.1:8090/signin/1"));
        assert!(!local.allows("http://127.0.0.1:8091/signin/1"));
        assert!(
            !local.allows("https://signin.kontomatik.com/x"),
            "no wildcard given"
        );
        assert!(LinkOrigins::parse("http://10.0.0.5:8090").is_err());

        // The local sandbox is allowed because Kontomatik itself is on the loopback interface.
        let mut e = env();
        e.insert("KONTOMATIK_BASE_URL", "http://127.0.0.1:8090".into());
        let c = load(&e).expect("valid");
        assert!(c
            .settings
            .link_origins
            .allows("http://127.0.0.1:8090/signin/1"));
        assert!(c
            .settings
            .link_origins
            .allows("https://signin.kontomatik.com/r"));
        let c = load(&env()).expect("valid");
        assert!(!c
            .settings
            .link_origins
            .allows("http://127.0.0.1:8090/signin/1"));
    }
}
