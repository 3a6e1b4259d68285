//! Contract tests shared by every adapter of a port: the embedded ones run them in this crate's
//! unit tests; the AWS ones run the very same functions against moto server. An adapter that
//! passes these behaves like the others wherever the use cases can tell.
//!
//! Each check panics with a message naming what broke, like any test assertion. One file per
//! port concern; every check is reachable here as `contract::NAME`.
#![allow(clippy::unwrap_used)]

mod allowances;
mod cases;
mod erasure;
mod imports;
mod mail;
mod people;
mod queue;
mod redirections;

#[cfg(test)]
mod tests;

use chrono::Duration;

use crate::clock::Clock;
use crate::domain::import::ImportSummary;
use crate::domain::machine::{NewRedirection, Redirection};
use crate::domain::{AccessMode, Country, Email, Language, OwnerExternalId, RedirectionId};
use crate::ports::{ConsentChoice, ConsentSource, ImportRecord, UserProfile};

pub use allowances::{store_allowances, store_import_slots};
pub use cases::{store_access_grants, store_case_lookups, store_cases};
pub use erasure::{store_erasure, store_retention};
pub use imports::store_imports_and_funnel;
pub use mail::{mail_was_recorded, sample_marketing_mail, RecordedMail};
pub use people::{store_identity, store_staff_sessions, store_users};
pub use queue::{queue_semantics, TimePasses};
pub use redirections::{
    store_conditional_writes, store_due_for_poll, store_race_has_one_winner,
    store_ttl_hides_forgotten_items,
};

/// A redirection created now on `clock`, first poll 5 minutes later.
pub fn new_redirection(id: &str, email: &str, clock: &dyn Clock) -> Redirection {
    let now = clock.now();
    Redirection::new(
        NewRedirection {
            id: RedirectionId::parse(id).unwrap(),
            owner: OwnerExternalId::parse("own-contract").unwrap(),
            email: Email::parse(email).unwrap(),
            language: Language::parse("pl").unwrap(),
            country: Country::parse("pl").unwrap(),
            access_mode: AccessMode::Single,
            link: format!("https://example.test/signin/{id}"),
            first_poll_at: now + Duration::minutes(5),
        },
        now,
    )
}

/// A user record for `email`, created now, kept a year.
pub fn user(email: &str, clock: &dyn Clock) -> UserProfile {
    let email = Email::parse(email).unwrap();
    UserProfile {
        key: email.user_key(),
        owner: OwnerExternalId::generate(),
        email,
        name: "Ann".into(),
        language: Language::parse("en").unwrap(),
        consent: ConsentChoice {
            given: true,
            at: clock.now(),
            source: ConsentSource::StartForm,
        },
        created_at: clock.now(),
        last_follow_up_at: None,
        last_success_at: None,
        expires_at: clock.now() + Duration::days(365),
        verified_at: None,
        session_generation: 0,
    }
}

fn import_record(owner: &OwnerExternalId, id: &str, clock: &dyn Clock) -> ImportRecord {
    ImportRecord {
        owner: owner.clone(),
        redirection_id: RedirectionId::parse(id).unwrap(),
        imported_at: clock.now(),
        summary: ImportSummary::default(),
        credit: None,
        source: Default::default(),
        expires_at: clock.now() + Duration::days(90),
    }
}

/// A prefix that keeps one run's ids apart from another's in a shared table.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
