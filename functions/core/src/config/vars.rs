//! Every environment variable a function may read, in one table: its name (one constant each,
//! so no other file spells it), what it means (the docs and the template check list them),
//! whether a function that reads it needs it, and how its value is checked and applied.

use chrono::Duration;

use super::{
    ApplicantLogin, CommandWait, Config, ConfigError, EdgeOriginCheck, KontomatikConfig,
    LinkOrigins, MailConfig, Settings,
};
use crate::domain::{AccessMode, Country, Language, Secret};

pub const KONTOMATIK_BASE_URL: &str = "KONTOMATIK_BASE_URL";
pub const KONTOMATIK_API_KEY: &str = "KONTOMATIK_API_KEY";
pub const TABLE_NAME: &str = "TABLE_NAME";
pub const IMPORT_QUEUE_URL: &str = "IMPORT_QUEUE_URL";
pub const SENDER_EMAIL: &str = "SENDER_EMAIL";
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";
pub const LINK_SIGNING_KEY: &str = "LINK_SIGNING_KEY";
pub const DEFAULT_LANGUAGE: &str = "DEFAULT_LANGUAGE";
pub const DEFAULT_COUNTRY: &str = "DEFAULT_COUNTRY";
pub const ALLOWED_COUNTRIES: &str = "ALLOWED_COUNTRIES";
pub const ACCESS_MODE: &str = "ACCESS_MODE";
pub const SES_CONFIGURATION_SET: &str = "SES_CONFIGURATION_SET";
pub const COMPANY_NAME: &str = "COMPANY_NAME";
pub const FOLLOW_UP_DELAY_MINUTES: &str = "FOLLOW_UP_DELAY_MINUTES";
pub const FOLLOW_UP_WINDOW_DAYS: &str = "FOLLOW_UP_WINDOW_DAYS";
pub const STATS_TOKEN: &str = "STATS_TOKEN";
pub const IMPORT_HISTORY_MONTHS: &str = "IMPORT_HISTORY_MONTHS";
pub const START_LIMIT_PER_CLIENT_PER_HOUR: &str = "START_LIMIT_PER_CLIENT_PER_HOUR";
pub const LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY: &str = "LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY";
pub const LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY: &str = "LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY";
pub const APPLICANT_LOGIN: &str = "APPLICANT_LOGIN";
pub const USER_RETENTION_DAYS: &str = "USER_RETENTION_DAYS";
pub const IMPORT_RETENTION_DAYS: &str = "IMPORT_RETENTION_DAYS";
pub const STAFF_EMAILS: &str = "STAFF_EMAILS";
pub const LENDER_API_ROLE: &str = "LENDER_API_ROLE";
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
pub const IMPORT_COMMAND_WAIT: &str = "IMPORT_COMMAND_WAIT";
pub const KONTOMATIK_LINK_HOSTS: &str = "KONTOMATIK_LINK_HOSTS";
pub const KONTOMATIK_JOBS_QUOTA: &str = "KONTOMATIK_JOBS_QUOTA";
pub const EDGE_ORIGIN_SECRET: &str = "EDGE_ORIGIN_SECRET";
pub const EDGE_ORIGIN_CHECK: &str = "EDGE_ORIGIN_CHECK";

/// One variable: a row of [`ALL`].
pub struct Variable {
    pub name: &'static str,
    pub meaning: &'static str,
    /// A function that reads it fails to start without it.
    pub required: bool,
    /// Checks a (trimmed, non-empty) value and applies it; `Err` says why it is not valid.
    pub(super) apply: fn(&mut Loading, &str) -> Result<(), String>,
}

/// The variables a function that reads them needs.
pub fn required() -> impl Iterator<Item = &'static Variable> {
    ALL.iter().filter(|v| v.required)
}

/// What the variables read so far make of a [`Config`].
pub(super) struct Loading {
    allowed_countries: Option<Vec<Country>>,
    settings: Settings,
    table_name: Option<String>,
    kontomatik_base_url: Option<String>,
    kontomatik_api_key: Option<Secret>,
    import_queue_url: Option<String>,
    sender_email: Option<String>,
    configuration_set: Option<String>,
    event_bus: Option<String>,
}

