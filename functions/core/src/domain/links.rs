//! Links in emails, signed with HMAC-SHA256 so they cannot be forged, and expiring. A token says
//! what it is for (resume a sign-in, unsubscribe, erase), for whom, and until when.
//!
//! Also the **form tokens** of our own pages: every state-changing form carries one, signed with
//! the same key, bound to the one form it was issued for, expiring, and carrying a random nonce
//! that the use case spends once (so a token cannot be replayed). Issuing one keeps no state.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::domain::{Country, Language, Secret, Timestamp, UserKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Start a fresh sign-in for this user.
    Resume,
    /// Stop follow-up email for this user.
    Unsubscribe,
    /// Erase everything we hold about this user (the right to erasure).
    Erase,
    /// A staff member's one-time sign-in to the funnel page (from the emailed link).
    StaffLogin,
    /// A staff member's signed-in session (the cookie's value).
    StaffSession,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::Resume => "resume",
            Purpose::Unsubscribe => "unsub",
            Purpose::Erase => "erase",
            Purpose::StaffLogin => "staff-login",
            Purpose::StaffSession => "staff-session",
        }
    }
}

/// What a link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub purpose: Purpose,
    pub user: UserKey,
    pub language: Language,
    pub country: Country,
    /// Epoch seconds after which the link no longer works.
    pub expires: i64,
    /// An erase link's record: [`record_pseudonym`] of the owner id the person's record had
    /// when the link was made. The link erases only a record that has (or had) that owner id,
    /// so a link kept from before an erasure cannot erase the record made after it. `None` for
    /// the other purposes (an erase link without one is refused).
    pub record: Option<String>,
}

/// The pseudonym an erase link names its record by (keyed: the link shows no owner id).
pub fn record_pseudonym(key: &Secret, owner: &crate::domain::OwnerExternalId) -> String {
    pseudonym(key, RECORD_KIND, owner.as_str())
}

/// The kind of pseudonym an erase link names its record by.
const RECORD_KIND: &str = "erase-record";

/// Whether `record` names the owner id `owner` under any key of the ring: an erase link made
/// before a key rotation still names its record after it.
pub fn names_record(key: &Secret, owner: &crate::domain::OwnerExternalId, record: &str) -> bool {
    ring(key)
        .iter()
        .any(|(_, k)| pseudonym_under(k, RECORD_KIND, owner.as_str()) == record)
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    #[error("this link is not valid (it may have been cut or changed)")]
    Invalid,
    #[error("this link has expired")]
    Expired,
}

const VERSION: &str = "v1";

/// The shortest key accepted (characters).
pub const MIN_KEY_LEN: usize = 32;

/// The keys `LINK_SIGNING_KEY` holds: one plain key, or a ring of `id:key` pairs separated by
/// commas (`k2:…,k1:…`), ids of 1–16 letters, digits, `-` or `_`. The first key signs, and its
/// tokens start with its id (`k2.…`); every key of the ring verifies: a token with an id only
/// against that id's key (an unknown id is refused), a token without one (signed by a plain key
/// before the ring) against each. So a rotation puts the new key first and keeps the old one
/// until the old links have expired, then drops it.
fn ring(key: &Secret) -> Vec<(Option<&str>, &str)> {
    let raw = key.expose();
    let pairs: Option<Vec<(Option<&str>, &str)>> = raw
        .split(',')
        .map(|entry| {
            let (id, k) = entry.trim().split_once(':')?;
            let id_ok = (1..=16).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            (id_ok && !k.is_empty()).then_some((Some(id), k))
        })
        .collect();
    match pairs {
        Some(pairs) if raw.contains(':') => pairs,
        _ => vec![(None, raw)],
    }
}

