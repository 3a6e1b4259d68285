//! Configuration from environment variables, validated once at start-up. A missing or bad value
//! stops the function with a message that names the variable.

use std::time::Duration as StdDuration;

use chrono::Duration;
use thiserror::Error;

pub mod vars;
use vars::Loading;

use crate::domain::pacing::Pacing;
use crate::domain::{AccessMode, Country, Language, Secret};

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
    /// The countries of operation (`ALLOWED_COUNTRIES`; unset: the default country alone): the
    /// form offers only these and a start for another is refused. The default country is one
    /// of them.
    pub allowed_countries: Vec<Country>,
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
    /// Default Imports let run at Kontomatik at once (`KONTOMATIK_JOBS_QUOTA`): an import
    /// starts only with a slot of this quota, held until its command ends; `None`: no
    /// admission (a refused import waits [`Settings::jobs_quota_backoff`]).
    pub jobs_quota: Option<u32>,
    /// How long an import waits for a slot before it looks again (and as much again, spread).
    pub import_slot_wait: StdDuration,
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
    /// Behind CloudFront (`EDGE_ORIGIN_SECRET`): the value of [`EDGE_ORIGIN_HEADER`] on every
    /// request that passed the edge.
    pub edge_origin_secret: Option<Secret>,
    /// What a request without that header gets (`EDGE_ORIGIN_CHECK`).
    pub edge_origin_check: EdgeOriginCheck,
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
    /// Who may sign in as staff, and what each may see; nobody when empty (`STAFF_EMAILS`).
    pub staff: Vec<StaffMember>,
    /// The IAM role whose sessions may call the lender's API (`LENDER_API_ROLE`); `None`: any
    /// caller API Gateway verified.
    pub lender_api_role: Option<String>,
    /// Whether an applicant must log in (by emailed link) before starting (`APPLICANT_LOGIN`).
    pub applicant_login: ApplicantLogin,
}

impl Settings {
    /// Whether `caller` (the ARN API Gateway verified) may use the lender's API: with
    /// [`Settings::lender_api_role`], only a session of that role
    /// (`arn:<partition>:sts::<account>:assumed-role/<role>/<session>`).
    pub fn lender_api_caller_allowed(&self, caller: &str) -> bool {
        let Some(role) = &self.lender_api_role else {
            return true;
        };
        let parts: Vec<&str> = caller.splitn(6, ':').collect();
        match parts.as_slice() {
            [arn, _partition, "sts", "", _account, resource] if *arn == "arn" => resource
                .strip_prefix("assumed-role/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(name, session)| name == role && !session.is_empty()),
            _ => false,
        }
    }
}

/// What a staff member may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// The funnel (`/stats`).
    Marketing,
    /// The applications (`/cases`): the applicants, their analysis, and the next step.
    Credit,
}

impl StaffRole {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "marketing" => Some(StaffRole::Marketing),
            "credit" => Some(StaffRole::Credit),
            _ => None,
        }
    }
}

/// One address on `STAFF_EMAILS` and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub email: crate::domain::Email,
    pub roles: Vec<StaffRole>,
}

impl StaffMember {
    pub fn may(&self, role: StaffRole) -> bool {
        self.roles.contains(&role)
    }

