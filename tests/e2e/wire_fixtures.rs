//! The sandbox against the recorded reply shapes in `fixtures/kontomatik/` (the same files our
//! client's tests parse): each sandbox reply, fetched raw over HTTP with the key in the header,
//! must have exactly the fixture's elements and attributes — no element the recorded shape lacks,
//! none it has missing except the contract's optional ones — and an HTTP status equal to its
//! `<reply status>`. A key in a query string or a form is refused with the recorded 401 reply.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use e2e_tests::{fetch_request, since, SandboxFixture, API_KEY};
use kontomatik_sandbox::{DataShape, UserAction};
use quick_xml::events::Event;
use signin_core::domain::{RedirectionStatus, SessionData};
use signin_core::ports::Kontomatik;

/// Elements the contract calls optional, and the fixtures' stand-in for an unknown element.
const OPTIONAL: &[&str] = &[
    "address",
    "party",
    "partyIban",
    "kind",
    "labels",
    "label",
    "friendlyName",
    "futureElement",
    "nested",
];

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../fixtures/kontomatik/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every element path (`reply/command/result/…`) with the attribute names seen on it.
fn shape(xml: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut stack: Vec<String> = vec![];
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    loop {
        let (e, empty) = match reader.read_event().unwrap() {
            Event::Start(e) => (e.into_owned(), false),
            Event::Empty(e) => (e.into_owned(), true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        stack.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
        let attrs = out.entry(stack.join("/")).or_default();
        for a in e.attributes() {
            let a = a.unwrap();
            attrs.insert(String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned());
        }
        if empty {
            stack.pop();
        }
    }
    out
}

fn reply_status(xml: &str) -> u16 {
    let at = xml.find("status=\"").unwrap() + "status=\"".len();
    xml[at..at + 3].parse().unwrap()
}

/// The sandbox's `reply` has the fixture's shape and its HTTP status says what its body says.
fn assert_recorded_shape(fixture_name: &str, http_status: u16, body: &str) {
    let recorded = fixture(fixture_name);
    assert_eq!(
        http_status,
        reply_status(body),
        "{fixture_name}: HTTP status vs <reply status>\n{body}"
    );
    assert_eq!(
        http_status,
        reply_status(&recorded),
        "{fixture_name}: the recorded status"
    );
    let (f, s) = (shape(&recorded), shape(body));
    for (path, attrs) in &s {
        let Some(recorded_attrs) = f.get(path) else {
            panic!("{fixture_name}: the sandbox sends <{path}>, which the recorded shape lacks\n{body}")
        };
        assert_eq!(
            attrs, recorded_attrs,
            "{fixture_name}: attributes of <{path}>"
        );
    }
    for path in f.keys() {
        let optional = path.split('/').any(|seg| OPTIONAL.contains(&seg));
        assert!(
            s.contains_key(path) || optional,
            "{fixture_name}: the sandbox never sends <{path}>\n{body}"
        );
    }
}

async fn session(f: &SandboxFixture, bank: &str) -> SessionData {
    let l = f
        .client
        .fetch_redirection(&fetch_request("owner-7f3a"))
        .await
        .unwrap();
    f.sandbox
        .handle
        .act(l.redirection_id.as_str(), UserAction::Succeed, Some(bank))
        .unwrap();
    match f
        .client
        .redirection_status(&l.redirection_id)
        .await
        .unwrap()
    {
        RedirectionStatus::Success(s) => s,
        other => panic!("{other:?}"),
    }
}

/// Plain HTTP against the sandbox: what goes on the wire is exactly what a test writes.
struct Raw {
    http: reqwest::Client,
    base: url::Url,
}

impl Raw {
    fn new(f: &SandboxFixture) -> Self {
        Raw {
            http: reqwest::Client::new(),
            base: f.sandbox.base_url.clone(),
        }
    }
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
    /// `GET path`, with `key` in `X-Api-Key` when given.
    async fn get(&self, path: &str, key: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(self.base.join(path).unwrap());
        if let Some(key) = key {
            req = req.header("X-Api-Key", key);
        }
        self.send(req).await
    }
    /// `POST path` with a urlencoded form and our key in `X-Api-Key`.
    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        self.send(
            self.http
                .post(self.base.join(path).unwrap())
                .header("X-Api-Key", API_KEY)
                .form(form),
        )
        .await
    }
    async fn import(&self, s: &SessionData, signature: &str) -> (u16, String) {
        let since = since().to_string();
        self.post_form(
            "v1/command/default-import.xml",
            &[
                ("sessionId", s.session_id.as_str()),
                ("sessionIdSignature", signature),
                ("since", since.as_str()),
            ],
        )
        .await
    }
    async fn command(&self, id: &str) -> (u16, String) {
        self.get(&format!("v1/command/{id}.xml"), Some(API_KEY))
            .await
    }
    async fn sign_out(&self, s: &SessionData) -> (u16, String) {
        self.post_form(
            "v1/command/sign-out.xml",
            &[
                ("sessionId", s.session_id.as_str()),
                ("sessionIdSignature", s.session_id_signature.expose()),
            ],
        )
        .await
    }
}

fn command_id(body: &str) -> String {
    let at = body.find("<command id=\"").unwrap() + "<command id=\"".len();
    body[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_sandbox_reply_has_the_recorded_shape() {
    let f = SandboxFixture::start_with(|o| {
        o.shape = DataShape {
            accounts: 2,
            transactions_per_account: 16,
        }
    })
    .await;
    let raw = Raw::new(&f);

    let ok = session(&f, "DemoBank").await;
    let (status, body) = raw.import(&ok, ok.session_id_signature.expose()).await;
    assert_recorded_shape("default-import-accepted.xml", status, &body);
    let cmd = command_id(&body);
    let (status, body) = raw.import(&ok, ok.session_id_signature.expose()).await;
    assert_recorded_shape("exception-already-executed.xml", status, &body);

    let _setup = raw.command(&cmd).await;
    let (status, body) = raw.command(&cmd).await;
    assert_recorded_shape("command-in-progress.xml", status, &body);
    let (status, body) = raw.command(&cmd).await;
    assert_recorded_shape("command-successful.xml", status, &body);

    let (status, body) = raw
        .get("v1/data.xml?ownerExternalId=owner-7f3a", Some(API_KEY))
        .await;
    assert_recorded_shape("owner-data.xml", status, &body);

    let (status, body) = raw
        .get("v1/data.xml?ownerExternalId=nobody-here", Some(API_KEY))
        .await;
    assert_recorded_shape("exception-owner-not-found.xml", status, &body);

    let forged = session(&f, "DemoBank").await;
    let (status, body) = raw.import(&forged, "forged-signature").await;
    assert_recorded_shape("exception-invalid-session.xml", status, &body);

    let flaky = session(&f, "FlakyBank").await;
    let (_, body) = raw
        .import(&flaky, flaky.session_id_signature.expose())
        .await;
    let flaky_cmd = command_id(&body);
    raw.command(&flaky_cmd).await;
    raw.command(&flaky_cmd).await;
    let (status, body) = raw.command(&flaky_cmd).await;
    assert_recorded_shape("command-error.xml", status, &body);

    let slow = session(&f, "SlowBank").await;
    let (status, body) = raw.sign_out(&slow).await;
    assert_recorded_shape("exception-command-not-available.xml", status, &body);

    let (status, body) = raw
        .get(&format!("v1/command/{cmd}.xml"), Some("wrong-key"))
        .await;
    assert_recorded_shape("unauthorized.xml", status, &body);
}

#[tokio::test]
async fn a_key_or_a_signature_in_the_url_or_a_form_fails_loudly() {
    let f = SandboxFixture::start().await;
    let raw = Raw::new(&f);
    let s = session(&f, "DemoBank").await;
    let since = since().to_string();
    // The old way: the key as a form field (even with the right header too).
    let (status, body) = raw
        .post_form(
            "v1/command/default-import.xml",
            &[
                ("apiKey", API_KEY),
                ("sessionId", s.session_id.as_str()),
                ("sessionIdSignature", s.session_id_signature.expose()),
                ("since", since.as_str()),
            ],
        )
        .await;
    assert_recorded_shape("unauthorized.xml", status, &body);
    assert_eq!(
        f.sandbox.handle.counters().imports_started,
        0,
        "nothing started"
    );
    // The key in a query string.
    let (status, body) = raw
        .get(&format!("v1/command/1.xml?apiKey={API_KEY}"), None)
        .await;
    assert_recorded_shape("unauthorized.xml", status, &body);
    // The session signature in a query string.
    let (status, body) = raw
        .get(
            &format!(
                "v1/command/1.xml?sessionId={}&sessionIdSignature={}",
                s.session_id,
                s.session_id_signature.expose()
            ),
            Some(API_KEY),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("must not be sent in the URL"), "{body}");
    // Without `since`, Default Import is refused (every known client sends it).
    let (status, body) = raw
        .post_form(
            "v1/command/default-import.xml",
            &[
                ("sessionId", s.session_id.as_str()),
                ("sessionIdSignature", s.session_id_signature.expose()),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("InvalidSince"), "{body}");
    let c = f.sandbox.handle.counters();
    assert_eq!(c.secrets_in_url, 2);
    assert_eq!(c.imports_started, 0);
    let requests = f.sandbox.handle.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.form_fields.iter().any(|k| k == "apiKey")),
        "the request log shows the form field"
    );
}