/// Why a `LINK_SIGNING_KEY` value is unusable (a key too short, an id twice), if it is.
pub fn key_problem(key: &Secret) -> Option<String> {
    let keys = ring(key);
    let mut seen = std::collections::BTreeSet::new();
    for (id, k) in &keys {
        if k.len() < MIN_KEY_LEN {
            return Some(match id {
                Some(id) => format!("the key {id} is shorter than {MIN_KEY_LEN} characters"),
                None => format!("use at least {MIN_KEY_LEN} characters"),
            });
        }
        if let Some(id) = id {
            if !seen.insert(*id) {
                return Some(format!("the key id {id} is there twice"));
            }
        }
    }
    None
}

fn mac_with(key: &str, payload: &str) -> Hmac<Sha256> {
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    m.update(payload.as_bytes());
    m
}

/// The MAC under the signing key (the ring's first).
fn mac(key: &Secret, payload: &str) -> Hmac<Sha256> {
    mac_with(signing_key(key).1, payload)
}

fn signing_key(key: &Secret) -> (Option<&str>, &str) {
    ring(key)[0]
}

/// The keys of the link-signing ring, current first, as key material for another use
/// (sealing the multiple-access token, `domain::access`), which derives its own keys from them.
pub(crate) fn key_materials(key: &Secret) -> Vec<&str> {
    ring(key).into_iter().map(|(_, k)| k).collect()
}

/// `payload.signature`, prefixed with the signing key's id when it has one.
fn seal(key: &Secret, payload: &str, sig: &[u8]) -> String {
    let token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(sig)
    );
    match signing_key(key).0 {
        Some(id) => format!("{id}.{token}"),
        None => token,
    }
}

/// The keys that may have signed `token`, and the token without its key id.
fn candidates<'a>(key: &'a Secret, token: &'a str) -> Option<(Vec<&'a str>, &'a str)> {
    let keys = ring(key);
    match token.matches('.').count() {
        1 => Some((keys.iter().map(|(_, k)| *k).collect(), token)),
        2 => {
            let (id, rest) = token.split_once('.')?;
            let (_, k) = keys.iter().find(|(i, _)| *i == Some(id))?;
            Some((vec![*k], rest))
        }
        _ => None,
    }
}

/// The payload of a token whose signature one of the candidate keys made (each compared in
/// constant time); `mac_of` is the MAC over a payload under a key.
fn open(key: &Secret, token: &str, mac_of: impl Fn(&str, &str) -> Hmac<Sha256>) -> Option<String> {
    let (keys, token) = candidates(key, token)?;
    let (payload_b64, sig_b64) = token.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload_b64).ok()?).ok()?;
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).ok()?;
    keys.iter()
        .any(|k| mac_of(k, &payload).verify_slice(&sig).is_ok())
        .then_some(payload)
}

/// The token for `claims`, safe to put in a URL query.
pub fn sign(key: &Secret, claims: &LinkClaims) -> String {
    let expires = claims.expires.to_string();
    let mut fields = vec![
        claims.purpose.tag(),
        claims.user.as_str(),
        claims.language.as_str(),
        claims.country.as_str(),
        &expires,
    ];
    if let Some(record) = &claims.record {
        fields.push(record);
    }
    sign_fields(key, VERSION, &fields)
}

/// Checks a token's signature, purpose and expiry.
pub fn verify(
    key: &Secret,
    token: &str,
    purpose: Purpose,
    now: Timestamp,
) -> Result<LinkClaims, LinkError> {
    let fields = verify_fields(key, token, VERSION)?;
    let (tag, user, language, country, expires, record) = match &fields[..] {
        [tag, user, language, country, expires] => (tag, user, language, country, expires, None),
        [tag, user, language, country, expires, record] => {
            (tag, user, language, country, expires, Some(record.clone()))
        }
        _ => return Err(LinkError::Invalid),
    };
    if tag != purpose.tag() || (purpose == Purpose::Erase) != record.is_some() {
        return Err(LinkError::Invalid);
    }
    Ok(LinkClaims {
        purpose,
        user: UserKey::from_stored(user.clone()),
        language: Language::parse(language).map_err(|_| LinkError::Invalid)?,
        country: Country::parse(country).map_err(|_| LinkError::Invalid)?,
        expires: expiry(expires, now)?,
        record,
    })
}

