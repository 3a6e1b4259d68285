//! The client against the recorded reply shapes in `fixtures/kontomatik/` (hand-written, our own
//! values; the sandbox's replies are checked against the same files in `tests/`). Each fixture
//! is served over real HTTP by a stub with the status its `<reply status>` names, and the stub
//! keeps what the client sent, so the request side is checked too: the key in `X-Api-Key`, never
//! in a URL or a form.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use kontomatik::xml::{parse_reply, Reply};
use kontomatik::{ClientConfig, KontomatikClient};
use rust_decimal::Decimal;
use signin_core::domain::import::{CollectedImport, Discard, SummaryBuilder};
use signin_core::domain::{CommandId, CommandState, OwnerExternalId, Secret, SessionData};
use signin_core::ports::{Kontomatik, KontomatikError, SignOut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const KEY: &str = "fixture-key-5b1e";
const SIGNATURE: &str = "sig-0a9f-secret";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../fixtures/kontomatik/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The HTTP status a fixture's `<reply status="…">` names.
fn status_of(xml: &str) -> u16 {
    let at = xml.find("status=\"").unwrap() + "status=\"".len();
    xml[at..at + 3].parse().unwrap()
}

/// What the stub received.
#[derive(Debug, Clone, Default)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// Serves `reply` with `status` to every request; returns its URL and what it received.
async fn stub(status: u16, reply: String) -> (Url, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let n = conn.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
            let mut lines = head.lines();
            let request_line = lines.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = raw[head_end + 4..].to_vec();
            while body.len() < length {
                let n = conn.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
            log.lock().unwrap().push(Seen {
                request_line,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let response = format!(
                "HTTP/1.1 {status} Fixture\r\ncontent-type: application/xml; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
    });
    (url, seen)
}

/// A client for the stub serving fixture `name`.
async fn serve(name: &str) -> (KontomatikClient, Arc<Mutex<Vec<Seen>>>) {
    let xml = fixture(name);
    let (url, seen) = stub(status_of(&xml), xml).await;
    let mut cfg = ClientConfig::new(url, Secret::new(KEY));
    cfg.timeout = Duration::from_secs(5);
    (KontomatikClient::new(cfg).unwrap(), seen)
}

fn session() -> SessionData {
    SessionData {
        session_id: "ses-77".into(),
        session_id_signature: Secret::new(SIGNATURE),
        target: "DemoBank".into(),
        owner_external_id: None,
        multiple_access_token: None,
    }
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Every request carried the key in the header, and no secret anywhere in its request line.
fn assert_header_auth_only(seen: &Arc<Mutex<Vec<Seen>>>) {
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for r in seen.iter() {
        assert_eq!(r.header("x-api-key"), Some(KEY), "{}", r.request_line);
        assert!(!r.request_line.contains(KEY), "{}", r.request_line);
        assert!(!r.request_line.contains(SIGNATURE), "{}", r.request_line);
        assert!(!r.request_line.contains("apiKey"), "{}", r.request_line);
        assert!(!r.form().iter().any(|(k, _)| k == "apiKey"), "{}", r.body);
    }
}

#[tokio::test]
async fn default_import_sends_the_recorded_form_and_accepts_202_setup() {
    let (client, seen) = serve("default-import-accepted.xml").await;
    let since = NaiveDate::from_ymd_opt(2025, 11, 20).unwrap();
    let cmd = client.default_import(&session(), since).await.unwrap();
    assert_eq!(cmd, CommandId::parse("900123").unwrap());
    assert_header_auth_only(&seen);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(
        r.request_line,
        "POST /v1/command/default-import.xml HTTP/1.1"
    );
    assert_eq!(
        r.form(),
        vec![
            ("sessionId".to_owned(), "ses-77".to_owned()),
            ("sessionIdSignature".to_owned(), SIGNATURE.to_owned()),
            ("since".to_owned(), "2025-11-20".to_owned()),
        ]
    );
}

#[tokio::test]
async fn an_in_progress_command_is_polled_with_the_header_only() {
    let (client, seen) = serve("command-in-progress.xml").await;
    let mut data = CollectedImport::default();
    let st = client
        .command_status(&CommandId::parse("900123").unwrap(), &mut data)
        .await
        .unwrap();
    assert_eq!(st.state, CommandState::InProgress);
    assert_eq!(st.progress, Some(40));
    assert_eq!(data, CollectedImport::default(), "no data while running");
    assert_header_auth_only(&seen);
    assert_eq!(
        seen.lock().unwrap()[0].request_line,
        "GET /v1/command/900123.xml HTTP/1.1",
        "no query string at all"
    );
}

#[tokio::test]
async fn the_successful_result_parses_to_every_recorded_field() {
    let (client, seen) = serve("command-successful.xml").await;
    let mut c = CollectedImport::default();
    let st = client
        .command_status(&CommandId::parse("900123").unwrap(), &mut c)
        .await
        .unwrap();
    assert_eq!(st.state, CommandState::Successful);
    assert_eq!(st.progress, Some(0), "recorded: 0 even when done");
    assert_header_auth_only(&seen);

    let target = c.target.clone().unwrap();
    assert_eq!(target.name, "DemoBank");
    assert_eq!(target.institution, "Bank Przykładowy S.A.");
    assert_eq!(target.display_name(), Some("Bank Przykładowy S.A."));

    assert_eq!(
        c.owners.len(),
        2,
        "the connection's owners, not the accounts'"
    );
    assert_eq!(c.owners[0].name, "Zofia Źdźbło-Łęcka");
    assert_eq!(c.owners[0].address, "ul. Żółta 5, 00-950 Łódź");
    assert_eq!(c.owners[1].kind, "CO_OWNER");
    assert_eq!(c.owners[1].address, "", "optional address missing");

    assert_eq!(c.accounts.len(), 2);
    let (a, txs) = &c.accounts[0];
    assert_eq!(a.name, "Konto Osobiste 360");
    assert_eq!(a.friendly_name, "Konto codzienne");
    assert_eq!(a.iban, "PL61109010140000071219812874");
    assert_eq!(
        a.balance,
        Some(d("1234.56")),
        "the account's, not a transaction's"
    );
    assert_eq!(a.available_funds, Some(d("1200.00")));
    assert_eq!(a.currency, "PLN");
    assert_eq!(a.active_since_at_least, day("2025-01-10"));
    assert_eq!(a.direct_debit_available, Some(true));
    assert_eq!(a.owners.len(), 1);
    assert_eq!(a.owners[0].name, "Zofia Źdźbło-Łęcka");

    assert_eq!(txs.len(), 3);
    assert_eq!(txs[0].transaction_on, day("2026-11-18"));
    assert_eq!(txs[0].booked_on, day("2026-11-19"));
    assert_eq!(txs[0].currency_amount, d("-120.50"));
    assert_eq!(txs[0].currency_balance, Some(d("1234.56")));
    assert_eq!(txs[0].title, "Faktura 11/2026 – prąd");
    assert_eq!(
        txs[0].party, "Przedsiębiorstwo Energetyczne Sp. z o.o.",
        "the line break inside <party> is folded"
    );
    assert_eq!(txs[0].party_iban, "PL27114020040000300201355387");
    assert_eq!(txs[0].kind, "PRZELEW ZEWNĘTRZNY");
    assert_eq!(txs[0].status, "DONE");
    assert_eq!(txs[0].labels, vec!["utilities", "monthly"]);
    assert_eq!(txs[1].party, "", "optional party missing");
    assert_eq!(txs[1].kind, "");
    assert_eq!(txs[1].labels, vec!["salary"]);
    assert_eq!(txs[2].title, "Zakup kartą <Żabka> & co");
    assert_eq!(txs[2].status, "PENDING");

    let (savings, none) = &c.accounts[1];
    assert!(none.is_empty(), "an account with no transactions");
    assert_eq!(savings.friendly_name, "", "optional friendlyName missing");
    assert_eq!(savings.display_name(), "Rachunek oszczędnościowy");
    assert_eq!(savings.iban, "PL02 1140 2004 0000 3502 7652 8571");
    assert_eq!(savings.direct_debit_available, Some(false));
    assert_eq!(savings.owners.len(), 2);
    assert_eq!(
        c.credit_cards, 1,
        "the creditCards block is read past, not into accounts"
    );
}

#[tokio::test]
async fn the_successful_result_analyses_into_the_summary() {
    let (client, _) = serve("command-successful.xml").await;
    let mut b = SummaryBuilder::default();
    client
        .command_status(&CommandId::parse("900123").unwrap(), &mut b)
        .await
        .unwrap();
    let s = b.build();
    assert_eq!(s.bank.as_deref(), Some("Bank Przykładowy S.A."));
    assert_eq!(s.owners, 2);
    assert_eq!(s.accounts_total, 2);
    assert_eq!(s.transactions_total, 3);
    assert_eq!(s.accounts[0].name, "Konto codzienne");
    assert_eq!(s.accounts[0].number_masked, "…2874");
    assert_eq!(s.accounts[1].number_masked, "…8571");
    let pln = &s.totals[0];
    assert_eq!(pln.balance, d("11234.56"));
    assert_eq!(pln.available_funds, d("11200.00"));
    assert_eq!(pln.income, d("5400.00"));
    assert_eq!(pln.spending, d("165.44"));
    let top: Vec<(&str, Decimal)> = s
        .top_spending_labels
        .iter()
        .map(|l| (l.label.as_str(), l.amount))
        .collect();
    assert_eq!(
        top,
        vec![
            ("monthly", d("120.50")),
            ("utilities", d("120.50")),
            ("groceries", d("44.94"))
        ],
        "largest first, ties by name"
    );
    assert_eq!(s.credit_cards, 1);
}

#[tokio::test]
async fn a_failed_command_carries_its_exception_with_the_friendly_message() {
    let xml = fixture("command-error.xml");
    let parsed = parse_reply(xml.as_bytes(), &mut Discard).await.unwrap();
    let e = parsed.command_exception.unwrap();
    assert_eq!(e.name, "BankTemporarilyUnavailable");
    assert_eq!(e.message, "The bank did not answer during the import.");
    assert_eq!(
        e.friendly_message.as_deref(),
        Some("Bank nie odpowiada. Spróbuj ponownie za chwilę.")
    );
    let (client, _) = serve("command-error.xml").await;
    let st = client
        .command_status(&CommandId::parse("900124").unwrap(), &mut Discard)
        .await
        .unwrap();
    assert_eq!(st.state, CommandState::Error);
    let info = st.exception.unwrap();
    assert_eq!(info.code, "BankTemporarilyUnavailable");
    assert_eq!(info.message, "The bank did not answer during the import.");
}

#[tokio::test]
async fn error_replies_map_to_typed_errors() {
    let since = NaiveDate::from_ymd_opt(2025, 11, 20).unwrap();
    let (client, _) = serve("exception-invalid-session.xml").await;
    match client.default_import(&session(), since).await.unwrap_err() {
        KontomatikError::SessionInvalid(e) => {
            assert_eq!(e.code, "InvalidSessionId");
            assert_eq!(e.message, "Session expired.", "the <message> child");
        }
        other => panic!("{other:?}"),
    }
    let (client, _) = serve("exception-already-executed.xml").await;
    assert_eq!(
        client.default_import(&session(), since).await.unwrap_err(),
        KontomatikError::AlreadyImported
    );
    let (client, _) = serve("exception-jobs-quota.xml").await;
    let e = client.default_import(&session(), since).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    let (client, _) = serve("unauthorized.xml").await;
    assert_eq!(
        client.default_import(&session(), since).await.unwrap_err(),
        KontomatikError::Unauthorized
    );
    let parsed = parse_reply(fixture("unauthorized.xml").as_bytes(), &mut Discard)
        .await
        .unwrap();
    assert!(matches!(parsed.reply, Reply::Comment(ref c) if c.contains("API key HTTP header")));
    assert_eq!(parsed.status.as_deref(), Some("401 Unauthorized"));
}

#[tokio::test]
async fn sign_out_posts_the_session_and_takes_command_not_available_as_fine() {
    let (client, seen) = serve("exception-command-not-available.xml").await;
    assert_eq!(
        client.sign_out(&session()).await.unwrap(),
        SignOut::NotAvailable
    );
    assert_header_auth_only(&seen);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.request_line, "POST /v1/command/sign-out.xml HTTP/1.1");
    assert_eq!(
        r.form(),
        vec![
            ("sessionId".to_owned(), "ses-77".to_owned()),
            ("sessionIdSignature".to_owned(), SIGNATURE.to_owned()),
        ]
    );
    let (client, _) = serve("command-in-progress.xml").await;
    assert_eq!(
        client.sign_out(&session()).await.unwrap(),
        SignOut::SignedOut
    );
}

#[tokio::test]
async fn owner_data_reads_the_same_elements_under_owner_target() {
    let (client, seen) = serve("owner-data.xml").await;
    let owner = OwnerExternalId::parse("owner-7f3a").unwrap();
    let mut c = CollectedImport::default();
    assert!(client.owner_data(&owner, &mut c).await.unwrap());
    assert_header_auth_only(&seen);
    assert_eq!(
        seen.lock().unwrap()[0].request_line,
        "GET /v1/data.xml?ownerExternalId=owner-7f3a HTTP/1.1"
    );
    let target = c.target.unwrap();
    assert_eq!(target.official_name, "Bank Przykładowy Spółka Akcyjna");
    assert_eq!(target.institution, "Bank Przykładowy S.A.");
    assert_eq!(c.owners.len(), 1);
    assert_eq!(c.accounts.len(), 1);
    assert_eq!(c.accounts[0].0.iban, "PL61109010140000071219812874");
    assert_eq!(c.accounts[0].1[0].party, "ACME Sp. z o.o.");
    assert_eq!(c.credit_cards, 1);
    let other = OwnerExternalId::parse("someone-else").unwrap();
    assert!(
        matches!(
            client.owner_data(&other, &mut Discard).await,
            Err(KontomatikError::Malformed(_))
        ),
        "data for another owner is refused"
    );
}

#[tokio::test]
async fn deleting_owner_data_uses_delete_on_the_same_url() {
    let (client, seen) = serve("owner-data.xml").await;
    let owner = OwnerExternalId::parse("owner-7f3a").unwrap();
    assert!(client.delete_owner_data(&owner).await.unwrap());
    assert_eq!(
        seen.lock().unwrap()[0].request_line,
        "DELETE /v1/data.xml?ownerExternalId=owner-7f3a HTTP/1.1"
    );
    let (client, _) = serve("exception-owner-not-found.xml").await;
    assert!(
        !client.delete_owner_data(&owner).await.unwrap(),
        "404 InvalidOwnerExternalId: nothing held"
    );
    assert!(!client.owner_data(&owner, &mut Discard).await.unwrap());
    let (client, _) = serve("exception-invalid-session.xml").await;
    assert!(
        client.delete_owner_data(&owner).await.is_err(),
        "any other 404 is an error: an erasure is never silently skipped"
    );
}

#[tokio::test]
async fn every_fixture_is_well_formed_and_names_its_http_status() {
    let dir = format!("{}/../../fixtures/kontomatik", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        let parsed = parse_reply(xml.as_bytes(), &mut Discard).await;
        let parsed = parsed.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            parsed.status.is_some(),
            "{}: <reply status> missing",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 11, "{n} fixtures");
}
