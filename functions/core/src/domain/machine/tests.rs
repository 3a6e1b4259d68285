use super::*;
use crate::domain::Secret;
use chrono::TimeZone;
use std::collections::HashSet;

pub(crate) fn t0() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .expect("valid time")
}

pub(crate) fn sample(id: &str) -> Redirection {
    Redirection::new(
        NewRedirection {
            id: RedirectionId::parse(id).expect("id"),
            owner: OwnerExternalId::parse("own-1").expect("owner"),
            email: Email::parse("ann@example.com").expect("email"),
            language: Language::parse("en").expect("lang"),
            country: Country::parse("pl").expect("country"),
            access_mode: AccessMode::Single,
            link: "https://sandbox/signin/x".into(),
            first_poll_at: t0() + Duration::minutes(5),
        },
        t0(),
    )
}

fn session() -> SessionData {
    SessionData {
        session_id: "s1".into(),
        session_id_signature: Secret::new("sig"),
        target: "DemoBank".into(),
        owner_external_id: None,
        multiple_access_token: None,
    }
}

fn error() -> ErrorInfo {
    ErrorInfo {
        code: "UserCancelled".into(),
        message: "The user cancelled".into(),
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::StillOpen {
            status: KontomatikStatus::InProgress,
            next_poll_at: Some(t0()),
        },
        Event::CheckDeferred {
            next_poll_at: Some(t0()),
        },
        Event::CheckLeased {
            next_poll_at: Some(t0()),
        },
        Event::SignInSucceeded { session: session() },
        Event::SignInFailed {
            error: error(),
            follow_up_at: Some(t0()),
        },
        Event::LinkExpired {
            follow_up_at: Some(t0()),
        },
        Event::WindowClosed { follow_up_at: None },
        Event::UserReturned,
        Event::ImportQueued,
        Event::ImportClaimed,
        Event::ImportCommandStarted {
            command_id: CommandId::parse("77").expect("cmd"),
        },
        Event::ImportNotStarted { claimed_at: t0() },
        Event::ImportJobSent { continuation: 1 },
        Event::ImportAbandoned { error: error() },
        Event::ImportFinished { error: None },
        Event::FollowUpSent,
        Event::FollowUpSkipped,
        Event::EmailUnsent { retry_at: t0() },
        Event::EmailSent,
    ]
}

/// A redirection in `state` with the data that state implies.
fn in_state(state: State) -> Redirection {
    let mut r = sample("r1");
    r.state = state;
    if !state.in_poll_index() {
        r.next_poll_at = None;
    }
    if matches!(state, State::ImportQueued | State::ImportRunning) {
        // Due: the poller may abandon it.
        r.next_poll_at = Some(t0());
    }
    if state >= State::ImportRunning && state <= State::ImportFailed {
        r.import = Some(ImportProgress {
            claimed_at: t0(),
            command_id: None,
            finished_at: None,
            error: None,
        });
    }
    r
}

/// The legal transitions, written out once by hand from the diagram above.
fn legal() -> Vec<(State, EventKind, State)> {
    use EventKind as E;
    use State::*;
    let mut v = vec![];
    for from in [Created, Pending] {
        v.push((from, E::StillOpen, Pending));
        v.push((from, E::CheckDeferred, from));
        v.push((from, E::CheckLeased, from));
        v.push((from, E::SignInSucceeded, SessionSaved));
        v.push((from, E::SignInFailed, Failed));
        v.push((from, E::LinkExpired, Expired));
        v.push((from, E::WindowClosed, Expired));
    }
    for s in State::ALL {
        v.push((s, E::UserReturned, s));
    }
    v.push((SessionSaved, E::ImportQueued, ImportQueued));
    v.push((SessionSaved, E::CheckDeferred, SessionSaved));
    v.push((SessionSaved, E::ImportClaimed, ImportRunning));
    v.push((ImportQueued, E::ImportClaimed, ImportRunning));
    v.push((ImportRunning, E::ImportCommandStarted, ImportRunning));
    v.push((ImportRunning, E::ImportNotStarted, ImportQueued));
    v.push((ImportRunning, E::ImportFinished, Imported));
    v.push((ImportQueued, E::ImportJobSent, ImportQueued));
    v.push((SessionSaved, E::ImportJobSent, ImportQueued));
    // `in_state` makes them due (next_poll_at in the past).
    v.push((ImportQueued, E::ImportAbandoned, ImportFailed));
    v.push((ImportRunning, E::ImportAbandoned, ImportFailed));
    v.push((ImportRunning, E::ImportJobSent, ImportRunning));
    v.push((Expired, E::FollowUpSent, FollowUpSent));
    v.push((Failed, E::FollowUpSent, FollowUpSent));
    v.push((Expired, E::FollowUpSkipped, Expired));
    v.push((Failed, E::FollowUpSkipped, Failed));
    v.push((Imported, E::EmailUnsent, Imported));
    v.push((ImportFailed, E::EmailUnsent, ImportFailed));
    v
}