/// Signs `fields` (none may hold `|`) under a version tag of their own, for a URL or a cookie.
fn sign_fields(key: &Secret, version: &str, fields: &[&str]) -> String {
    let payload = std::iter::once(version)
        .chain(fields.iter().copied())
        .collect::<Vec<_>>()
        .join("|");
    let sig = mac(key, &payload).finalize().into_bytes();
    seal(key, &payload, &sig)
}

/// The fields of a genuine token of `version` (signature checked, in constant time).
fn verify_fields(key: &Secret, token: &str, version: &str) -> Result<Vec<String>, LinkError> {
    if token.len() > 1024 {
        return Err(LinkError::Invalid);
    }
    let payload = open(key, token, mac_with).ok_or(LinkError::Invalid)?;
    let mut parts = payload.split('|');
    if parts.next() != Some(version) {
        return Err(LinkError::Invalid);
    }
    Ok(parts.map(str::to_owned).collect())
}

fn expiry(raw: &str, now: Timestamp) -> Result<i64, LinkError> {
    let expires: i64 = raw.parse().map_err(|_| LinkError::Invalid)?;
    if now.timestamp() >= expires {
        return Err(LinkError::Expired);
    }
    Ok(expires)
}

/// What an applicant's emailed log-in link carries: a random id of the request (the address
/// stays in the store, never in the URL) and the sign-in to open afterwards, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginClaims {
    pub nonce: String,
    /// The redirection the person came back from (the callback remembers it through the
    /// log-in, as Kontomatik's guide asks).
    pub redirection: Option<crate::domain::RedirectionId>,
    pub expires: i64,
}

const LOGIN_VERSION: &str = "l1";

pub fn sign_login(key: &Secret, claims: &LoginClaims) -> String {
    let redirection = claims.redirection.as_ref().map_or("-", |r| r.as_str());
    sign_fields(
        key,
        LOGIN_VERSION,
        &[&claims.nonce, redirection, &claims.expires.to_string()],
    )
}

pub fn verify_login(key: &Secret, token: &str, now: Timestamp) -> Result<LoginClaims, LinkError> {
    let fields = verify_fields(key, token, LOGIN_VERSION)?;
    let [nonce, redirection, expires] = &fields[..] else {
        return Err(LinkError::Invalid);
    };
    Ok(LoginClaims {
        nonce: nonce.clone(),
        redirection: match redirection.as_str() {
            "-" => None,
            id => Some(crate::domain::RedirectionId::parse(id).map_err(|_| LinkError::Invalid)?),
        },
        expires: expiry(expires, now)?,
    })
}

/// What an applicant's session cookie carries: whose, of which verification of their record
/// (a record made anew after an erasure or a lapse is verified at another moment, so no older
/// cookie is valid for it), of which session generation (raised to end every session), until
/// when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub user: UserKey,
    /// When the record was verified (epoch milliseconds).
    pub verified: i64,
    pub generation: u64,
    pub expires: i64,
}

const SESSION_VERSION: &str = "s1";

pub fn sign_session(key: &Secret, claims: &SessionClaims) -> String {
    sign_fields(
        key,
        SESSION_VERSION,
        &[
            claims.user.as_str(),
            &claims.verified.to_string(),
            &claims.generation.to_string(),
            &claims.expires.to_string(),
        ],
    )
}

pub fn verify_session(
    key: &Secret,
    token: &str,
    now: Timestamp,
) -> Result<SessionClaims, LinkError> {
    let fields = verify_fields(key, token, SESSION_VERSION)?;
    let [user, verified, generation, expires] = &fields[..] else {
        return Err(LinkError::Invalid);
    };
    Ok(SessionClaims {
        user: UserKey::from_stored(user.clone()),
        verified: verified.parse().map_err(|_| LinkError::Invalid)?,
        generation: generation.parse().map_err(|_| LinkError::Invalid)?,
        expires: expiry(expires, now)?,
    })
}

