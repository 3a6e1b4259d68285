//! The wire probe, for integrators with real access: it fetches one redirection, reads its
//! status (and the status of an id that does not exist, for the error shape), shows each raw
//! reply (the key and any session secret redacted) next to what our client made of it, and says
//! which **provisional** wire names (`docs/kontomatik-wire.md`, sections 1 and 3) held.
//!
//! Two callers: `cargo run -p devstack -- probe` (a whitelisted machine, the variables
//! `KONTOMATIK_BASE_URL` and `KONTOMATIK_API_KEY`), and a deployed stack's operator command
//! `{"operator":"probe"}` (`signin_runtime::operator`: the function's own key and address,
//! inside the network Kontomatik whitelists).
//!
//! It sends exactly what our client sends (the same paths and names from [`crate::wire`]),
//! reads the replies raw, and hands the same bytes to the client's own parsers.

use std::fmt;
use std::time::Duration;

use crate::client::{parse_fetch_reply, parse_status_reply};
use crate::wire;
use serde::Serialize;
use serde_json::Value;
use signin_core::domain::{RedirectionId, Secret};
use url::Url;

/// What the probe needs.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub base_url: Url,
    pub api_key: Secret,
    /// Where Kontomatik would send the user back (must be allowed for the API key).
    pub redirect_uri: String,
    pub owner_external_id: String,
    pub language: String,
    pub country: String,
    /// The time each of the probe's three calls may take.
    pub call_timeout: Duration,
}

/// Each call's time by default (a whitelisted machine, no deadline).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl ProbeConfig {
    /// A probe of `base_url` with `api_key`, under an owner id of its own (`probe-` and the
    /// time), each call given [`DEFAULT_CALL_TIMEOUT`].
    pub fn new(
        base_url: Url,
        api_key: Secret,
        redirect_uri: String,
        language: String,
        country: String,
    ) -> Self {
        ProbeConfig {
            base_url,
            api_key,
            redirect_uri,
            owner_external_id: format!("probe-{}", chrono::Utc::now().format("%Y%m%d%H%M%S")),
            language,
            country,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// From `KONTOMATIK_BASE_URL` and `KONTOMATIK_API_KEY`.
    pub fn from_env(
        redirect_uri: String,
        language: String,
        country: String,
    ) -> Result<Self, String> {
        let base = std::env::var("KONTOMATIK_BASE_URL").map_err(|_| {
            "KONTOMATIK_BASE_URL is not set (e.g. https://test.api.kontomatik.com)".to_owned()
        })?;
        let key = std::env::var("KONTOMATIK_API_KEY")
            .map_err(|_| "KONTOMATIK_API_KEY is not set".to_owned())?;
        if key.trim().is_empty() {
            return Err("KONTOMATIK_API_KEY is empty".into());
        }
        Ok(ProbeConfig::new(
            Url::parse(base.trim())
                .map_err(|e| format!("KONTOMATIK_BASE_URL is not a URL: {e}"))?,
            Secret::new(key.trim()),
            redirect_uri,
            language,
            country,
        ))
    }
}

/// One provisional name, and whether the live reply used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCheck {
    pub section: &'static str,
    pub name: String,
    pub held: bool,
    pub note: String,
}

/// One request and its raw reply.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    pub title: &'static str,
    pub request: String,
    pub http_status: u16,
    /// The body as received, secrets redacted, at most [`MAX_SHOWN`] characters.
    pub raw: String,
    /// What our client made of the same bytes.
    pub understood: String,
}

/// What the probe found; its JSON (the operator command's answer) holds what its text shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeReport {
    pub exchanges: Vec<Exchange>,
    pub checks: Vec<NameCheck>,
}

impl ProbeReport {
    pub fn all_held(&self) -> bool {
        self.checks.iter().all(|c| c.held)
    }
}

const MAX_SHOWN: usize = 4000;
const REDACTED: &str = "[redacted]";
/// Reply fields whose values are never printed.
const SECRET_FIELDS: &[&str] = &[
    wire::JSON_SESSION_ID_SIGNATURE,
    "multipleAccessToken",
    "apiKey",
];

