//! The simulated Kontomatik's unit tests: statuses, expiry, imports, banks' outcomes.
#![allow(clippy::unwrap_used)]
use super::*;
use chrono::TimeZone;

fn t0() -> Time {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().unwrap()
}

fn since() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 11, 2).unwrap()
}

fn new_sim() -> (Sim, String) {
    let mut s = Sim::new(SimConfig::default());
    let r = s.fetch_redirection(
        NewRedirection {
            redirect_uri: "https://app.test/kontomatik-signin?lang=en".into(),
            owner_external_id: Some("own-1".into()),
            language: "en".into(),
            country: "pl".into(),
            access_mode: "single".into(),
        },
        t0(),
    );
    (s, r.id)
}

#[test]
fn status_follows_the_user_and_polls_are_paced() {
    let (mut s, id) = new_sim();
    assert_eq!(s.status(&id, t0()).unwrap().0.status, Status::Initialized);
    assert!(matches!(
        s.status(&id, t0() + Duration::minutes(4)),
        Err(SimError::RateLimited {
            retry_after_secs: 60
        })
    ));
    // A change of status lets the next read through at once.
    s.act(&id, UserAction::Open, None, t0() + Duration::minutes(4))
        .unwrap();
    assert_eq!(
        s.status(&id, t0() + Duration::minutes(4)).unwrap().0.status,
        Status::InProgress
    );
    let acted = s
        .act(
            &id,
            UserAction::Succeed,
            Some("DemoBank"),
            t0() + Duration::minutes(6),
        )
        .unwrap();
    let Acted::Done {
        redirect_to: Some(back),
    } = acted
    else {
        panic!("{acted:?}")
    };
    assert_eq!(
        back,
        format!("https://app.test/kontomatik-signin?lang=en&redirectionId={id}")
    );
    let (r, session) = s.status(&id, t0() + Duration::minutes(6)).unwrap();
    assert!(matches!(r.status, Status::Success { .. }));
    assert_eq!(session.unwrap().owner_external_id.as_deref(), Some("own-1"));
    assert_eq!(s.counters.rate_limited, 1);
    assert_eq!(s.counters.status_calls[&id], 4);
}

#[test]
fn an_unused_link_expires_after_an_hour_and_is_forgotten_after_a_day() {
    let (mut s, id) = new_sim();
    let later = t0() + Duration::minutes(59);
    assert_eq!(s.peek(&id, later).unwrap().status, Status::Initialized);
    assert_eq!(
        s.status(&id, t0() + Duration::hours(1)).unwrap().0.status,
        Status::Expired
    );
    let acted = s
        .act(&id, UserAction::Succeed, None, t0() + Duration::hours(2))
        .unwrap();
    assert!(matches!(acted, Acted::LinkExpired { .. }));
    assert!(s.sessions.is_empty(), "no session from an expired link");
    assert_eq!(
        s.status(&id, t0() + Duration::hours(24)).unwrap_err(),
        SimError::NotFound
    );
    assert_eq!(s.status("nope", t0()).unwrap_err(), SimError::NotFound);
}

#[test]
fn default_import_runs_once_per_session() {
    let (mut s, id) = new_sim();
    s.act(&id, UserAction::Succeed, Some("DemoBank"), t0())
        .unwrap();
    let session = s.sessions.values().next().unwrap().clone();
    let cmd = s
        .default_import(&session.id, &session.signature, since(), t0())
        .unwrap();
    assert_eq!(
        s.default_import(&session.id, &session.signature, since(), t0()),
        Err(SimError::AlreadyExecuted)
    );
    assert_eq!(s.counters.imports_started, 1);
    assert_eq!(s.counters.duplicate_imports, 1);
    assert_eq!(
        s.default_import(&session.id, "forged", since(), t0()),
        Err(SimError::InvalidSession)
    );
    assert!(
        s.owner_data("own-1").is_err(),
        "no data before the import ends"
    );
    let states: Vec<_> = (0..4)
        .map(|_| s.command_status(cmd, 7, t0()).unwrap().state)
        .collect();
    assert_eq!(
        states,
        vec!["setup", "in_progress", "successful", "successful"]
    );
    assert_eq!(
        s.command_status(cmd + 1, 7, t0()),
        Err(SimError::CommandNotFound)
    );
    let kept = s.owner_data("own-1").unwrap();
    assert_eq!(kept.command_id, cmd);
    assert_eq!(kept.since, since());
    s.sign_out(&session.id, &session.signature).unwrap();
    assert_eq!(
        s.sign_out(&session.id, &session.signature),
        Err(SimError::InvalidSession),
        "signed out once"
    );
    s.delete_owner_data("own-1").unwrap();
    assert_eq!(s.owner_data("own-1").unwrap_err(), SimError::OwnerNotFound);
}

#[test]
fn a_late_import_finds_the_session_expired() {
    let (mut s, id) = new_sim();
    s.act(&id, UserAction::Succeed, None, t0()).unwrap();
    let session = s.sessions.values().next().unwrap().clone();
    assert_eq!(
        s.default_import(
            &session.id,
            &session.signature,
            since(),
            t0() + Duration::hours(2)
        ),
        Err(SimError::SessionExpired)
    );
}

#[test]
fn the_bank_decides_how_the_import_ends() {
    for (bank, state) in [("FlakyBank", "error"), ("BrokenBank", "fatal")] {
        let (mut s, id) = new_sim();
        s.act(&id, UserAction::Succeed, Some(bank), t0()).unwrap();
        let ses = s.sessions.values().next().unwrap().clone();
        let cmd = s
            .default_import(&ses.id, &ses.signature, since(), t0())
            .unwrap();
        let mut last = None;
        for _ in 0..3 {
            last = Some(s.command_status(cmd, 1, t0()).unwrap());
        }
        let last = last.unwrap();
        assert_eq!(last.state, state);
        assert!(last.exception.is_some());
        assert_eq!(last.data_seed, None);
    }
}

#[test]
fn failures_and_cancellations_end_in_error_and_send_the_user_back() {
    for (action, code) in [
        (UserAction::FailLogin, "InvalidCredentials"),
        (UserAction::Cancel, "UserCancelled"),
    ] {
        let (mut s, id) = new_sim();
        let acted = s.act(&id, action, None, t0()).unwrap();
        assert!(matches!(
            acted,
            Acted::Done {
                redirect_to: Some(_)
            }
        ));
        let (r, _) = s.status(&id, t0()).unwrap();
        assert!(matches!(r.status, Status::Error { code: ref c, .. } if c == code));
        let again = s.act(&id, UserAction::Succeed, None, t0()).unwrap();
        assert!(matches!(again, Acted::AlreadyFinished { .. }));
    }
}