/// The forms of our pages that change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Start,
    Resume,
    Unsubscribe,
    Erase,
    /// Marketing asks for a sign-in link.
    StaffLogin,
    /// Marketing confirms the emailed sign-in link.
    StaffSession,
    /// An applicant asks for a log-in link.
    Login,
    /// An applicant confirms the emailed log-in link.
    LoginSession,
    /// An applicant logs out (everywhere) or changes their follow-up choice on their page.
    Account,
    /// A credit officer sends an applicant the next step.
    CaseDecision,
    /// A credit officer refreshes a case from Kontomatik.
    CaseRefresh,
}

impl Form {
    fn tag(self) -> &'static str {
        match self {
            Form::Start => "start",
            Form::Resume => "resume",
            Form::Unsubscribe => "unsubscribe",
            Form::Erase => "erase",
            Form::StaffLogin => "staff-login",
            Form::StaffSession => "staff-session",
            Form::Login => "login",
            Form::LoginSession => "login-session",
            Form::Account => "account",
            Form::CaseDecision => "case-decision",
            Form::CaseRefresh => "case-refresh",
        }
    }
}

/// What a genuine, unexpired form token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormClaims {
    pub form: Form,
    /// Random, 128 bits, hex: spent once by the use case.
    pub nonce: String,
    /// Epoch seconds after which the token no longer works.
    pub expires: i64,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormTokenError {
    /// Missing, cut, forged, or issued for another form.
    #[error("the form is not one of ours")]
    Invalid,
    /// Genuine but left open too long.
    #[error("the form was open too long")]
    Expired,
}

const FORM_VERSION: &str = "f1";

/// The MAC of a form token: over its payload and the browser's binding (the value of a cookie
/// only that browser holds, not in the token itself), so a token fetched by someone else is
/// worthless in this browser.
fn form_mac(key: &str, payload: &str, binding: &str) -> Hmac<Sha256> {
    mac_with(key, &format!("{payload}|bound|{binding}"))
}

/// A fresh token for `form`, bound to `binding`, valid until `expires` (epoch seconds).
pub fn sign_form(key: &Secret, form: Form, expires: i64, binding: &str) -> String {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let payload = format!("{FORM_VERSION}|{}|{nonce}|{expires}", form.tag());
    let sig = form_mac(signing_key(key).1, &payload, binding)
        .finalize()
        .into_bytes();
    seal(key, &payload, &sig)
}

/// Checks a form token's signature, form and expiry (not whether it was spent: that is the
/// store's, see `AllowanceStore::take_allowance`).
pub fn verify_form(
    key: &Secret,
    token: &str,
    form: Form,
    binding: &str,
    now: Timestamp,
) -> Result<FormClaims, FormTokenError> {
    if token.is_empty() || token.len() > 256 {
        return Err(FormTokenError::Invalid);
    }
    let payload =
        open(key, token, |k, p| form_mac(k, p, binding)).ok_or(FormTokenError::Invalid)?;
    let parts: Vec<&str> = payload.split('|').collect();
    let [version, tag, nonce, expires] = parts[..] else {
        return Err(FormTokenError::Invalid);
    };
    if version != FORM_VERSION || tag != form.tag() {
        return Err(FormTokenError::Invalid);
    }
    let expires: i64 = expires.parse().map_err(|_| FormTokenError::Invalid)?;
    if now.timestamp() >= expires {
        return Err(FormTokenError::Expired);
    }
    Ok(FormClaims {
        form,
        nonce: nonce.to_owned(),
        expires,
    })
}

/// A keyed hash of a value the table must not hold in the clear (a client's IP address), under
/// the signing key (after a rotation, a client's limit counters start afresh).
pub fn pseudonym(key: &Secret, kind: &str, value: &str) -> String {
    pseudonym_under(signing_key(key).1, kind, value)
}

/// [`pseudonym`] under one key of the ring.
fn pseudonym_under(key: &str, kind: &str, value: &str) -> String {
    let digest = mac_with(key, &format!("pseudonym|{kind}|{value}"))
        .finalize()
        .into_bytes();
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests;
