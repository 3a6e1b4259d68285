//! A request and a response, independent of any framework, and what is read from them: the
//! query, the forms, the language, cookies.

use serde::Deserialize;
use signin_core::domain::Language;
use signin_core::App;

use crate::pages::{self};

/// The largest form body we read.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct WebRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub body: Vec<u8>,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The client's address as the edge saw it (API Gateway's `requestContext.http.sourceIp`),
    /// for the abuse limits.
    pub client_ip: Option<String>,
    /// The IAM principal (its ARN) API Gateway verified the request's SigV4 signature for
    /// (`requestContext.authorizer.iam`); `None` on a route without IAM auth.
    pub iam_caller: Option<String>,
}

impl WebRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WebResponse {
    pub(crate) fn html(status: u16, body: String) -> Self {
        let mut headers = vec![(
            "content-type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )];
        headers.extend(
            pages::SECURITY_HEADERS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        WebResponse {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Query {
    pub(crate) redirection_id: Option<String>,
    pub(crate) lang: Option<String>,
    /// A signed link's token.
    pub(crate) t: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    /// The funnel page's range: 7, 30 or 90 days.
    pub(crate) days: Option<String>,
    /// The case list's filter, and where its page starts.
    pub(crate) status: Option<String>,
    pub(crate) after: Option<String>,
    /// A case's reference.
    pub(crate) case: Option<String>,
    /// A case page after a decision was sent: `1` mailed, `0` not mailed.
    pub(crate) sent: Option<String>,
    /// A case page after a refresh: how many owners' data Kontomatik held.
    pub(crate) refreshed: Option<String>,
    /// The lender's API: an application by its id; changes since a time, and the next page.
    pub(crate) external_application_id: Option<String>,
    pub(crate) changed_since: Option<String>,
    pub(crate) cursor: Option<String>,
}

impl Query {
    /// The query string's known keys. A key given twice counts once, with its first value
    /// (links get forwarded with parameters added: `?lang=pl&lang=en` is Polish, not an
    /// unreadable query that loses every key).
    pub(crate) fn parse(raw: &str) -> Query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        let first: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(k, _)| seen.insert(k.as_str()))
            .collect();
        serde_urlencoded::to_string(first)
            .ok()
            .and_then(|once| serde_urlencoded::from_str(&once).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenForm {
    pub(crate) t: Option<String>,
    pub(crate) form_token: Option<String>,
    /// RFC 8058 one-click: `List-Unsubscribe=One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    pub(crate) list_unsubscribe: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FormBody {
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) follow_up_consent: Option<String>,
    pub(crate) language: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) delivery: Option<String>,
    pub(crate) form_token: Option<String>,
}

/// The language of a page that has no record to follow: the `lang` query parameter, else the
/// browser's first supported `Accept-Language`, else the default.
pub(crate) fn request_lang(app: &App, req: &WebRequest, query: &Query) -> Language {
    if let Some(l) = query.lang.as_deref().and_then(|l| Language::parse(l).ok()) {
        return l;
    }
    req.header("accept-language")
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|part| {
            let tag = part.split(';').next()?.trim();
            let primary = tag.split('-').next()?;
            Language::parse(primary).ok()
        })
        .next()
        .unwrap_or(app.settings.default_language)
}

pub(crate) fn page_lang(app: &App, raw: Option<&str>) -> String {
    raw.and_then(|l| Language::parse(l).ok())
        .unwrap_or(app.settings.default_language)
        .as_str()
        .to_owned()
}

/// The link token and the form token of a confirm page's POST (the link token may also be in
/// the URL, as in a one-click unsubscribe).
pub(crate) fn tokens_of(body: &[u8], query: Option<&str>) -> (Option<String>, Option<String>) {
    if body.len() > MAX_BODY {
        return (None, None);
    }
    let form = serde_urlencoded::from_bytes::<TokenForm>(body).unwrap_or_default();
    (form.t.or_else(|| query.map(str::to_owned)), form.form_token)
}

pub(crate) fn json(status: u16, body: String) -> WebResponse {
    WebResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body,
    }
}

pub(crate) fn cookie_value<'a>(req: &'a WebRequest, name: &str) -> Option<&'a str> {
    req.header("cookie")?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn a_repeated_query_key_keeps_its_first_value_and_the_other_keys() {
        let q = Query::parse("lang=pl&redirectionId=abc&lang=en&redirectionId=def&utm=x&utm=y");
        assert_eq!(q.lang.as_deref(), Some("pl"));
        assert_eq!(q.redirection_id.as_deref(), Some("abc"));
        let q = Query::parse("t=tok%2Bx&t=other");
        assert_eq!(q.t.as_deref(), Some("tok+x"));
        let q = Query::parse("%zz=1&lang=en");
        assert_eq!(q.lang.as_deref(), Some("en"));
    }
}