impl Default for Loading {
    fn default() -> Self {
        Loading {
            settings: Settings::with_defaults(""),
            table_name: None,
            kontomatik_base_url: None,
            kontomatik_api_key: None,
            import_queue_url: None,
            sender_email: None,
            configuration_set: None,
            event_bus: None,
            allowed_countries: None,
        }
    }
}

impl Loading {
    /// The configuration, once every variable read has been applied: the checks that span
    /// two variables are made here.
    pub(super) fn finish(self) -> Result<Config, ConfigError> {
        let mut settings = self.settings;
        // Unset: the default country alone (a stack deployed before the variable keeps its one).
        settings.allowed_countries = self
            .allowed_countries
            .unwrap_or_else(|| vec![settings.default_country]);
        if !settings
            .allowed_countries
            .contains(&settings.default_country)
        {
            return Err(ConfigError::Invalid {
                name: DEFAULT_COUNTRY,
                reason: format!(
                    "{} is not among ALLOWED_COUNTRIES ({})",
                    settings.default_country,
                    settings
                        .allowed_countries
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        if settings.import_retention > settings.user_retention {
            return Err(ConfigError::Invalid {
                name: IMPORT_RETENTION_DAYS,
                reason: "keep import records no longer than user records (USER_RETENTION_DAYS), or erasure could not find them".into(),
            });
        }
        let kontomatik = match (self.kontomatik_base_url, self.kontomatik_api_key) {
            (Some(base_url), Some(api_key)) => Some(KontomatikConfig { base_url, api_key }),
            (Some(_), None) => return Err(ConfigError::Missing(KONTOMATIK_API_KEY)),
            (None, _) => None,
        };
        // A Kontomatik on the loopback interface (the local sandbox) may send users to itself.
        if let Some(k) = &kontomatik {
            if k.base_url.starts_with("http://") {
                let _ = settings.link_origins.allow_loopback_http(&k.base_url);
            }
        }
        Ok(Config {
            table_name: self.table_name.ok_or(ConfigError::Missing(TABLE_NAME))?,
            kontomatik,
            import_queue_url: self.import_queue_url,
            mail: self.sender_email.map(|sender_email| MailConfig {
                sender_email,
                configuration_set: self.configuration_set,
            }),
            event_bus: self.event_bus,
            settings,
        })
    }
}

fn http_url(raw: &str) -> Result<String, String> {
    let ok = (raw.starts_with("https://") || raw.starts_with("http://"))
        && raw.len() > "http://".len()
        && !raw.contains(char::is_whitespace);
    if !ok {
        return Err("expected an absolute http(s) URL".into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn whole_number(raw: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

fn parsed<T, E: ToString>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Every variable, required ones first.
pub const ALL: &[Variable] = &[
    Variable {
        name: KONTOMATIK_BASE_URL,
        meaning: "Kontomatik API base URL (test or production)",
        required: true,
        apply: |l, v| {
            l.kontomatik_base_url = Some(http_url(v)?);
            Ok(())
        },
    },
    Variable {
        name: KONTOMATIK_API_KEY,
        meaning: "Kontomatik API key (in AWS: resolved from SSM by the template)",
        required: true,
        apply: |l, v| {
            l.kontomatik_api_key = Some(Secret::new(v));
            Ok(())
        },
    },
    Variable {
        name: TABLE_NAME,
        meaning: "the DynamoDB table",
        required: true,
        apply: |l, v| {
            l.table_name = Some(v.to_owned());
            Ok(())
        },
    },
    Variable {
        name: IMPORT_QUEUE_URL,
        meaning: "the SQS import queue",
        required: true,
        apply: |l, v| {
            l.import_queue_url = Some(http_url(v)?);
            Ok(())
        },
    },
    Variable {
        name: SENDER_EMAIL,
        meaning: "From address of every email (an SES identity)",
        required: true,
        apply: |l, v| {
            if !v.contains('@') {
                return Err("expected an email address".into());
            }
            l.sender_email = Some(v.to_owned());
            Ok(())
        },
    },
    Variable {
        name: PUBLIC_BASE_URL,
        meaning: "where the pages are served, https://…",
        required: true,
        apply: |l, v| {
            l.settings.public_base_url = http_url(v)?;
            Ok(())
        },
    },
    Variable {
        name: LINK_SIGNING_KEY,
        meaning: "HMAC key for links in emails, at least 32 characters",
        required: true,
        apply: |l, v| {
            // one key, or `id:key,id:key…` (the first signs, all verify: crate::domain::links)
            let key = Secret::new(v);
            if let Some(reason) = crate::domain::links::key_problem(&key) {
                return Err(reason);
            }
            l.settings.link_signing_key = Some(key);
            Ok(())
        },
    },
    Variable {
        name: DEFAULT_LANGUAGE,
        meaning: "widget language when the form has none, e.g. en",
        required: true,
        apply: |l, v| {
            l.settings.default_language = parsed(Language::parse(v))?;
            Ok(())
        },
    },
    Variable {
        name: ALLOWED_COUNTRIES,
        meaning: "the countries of operation, comma-separated, e.g. pl or pl,cz: the form offers only these and a start for another is refused; DEFAULT_COUNTRY must be one of them (default: DEFAULT_COUNTRY alone)",
        required: false,
        apply: |l, v| {
            let mut countries: Vec<Country> = vec![];
            for c in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                let c = parsed(Country::parse(c))?;
                if !countries.contains(&c) {
                    countries.push(c);
                }
            }
            if countries.is_empty() {
                return Err("name at least one country".into());
            }
            l.allowed_countries = Some(countries);
            Ok(())
        },
    },
    Variable {
        name: DEFAULT_COUNTRY,
        meaning: "country when the form has none, e.g. pl",
        required: true,
        apply: |l, v| {
            l.settings.default_country = parsed(Country::parse(v))?;
            Ok(())
        },
    },
    Variable {
        name: ACCESS_MODE,
        meaning: "single, multiple or mixed",
        required: true,
        apply: |l, v| {
            l.settings.access_mode = parsed(AccessMode::parse(v))?;
            Ok(())
        },
    },
    Variable {
        name: SES_CONFIGURATION_SET,
        meaning: "SES configuration set for every email",
        required: false,
        apply: |l, v| {
            l.configuration_set = Some(v.to_owned());
            Ok(())
        },
    },
    Variable {
        name: COMPANY_NAME,
        meaning: "shown in pages and emails",
        required: false,
        apply: |l, v| {
            l.settings.company_name = v.to_owned();
            Ok(())
        },
    },
    Variable {
        name: FOLLOW_UP_DELAY_MINUTES,
        meaning: "delay before a drop-off's follow-up is decided (default 60)",
        required: false,
        apply: |l, v| {
            l.settings.follow_up_delay = Duration::minutes(whole_number(v, 0..=100_000)?);
            Ok(())
        },
    },
    Variable {
        name: FOLLOW_UP_WINDOW_DAYS,
        meaning: "at most one follow-up per user in this many days (default 7)",
        required: false,
        apply: |l, v| {
            l.settings.follow_up_window = Duration::days(whole_number(v, 0..=3_650)?);
            Ok(())
        },
    },
    Variable {
        name: STATS_TOKEN,
        meaning: "bearer token of GET /stats (in AWS: from SSM); unset: the route is off",
        required: false,
        apply: |l, v| {
            if v.len() < 24 {
                return Err("use at least 24 characters".into());
            }
            l.settings.stats_token = Some(Secret::new(v));
            Ok(())
        },
    },
    Variable {
        name: IMPORT_HISTORY_MONTHS,
        meaning: "months of history Default Import asks for (`since`), 1-120 (default 12)",
        required: false,
        apply: |l, v| {
            l.settings.import_history_months = whole_number(v, 1..=120)? as u32;
            Ok(())
        },
    },
    Variable {
        name: START_LIMIT_PER_CLIENT_PER_HOUR,
        meaning: "sign-ins one client address may start in an hour (default 20)",
        required: false,
        apply: |l, v| {
            l.settings.limits.starts_per_client_per_hour = whole_number(v, 1..=100_000)? as u64;
            Ok(())
        },
    },
    Variable {
        name: LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY,
        meaning: "sign-in links emailed to one address in a day (default 3)",
        required: false,
        apply: |l, v| {
            l.settings.limits.link_emails_per_recipient_per_day = whole_number(v, 1..=1_000)? as u64;
            Ok(())
        },
    },
    Variable {
        name: LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY,
        meaning: "applicant log-in links emailed to one mailbox in a day (default 5)",
        required: false,
        apply: |l, v| {
            l.settings.limits.login_emails_per_recipient_per_day =
                whole_number(v, 1..=1_000)? as u64;
            Ok(())
        },
    },
    Variable {
        name: APPLICANT_LOGIN,
        meaning: "optional (default) or required: whether applicants log in by emailed link before starting",
        required: false,
        apply: |l, v| {
            l.settings.applicant_login = ApplicantLogin::parse(v)?;
            Ok(())
        },
    },
    Variable {
        name: USER_RETENTION_DAYS,
        meaning: "user records are deleted this many days after the last start (default 365)",
        required: false,
        apply: |l, v| {
            l.settings.user_retention = Duration::days(whole_number(v, 1..=3_650)?);
            Ok(())
        },
    },
    Variable {
        name: IMPORT_RETENTION_DAYS,
        meaning: "import records are deleted this many days after the import (default 90)",
        required: false,
        apply: |l, v| {
            l.settings.import_retention = Duration::days(whole_number(v, 1..=3_650)?);
            Ok(())
        },
    },
    Variable {
        name: STAFF_EMAILS,
        meaning: "who may sign in as staff by emailed link, comma-separated `address=role[+role]` (roles `marketing`: the funnel, `credit`: the applications; a bare address is `marketing`; default: nobody)",
        required: false,
        apply: |l, v| {
            l.settings.staff = super::StaffMember::parse_list(v)?;
            Ok(())
        },
    },
    Variable {
        name: LENDER_API_ROLE,
        meaning: "the IAM role (its name) whose sessions may call the lender's API; any other caller API Gateway verified is refused (default: unset, any verified caller)",
        required: false,
        apply: |l, v| {
            let ok = (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
            if !ok {
                return Err("an IAM role name: 1 to 64 of letters, digits and +=,.@_-".into());
            }
            l.settings.lender_api_role = Some(v.to_owned());
            Ok(())
        },
    },
    Variable {
        name: EVENT_BUS_NAME,
        meaning: "the EventBridge bus (name or ARN) that the decisive moments are published to (default: none, events off)",
        required: false,
        apply: |l, v| {
            l.event_bus = Some(v.to_owned());
            Ok(())
        },
    },
    Variable {
        name: IMPORT_COMMAND_WAIT,
        meaning: "where the worker waits between import command polls: delayed-message (default: a delayed SQS message, nothing billed while waiting) or in-invocation",
        required: false,
        apply: |l, v| {
            l.settings.command_wait = CommandWait::parse(v)?;
            Ok(())
        },
    },
    Variable {
        name: EDGE_ORIGIN_SECRET,
        meaning: "the header value CloudFront adds to every request it forwards (EdgeWebAclArn set; in AWS from SSM), at least 32 characters: a request with it passed the edge, and its client's address is the one CloudFront saw (default: unset, no edge)",
        required: false,
        apply: |l, v| {
            if v.len() < 32 {
                return Err("use at least 32 characters".into());
            }
            l.settings.edge_origin_secret = Some(Secret::new(v));
            Ok(())
        },
    },
    Variable {
        name: EDGE_ORIGIN_CHECK,
        meaning: "with EDGE_ORIGIN_SECRET: trust (default; a request without the header is served as before, for the time DNS still points at the API) or require (a request without it went around the edge: a page is sent on to the domain, anything else refused)",
        required: false,
        apply: |l, v| {
            l.settings.edge_origin_check = EdgeOriginCheck::parse(v)?;
            Ok(())
        },
    },
    Variable {
        name: KONTOMATIK_JOBS_QUOTA,
        meaning: "Default Imports the worker lets run at Kontomatik at once (the account's jobs quota), 1-500 (the slots are one table item, written at each take); the others wait their turn on the queue (default: unset, every import is started and a refused one waits a minute)",
        required: false,
        apply: |l, v| {
            l.settings.jobs_quota = Some(whole_number(v, 1..=500)? as u32);
            Ok(())
        },
    },
    Variable {
        name: KONTOMATIK_LINK_HOSTS,
        meaning: "hosts a Kontomatik link may send the user to, https only (default kontomatik.com, *.kontomatik.com)",
        required: false,
        apply: |l, v| {
            l.settings.link_origins = LinkOrigins::parse(v)?;
            Ok(())
        },
    },
];