/// The body for showing: secret fields and the key itself replaced, cut to a readable length.
fn shown(body: &[u8], key: &Secret) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact(&mut v);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let mut text = text.replace(key.expose(), REDACTED);
    if text.len() > MAX_SHOWN {
        let cut = (0..=MAX_SHOWN)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n… (cut)");
    }
    text
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if SECRET_FIELDS.contains(&k.as_str()) && !val.is_null() {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn check(
    section: &'static str,
    name: impl Into<String>,
    held: bool,
    note: impl Into<String>,
) -> NameCheck {
    NameCheck {
        section,
        name: name.into(),
        held,
        note: note.into(),
    }
}

fn string_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

fn extra_fields(v: &Value, known: &[&str]) -> Vec<String> {
    v.as_object()
        .map(|m| {
            m.keys()
                .filter(|k| !known.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

const SECTION_FETCH: &str = "1. Fetch redirection";
const SECTION_STATUS: &str = "3. Redirection status";

/// Runs the probe. Network failures are errors; replies that do not match are findings.
pub async fn run(cfg: &ProbeConfig) -> Result<ProbeReport, String> {
    let http = reqwest::Client::builder()
        .timeout(cfg.call_timeout)
        // Never carry the key to wherever a redirect points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let url = |path: &str| cfg.base_url.join(path).map_err(|e| e.to_string());
    let key = &cfg.api_key;
    let mut report = ProbeReport::default();

    // 1. Fetch redirection.
    let body = wire::FetchRedirectionBody {
        redirect_uri: &cfg.redirect_uri,
        owner_external_id: &cfg.owner_external_id,
        language: &cfg.language,
        country: &cfg.country,
        access_mode: "single",
    };
    let request_body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
    let resp = http
        .post(url(wire::FETCH_REDIRECTION_PATH)?)
        .header(wire::API_KEY_HEADER, key.expose())
        .header("content-type", "application/json")
        .body(request_body.clone())
        .send()
        .await
        .map_err(|e| format!("Fetch redirection: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let parsed = parse_fetch_reply(&bytes);
    report.exchanges.push(Exchange {
        title: "Fetch redirection",
        request: format!(
            "POST {} ({}: {REDACTED})\n{request_body}",
            wire::FETCH_REDIRECTION_PATH,
            wire::API_KEY_HEADER
        ),
        http_status: status,
        raw: shown(&bytes, key),
        understood: match &parsed {
            Ok(link) => format!("redirectionId {} → link {}", link.redirection_id, link.url),
            Err(e) => format!("could not read it: {e}"),
        },
    });
    let json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    report.checks.push(check(
        SECTION_FETCH,
        format!("POST {}", wire::FETCH_REDIRECTION_PATH),
        (200..300).contains(&status),
        format!("HTTP {status}"),
    ));
    report.checks.push(check(
        SECTION_FETCH,
        wire::JSON_REDIRECTION_ID,
        string_field(&json, wire::JSON_REDIRECTION_ID).is_some(),
        "a string field in the reply",
    ));
    report.checks.push(check(
        SECTION_FETCH,
        wire::JSON_URL,
        string_field(&json, wire::JSON_URL).is_some_and(|u| Url::parse(u).is_ok()),
        "an absolute URL",
    ));
    let extra = extra_fields(&json, &[wire::JSON_REDIRECTION_ID, wire::JSON_URL]);
    if !extra.is_empty() {
        report.checks.push(check(
            SECTION_FETCH,
            "other fields",
            true,
            format!("also present: {}", extra.join(", ")),
        ));
    }

    // 3. Redirection status of the new id.
    if let Ok(link) = &parsed {
        let path = wire::redirection_status_path(link.redirection_id.as_str());
        let (status, bytes) = get(&http, url(&path)?, key).await?;
        let understood = parse_status_reply(&bytes, &link.redirection_id);
        report.exchanges.push(Exchange {
            title: "Redirection status (new link)",
            request: format!("GET {path} ({}: {REDACTED})", wire::API_KEY_HEADER),
            http_status: status,
            raw: shown(&bytes, key),
            understood: match &understood {
                Ok(s) => format!("{s:?}"),
                Err(e) => format!("could not read it: {e}"),
            },
        });
        let json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        report.checks.push(check(
            SECTION_STATUS,
            "GET /v1/signin-redirection/{id}",
            (200..300).contains(&status),
            format!("HTTP {status}"),
        ));
        let value = string_field(&json, wire::JSON_STATUS);
        report.checks.push(check(
            SECTION_STATUS,
            wire::JSON_STATUS,
            value.is_some_and(|v| wire::STATUSES.contains(&v)),
            format!("value {value:?}; known: {}", wire::STATUSES.join(", ")),
        ));
        report.checks.push(check(
            SECTION_STATUS,
            format!("{} (before the user acts)", wire::STATUS_INITIALIZED),
            value == Some(wire::STATUS_INITIALIZED),
            format!("value {value:?}"),
        ));
        let echoed = string_field(&json, wire::JSON_REDIRECTION_ID);
        report.checks.push(check(
            SECTION_STATUS,
            format!("{} (echoed)", wire::JSON_REDIRECTION_ID),
            echoed.is_none_or(|e| e == link.redirection_id.as_str()),
            if echoed.is_some() {
                "present and equal"
            } else {
                "absent (optional)"
            },
        ));
        let extra = extra_fields(
            &json,
            &[
                wire::JSON_REDIRECTION_ID,
                wire::JSON_STATUS,
                wire::JSON_OWNER_EXTERNAL_ID,
                wire::JSON_SESSION_ID,
                wire::JSON_SESSION_ID_SIGNATURE,
                wire::JSON_TARGET,
                wire::JSON_ERROR,
            ],
        );
        if !extra.is_empty() {
            report.checks.push(check(
                SECTION_STATUS,
                "other fields",
                true,
                format!("also present: {}", extra.join(", ")),
            ));
        }
    }

    // 3. An id that does not exist: the not-found status and the error body.
    let missing = RedirectionId::parse("probe-no-such-redirection").map_err(|e| e.to_string())?;
    let path = wire::redirection_status_path(missing.as_str());
    let (status, bytes) = get(&http, url(&path)?, key).await?;
    let understood = parse_status_reply(&bytes, &missing);
    report.exchanges.push(Exchange {
        title: "Redirection status (an id that does not exist)",
        request: format!("GET {path} ({}: {REDACTED})", wire::API_KEY_HEADER),
        http_status: status,
        raw: shown(&bytes, key),
        understood: if status == 404 {
            "NotFound (the 24 h window is over, or the id never existed)".into()
        } else {
            format!("{understood:?}")
        },
    });
    report.checks.push(check(
        SECTION_STATUS,
        "404 for an unknown id",
        status == 404,
        format!("HTTP {status}"),
    ));
    let json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    let error = json.get(wire::JSON_ERROR);
    report.checks.push(check(
        SECTION_STATUS,
        "error {code, message}",
        error.is_some_and(|e| {
            string_field(e, "code").is_some() && string_field(e, "message").is_some()
        }),
        "the JSON error body",
    ));
    Ok(report)
}

async fn get(http: &reqwest::Client, url: Url, key: &Secret) -> Result<(u16, Vec<u8>), String> {
    let resp = http
        .get(url)
        .header(wire::API_KEY_HEADER, key.expose())
        .send()
        .await
        .map_err(|e| format!("Redirection status: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    Ok((status, bytes.to_vec()))
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.exchanges {
            writeln!(f, "=== {}", e.title)?;
            writeln!(f, "--> {}", e.request)?;
            writeln!(f, "<-- HTTP {}", e.http_status)?;
            writeln!(f, "{}", e.raw)?;
            writeln!(f, "our client: {}", e.understood)?;
            writeln!(f)?;
        }
        writeln!(f, "=== Provisional wire names (docs/kontomatik-wire.md)")?;
        for c in &self.checks {
            let mark = if c.held { "held      " } else { "DID NOT HOLD" };
            writeln!(f, "[{mark}] {:<22} {:<40} {}", c.section, c.name, c.note)?;
        }
        let failed = self.checks.iter().filter(|c| !c.held).count();
        if failed == 0 {
            writeln!(f, "\nEvery provisional name held.")
        } else {
            writeln!(
                f,
                "\n{failed} provisional name(s) did not hold: align functions/kontomatik/src/wire.rs \
                 (and the sandbox's wire.rs) with the raw replies above."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_bodies_never_carry_the_key_or_session_secrets() {
        let key = Secret::new("k-live-1234567890");
        let body = br#"{"status":"success","sessionId":"s1","sessionIdSignature":"sig-abc","multipleAccessToken":"mat-1","note":"key k-live-1234567890"}"#;
        let out = shown(body, &key);
        assert!(!out.contains("k-live-1234567890"), "{out}");
        assert!(!out.contains("sig-abc") && !out.contains("mat-1"), "{out}");
        assert!(out.contains("\"sessionId\": \"s1\""), "{out}");
        let xml = b"<reply><comment>bad key k-live-1234567890</comment></reply>";
        assert!(!shown(xml, &key).contains("k-live-1234567890"));
        let long = vec![b'x'; MAX_SHOWN * 2];
        assert!(shown(&long, &key).len() < MAX_SHOWN + 20);
    }
}