    /// `STAFF_EMAILS`: comma-separated `address=role[+role]` (roles `marketing`, `credit`); a
    /// bare address is `marketing` (what the list meant before roles). An address listed twice
    /// has the roles of both entries.
    pub fn parse_list(raw: &str) -> Result<Vec<StaffMember>, String> {
        let entries: Vec<StaffMember> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let (address, roles) = match entry.rsplit_once('=') {
                    Some((a, r)) => (a, r),
                    None => (entry, "marketing"),
                };
                let email = crate::domain::Email::parse(address.trim())
                    .map_err(|e| format!("{address}: {e}"))?;
                let roles = roles
                    .split('+')
                    .map(|r| {
                        StaffRole::parse(r.trim()).ok_or_else(|| {
                            format!("{address}: unknown role {r:?} (marketing or credit)")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(StaffMember { email, roles })
            })
            .collect::<Result<_, String>>()?;
        let mut members: Vec<StaffMember> = vec![];
        for entry in entries {
            let key = entry.email.user_key();
            match members.iter_mut().find(|m| m.email.user_key() == key) {
                Some(m) => {
                    for r in entry.roles {
                        if !m.roles.contains(&r) {
                            m.roles.push(r);
                        }
                    }
                }
                None => members.push(entry),
            }
        }
        Ok(members)
    }
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
            allowed_countries: vec![Country::FIRST],
            access_mode: AccessMode::Single,
            link_signing_key: None,
            company_name: "Lender".into(),
            pacing: Pacing::default(),
            import_poll_interval: StdDuration::from_secs(3),
            command_wait: CommandWait::DelayedMessage,
            jobs_quota_backoff: StdDuration::from_secs(60),
            jobs_quota: None,
            import_slot_wait: StdDuration::from_secs(10),
            import_claim_lease: Duration::minutes(2),
            worker_safety_margin: Duration::seconds(20),
            kontomatik_call_budget: Duration::seconds(20),
            follow_up_delay: Duration::hours(1),
            follow_up_window: Duration::days(7),
            resume_link_life: Duration::days(7),
            unsubscribe_link_life: Duration::days(365),
            stats_token: None,
            edge_origin_secret: None,
            edge_origin_check: EdgeOriginCheck::Trust,
            import_history_months: DEFAULT_IMPORT_HISTORY_MONTHS,
            form_token_life: Duration::hours(2),
            limits: Limits::default(),
            user_retention: default_user_retention(),
            import_retention: default_import_retention(),
            link_origins: LinkOrigins::default(),
            staff: vec![],
            lender_api_role: None,
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

/// The header CloudFront adds to each request it forwards to the HTTP API (the edge option):
/// its value is [`Settings::edge_origin_secret`].
pub const EDGE_ORIGIN_HEADER: &str = "x-origin-verify";

/// The header the edge's viewer-request function sets to the viewer's address, over any copy
/// the viewer sent (template.yaml, `EdgeViewerAddress`).
pub const EDGE_VIEWER_ADDRESS_HEADER: &str = "x-viewer-address";

/// Behind the edge, what a request without [`EDGE_ORIGIN_HEADER`] gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOriginCheck {
    /// Served as before (its address is API Gateway's `sourceIp`): while DNS still points at
    /// the API, and while the secret is rotated.
    Trust,
    /// It went around the edge: a page is sent on to the domain, anything else refused.
    Require,
}

impl EdgeOriginCheck {
    pub fn parse(v: &str) -> Result<Self, String> {
        match v {
            "trust" => Ok(EdgeOriginCheck::Trust),
            "require" => Ok(EdgeOriginCheck::Require),
            other => Err(format!("{other:?}: use trust or require")),
        }
    }
}

/// Months of history a Default Import asks for unless `IMPORT_HISTORY_MONTHS` says otherwise.
pub const DEFAULT_IMPORT_HISTORY_MONTHS: u32 = 12;

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

impl Config {
    /// Reads the variables in `reads` through `get` (the process environment in production);
    /// every other variable is ignored even when set. A required variable ([`vars::ALL`]) that
    /// the function reads must be set; each value is checked by its row of the table.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        reads: &[&str],
    ) -> Result<Config, ConfigError> {
        let mut loading = Loading::default();
        for var in vars::ALL.iter().filter(|v| reads.contains(&v.name)) {
            let value = get(var.name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            match value {
                Some(value) => {
                    (var.apply)(&mut loading, &value).map_err(|reason| ConfigError::Invalid {
                        name: var.name,
                        reason,
                    })?
                }
                None if var.required => return Err(ConfigError::Missing(var.name)),
                None => {}
            }
        }
        loading.finish()
    }
}

#[cfg(test)]
mod tests;
