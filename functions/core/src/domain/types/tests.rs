#[test]
fn addresses_of_one_inbox_share_a_mailbox_key() {
    let key = |a: &str| Email::parse(a).unwrap().mailbox_key();
    let john = key("johnsmith@gmail.com");
    for same in [
        "j.ohnsmith@gmail.com",
        "John.Smith@Gmail.com",
        "johnsmith@googlemail.com",
        "j.o.h.n.smith+lender@googlemail.com",
    ] {
        assert_eq!(key(same), john, "{same}");
    }
    assert_eq!(key("ann+2@example.com"), key("ann+3@example.com"));
    assert_eq!(key("ann+2@example.com"), key("ann@example.com"));
    // Dots count everywhere else (a provider that does not document otherwise).
    assert_ne!(key("a.nn@example.com"), key("ann@example.com"));
    assert_ne!(key("johnsmith@gmail.com"), key("johnsmith@example.com"));
}

use super::*;

#[test]
fn redirection_id_accepts_kontomatik_shapes_and_refuses_the_rest() {
    assert!(RedirectionId::parse("a1b2-C3_d4.e5").is_ok());
    assert_eq!(
        RedirectionId::parse(""),
        Err(InvalidInput::Missing {
            field: "redirectionId"
        })
    );
    assert!(matches!(
        RedirectionId::parse(&"x".repeat(10 * 1024)),
        Err(InvalidInput::TooLong { max: 128, .. })
    ));
    for bad in ["a b", "a/b", "<script>", "ä", "a?b=c", "a%20"] {
        assert!(
            matches!(RedirectionId::parse(bad), Err(InvalidInput::Format { .. })),
            "{bad}"
        );
    }
}

#[test]
fn ids_refuse_bad_values_when_deserialised_too() {
    let bad: Result<RedirectionId, _> = serde_json::from_str("\"a b\"");
    assert!(bad.is_err());
    let good: RedirectionId = serde_json::from_str("\"abc\"").expect("valid id");
    assert_eq!(good.as_str(), "abc");
}

#[test]
fn email_is_normalised_and_one_person_has_one_key() {
    let a = Email::parse("  Ann.Smith@Example.COM ").expect("valid");
    assert_eq!(a.as_str(), "Ann.Smith@example.com");
    let b = Email::parse("ann.smith@example.com").expect("valid");
    assert_eq!(a.user_key(), b.user_key());
    assert_ne!(
        a.user_key(),
        Email::parse("bob@example.com").expect("valid").user_key()
    );
    assert!(!a.user_key().as_str().contains('@'));
}

#[test]
fn email_refuses_what_cannot_be_an_address() {
    for bad in [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@.com",
        "ann@exa..com",
        "ann smith@example.com",
        "ann@example.com\r\nBcc: x@y.z",
        "\"a\"@b.com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?}");
    }
    assert!(matches!(
        Email::parse(&format!("{}@example.com", "a".repeat(300))),
        Err(InvalidInput::TooLong { .. })
    ));
}

#[test]
fn language_and_country_accept_supported_codes_in_any_case() {
    assert_eq!(Language::parse("PL").expect("pl").as_str(), "pl");
    assert_eq!(Country::parse(" de ").expect("de").as_str(), "de");
    let err = Language::parse("klingon").expect_err("unsupported");
    assert!(err.to_string().contains("choose one of: en, pl"), "{err}");
    let long = Country::parse(&"z".repeat(5000)).expect_err("unsupported");
    assert!(long.to_string().len() < 300, "error echoes a short value");
    assert_eq!(
        Country::parse(""),
        Err(InvalidInput::Missing { field: "country" })
    );
}

#[test]
fn access_mode_parses_the_three_modes() {
    assert_eq!(AccessMode::default(), AccessMode::Single);
    for m in AccessMode::ALL {
        assert_eq!(AccessMode::parse(m.as_str()), Ok(m));
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(json, format!("\"{}\"", m.as_str()));
    }
    assert!(AccessMode::parse("sometimes").is_err());
}

#[test]
fn secrets_never_show_in_debug_or_display() {
    let s = SessionData {
        session_id: "s-1".into(),
        session_id_signature: Secret::new("very-secret-signature"),
        target: "bank".into(),
        owner_external_id: None,
        multiple_access_token: Some(Secret::new("token-xyz")),
    };
    let shown = format!("{s:?} {}", s.session_id_signature);
    assert!(!shown.contains("very-secret-signature"));
    assert!(!shown.contains("token-xyz"));
    // ...but storage keeps them.
    let json = serde_json::to_string(&s).expect("json");
    assert!(json.contains("very-secret-signature"));
}

#[test]
fn only_success_error_expired_are_final() {
    use KontomatikStatus::*;
    let finals: Vec<_> = [Initialized, InProgress, Success, Error, Expired]
        .into_iter()
        .filter(|s| s.is_final())
        .collect();
    assert_eq!(finals, vec![Success, Error, Expired]);
    for s in [
        CommandState::Setup,
        CommandState::InProgress,
        CommandState::Successful,
        CommandState::Error,
        CommandState::Fatal,
    ] {
        assert_eq!(CommandState::parse(s.as_str()), Some(s));
    }
    assert_eq!(CommandState::parse("done"), None);
}