/// A leased status check ends with whatever moves the redirection on: only the lease
/// itself and the user's return (which a callback records before it checks) leave it.
#[test]
fn every_event_but_the_lease_and_the_return_ends_a_leased_check() {
    let mut ended = 0;
    for from in State::ALL {
        for event in events() {
            let kind = event.kind();
            let mut r = in_state(from);
            r.check_leased_at = Some(t0());
            let Ok(next) = apply(&r, event, t0() + Duration::minutes(1)) else {
                continue;
            };
            match kind {
                EventKind::CheckLeased => {
                    assert_eq!(next.check_leased_at, Some(t0() + Duration::minutes(1)))
                }
                EventKind::UserReturned => {
                    assert_eq!(next.check_leased_at, Some(t0()), "{from:?}")
                }
                _ => {
                    assert_eq!(next.check_leased_at, None, "{from:?} + {kind:?}");
                    ended += 1;
                }
            }
        }
    }
    assert!(ended > 10, "the events that apply were tried: {ended}");
}

#[test]
fn every_state_event_pair_is_either_the_listed_transition_or_refused() {
    let legal = legal();
    let mut seen = HashSet::new();
    for from in State::ALL {
        for event in events() {
            let kind = event.kind();
            let r = in_state(from);
            let result = apply(&r, event, t0() + Duration::minutes(1));
            let expected = legal.iter().find(|(f, e, _)| *f == from && *e == kind);
            match (expected, result) {
                (Some((_, _, to)), Ok(next)) => {
                    assert_eq!(next.state, *to, "{from:?} + {kind:?}");
                    assert_eq!(next.version, r.version + 1, "every write bumps the version");
                    assert_eq!(next.updated_at, t0() + Duration::minutes(1));
                    seen.insert((from, kind));
                }
                (None, Err(refused)) => {
                    assert_eq!(refused, Refused { from, event: kind });
                }
                (Some(_), Err(e)) => panic!("{from:?} + {kind:?} should apply, got {e}"),
                (None, Ok(next)) => {
                    panic!(
                        "{from:?} + {kind:?} should be refused, got {:?}",
                        next.state
                    )
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        legal.len(),
        "every legal transition was exercised"
    );
}

#[test]
fn an_unclaimed_import_can_fail_but_never_be_imported() {
    for state in [State::SessionSaved, State::ImportQueued] {
        let r = in_state(state);
        let failed = apply(
            &r,
            Event::ImportFinished {
                error: Some(error()),
            },
            t0(),
        )
        .expect("failed");
        assert_eq!(failed.state, State::ImportFailed);
        assert_eq!(failed.import.unwrap().command_id, None);
        assert!(apply(&r, Event::ImportFinished { error: None }, t0()).is_err());
    }
}

#[test]
fn an_import_is_abandoned_only_while_it_is_still_due() {
    let mut r = in_state(State::ImportRunning);
    r.next_poll_at = Some(t0() + Duration::minutes(15));
    let moved = apply(&r, Event::ImportAbandoned { error: error() }, t0());
    assert!(moved.is_err(), "a worker refreshed it: the worker wins");
    r.next_poll_at = Some(t0());
    let abandoned = apply(&r, Event::ImportAbandoned { error: error() }, t0()).expect("abandoned");
    assert_eq!(abandoned.state, State::ImportFailed);
    assert!(abandoned.email_unsent, "the retry email is owed");
    assert_eq!(abandoned.next_poll_at, Some(t0() + email_retry()));
    let told = apply(&abandoned, Event::EmailSent, t0()).expect("sent");
    assert_eq!(told.next_poll_at, None, "out of the index once told");
}

#[test]
fn the_import_is_looked_at_no_later_than_its_deadline() {
    let mut r = in_state(State::SessionSaved);
    r.session_saved_at = Some(t0());
    let late = t0() + Duration::minutes(50);
    let queued = apply(&r, Event::ImportQueued, late).expect("queued");
    assert_eq!(queued.next_poll_at, Some(t0() + import_deadline()));
    // A success seen late in the window: the deadline comes before the record's end.
    r.session_saved_at = Some(r.forgotten_at() - Duration::minutes(30));
    assert_eq!(
        r.import_deadline_at(),
        r.forgotten_at() - Duration::minutes(10)
    );
}

#[test]
fn import_finished_with_an_error_ends_in_import_failed() {
    let r = in_state(State::ImportRunning);
    let next = apply(
        &r,
        Event::ImportFinished {
            error: Some(error()),
        },
        t0(),
    )
    .expect("applies");
    assert_eq!(next.state, State::ImportFailed);
    let import = next.import.expect("import kept");
    assert_eq!(import.error, Some(error()));
    assert_eq!(import.finished_at, Some(t0()));
}

#[test]
fn a_final_status_cannot_be_reported_as_still_open() {
    let r = in_state(State::Pending);
    let refused = apply(
        &r,
        Event::StillOpen {
            status: KontomatikStatus::Success,
            next_poll_at: None,
        },
        t0(),
    );
    assert!(refused.is_err());
}

#[test]
fn a_drop_off_waits_in_the_index_for_its_follow_up_decision() {
    let r = in_state(State::Pending);
    let at = t0() + Duration::hours(2);
    let expired = apply(
        &r,
        Event::LinkExpired {
            follow_up_at: Some(at),
        },
        t0(),
    )
    .expect("expired");
    assert_eq!(expired.next_poll_at, Some(at));
    let skipped = apply(&expired, Event::FollowUpSkipped, at).expect("skip");
    assert_eq!(skipped.state, State::Expired);
    assert_eq!(skipped.next_poll_at, None, "decided: out of the index");
    assert!(
        apply(&skipped, Event::FollowUpSkipped, at).is_err(),
        "decided once"
    );
    let sent = apply(&expired, Event::FollowUpSent, at).expect("sent");
    assert_eq!(sent.next_poll_at, None);
}

#[test]
fn the_user_return_is_recorded_once() {
    let r = in_state(State::Pending);
    let once = apply(&r, Event::UserReturned, t0()).expect("first return");
    assert_eq!(once.returned_at, Some(t0()));
    assert!(apply(&once, Event::UserReturned, t0() + Duration::minutes(1)).is_err());
}

#[test]
fn the_command_id_is_stored_once_and_never_replaced() {
    let r = in_state(State::ImportRunning);
    let started = apply(
        &r,
        Event::ImportCommandStarted {
            command_id: CommandId::parse("1").expect("cmd"),
        },
        t0(),
    )
    .expect("first");
    let again = apply(
        &started,
        Event::ImportCommandStarted {
            command_id: CommandId::parse("2").expect("cmd"),
        },
        t0(),
    );
    assert!(again.is_err());
    assert_eq!(
        started.import.and_then(|i| i.command_id).map(String::from),
        Some("1".into())
    );
}

#[test]
fn a_claim_is_given_back_only_by_its_own_taker_and_only_before_a_command_id() {
    let r = in_state(State::ImportRunning);
    let other_claim = Event::ImportNotStarted {
        claimed_at: t0() + Duration::seconds(1),
    };
    assert!(
        apply(&r, other_claim, t0()).is_err(),
        "another worker's claim"
    );
    let started = apply(
        &r,
        Event::ImportCommandStarted {
            command_id: CommandId::parse("1").expect("cmd"),
        },
        t0(),
    )
    .expect("started");
    let ours = Event::ImportNotStarted { claimed_at: t0() };
    assert!(
        apply(&started, ours.clone(), t0()).is_err(),
        "a command runs"
    );
    let released = apply(&r, ours, t0()).expect("released");
    assert_eq!(released.state, State::ImportQueued);
    assert!(released.import.is_none());
}

#[test]
fn only_a_newer_import_job_becomes_the_live_one() {
    let r = in_state(State::ImportRunning);
    let sent = apply(&r, Event::ImportJobSent { continuation: 3 }, t0()).expect("newer");
    assert_eq!(sent.job_continuation, 3);
    for stale in [0, 2, 3] {
        assert!(
            apply(
                &sent,
                Event::ImportJobSent {
                    continuation: stale
                },
                t0()
            )
            .is_err(),
            "{stale}"
        );
    }
}

#[test]
fn claiming_the_import_records_when_default_import_became_possible() {
    let r = in_state(State::ImportQueued);
    let claimed = apply(&r, Event::ImportClaimed, t0()).expect("claim");
    let import = claimed.import.clone().expect("progress");
    assert_eq!(import.claimed_at, t0());
    assert_eq!(import.command_id, None);
    // A second claim (redelivery, a racing worker) is refused.
    assert!(apply(&claimed, Event::ImportClaimed, t0()).is_err());
}

#[test]
fn polling_schedule_is_kept_only_while_polling_is_needed() {
    let r = sample("r2");
    assert_eq!(r.next_poll_at, Some(t0() + Duration::minutes(5)));
    let later = t0() + Duration::minutes(12);
    let pending = apply(
        &r,
        Event::StillOpen {
            status: KontomatikStatus::InProgress,
            next_poll_at: Some(later),
        },
        t0() + Duration::minutes(5),
    )
    .expect("pending");
    assert_eq!(pending.next_poll_at, Some(later));
    assert_eq!(pending.status_checks, 1);
    let done = apply(
        &pending,
        Event::SignInSucceeded { session: session() },
        later,
    )
    .expect("success");
    assert_eq!(
        done.next_poll_at,
        Some(later + import_recovery_delay()),
        "a saved session stays in the index until its import is queued"
    );
    assert_eq!(done.session, Some(session()));
    assert_eq!(done.status_checks, 2);
    let queued = apply(&done, Event::ImportQueued, later).expect("queued");
    assert_eq!(
        queued.next_poll_at,
        Some(later + import_stale_after()),
        "a queued import is looked at again if nothing moves it"
    );
    let claimed = apply(&queued, Event::ImportClaimed, later).expect("claimed");
    assert_eq!(claimed.next_poll_at, Some(later + import_stale_after()));
    let done = apply(&claimed, Event::ImportFinished { error: None }, later).expect("done");
    assert_eq!(
        done.next_poll_at,
        Some(later + email_retry()),
        "stays until its email is sent"
    );
    let told = apply(&done, Event::EmailSent, later).expect("sent");
    assert_eq!(told.next_poll_at, None, "leaves the sparse poll index");
}

#[test]
fn lifetimes_follow_the_guide() {
    let r = sample("r3");
    assert_eq!(r.link_expires_at() - r.created_at, Duration::hours(1));
    assert_eq!(r.forgotten_at() - r.created_at, Duration::hours(24));
    assert_eq!(
        r.ttl_epoch_seconds(),
        (t0() + Duration::hours(24)).timestamp()
    );
    assert!(!r.is_forgotten(t0() + Duration::hours(23)));
    assert!(r.is_forgotten(t0() + Duration::hours(24)));
}

#[test]
fn states_round_trip_through_their_names() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            format!("\"{}\"", s.as_str())
        );
    }
    assert_eq!(State::parse("nonsense"), None);
}
