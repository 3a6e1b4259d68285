//! Unit tests of the Kontomatik client: the API key kept out of output, exceptions as typed
//! errors, status replies as typed statuses.

#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn the_api_key_never_shows_in_debug_output() {
    let cfg = ClientConfig::new(
        Url::parse("https://test.api.kontomatik.com").unwrap(),
        Secret::new("super-secret-key"),
    );
    let client = KontomatikClient::new(cfg.clone()).unwrap();
    let shown = format!("{cfg:?} {client:?}");
    assert!(!shown.contains("super-secret-key"), "{shown}");
    assert!(shown.contains("test.api.kontomatik.com"));
}

#[test]
fn exceptions_map_to_typed_errors_by_name() {
    let e = |name: &str| Exception {
        name: name.into(),
        message: "m".into(),
        friendly_message: None,
    };
    let bad = StatusCode::BAD_REQUEST;
    assert_eq!(
        exception_error(bad, &e("DefaultImportAlreadyExecuted")),
        KontomatikError::AlreadyImported
    );
    for name in ["InvalidSessionId", "SessionExpired"] {
        assert!(
            matches!(exception_error(StatusCode::NOT_FOUND, &e(name)), KontomatikError::SessionInvalid(ref i) if i.code == name),
            "{name}"
        );
    }
    for name in [
        "ServiceMaintenance",
        "ServiceTemporarilyUnavailable",
        "JobsQuotaExceeded",
    ] {
        assert!(exception_error(bad, &e(name)).is_transient(), "{name}");
    }
    assert_eq!(
        exception_error(bad, &e("JobsQuotaExceeded")),
        KontomatikError::JobsQuotaExceeded,
        "told apart: nothing was started"
    );
    assert_eq!(
        exception_error(StatusCode::NOT_FOUND, &e("InvalidCommandId")),
        KontomatikError::NotFound
    );
    assert_eq!(
        exception_error(bad, &e("Whatever")),
        KontomatikError::Rejected(ErrorInfo {
            code: "Whatever".into(),
            message: "m".into()
        }),
        "unknown names keep their text"
    );
    assert_eq!(
        non_command_error(StatusCode::UNAUTHORIZED, &Reply::Comment("check".into())),
        KontomatikError::Unauthorized
    );
}

#[test]
fn status_replies_parse_into_typed_statuses() {
    let reply = |json: &str| parse_status(serde_json::from_str(json).unwrap());
    let id = RedirectionId::parse("r").unwrap();
    assert!(matches!(
        parse_status_reply(br#"{"redirectionId":"other","status":"expired"}"#, &id),
        Err(KontomatikError::Malformed(_))
    ));
    assert_eq!(
        reply(r#"{"status":"in_progress"}"#).unwrap(),
        RedirectionStatus::InProgress
    );
    let ok = reply(
        r#"{"redirectionId":"r","status":"success","sessionId":"s","sessionIdSignature":"sig","target":"Bank","ownerExternalId":"own-1"}"#,
    )
    .unwrap();
    let RedirectionStatus::Success(s) = ok else {
        panic!()
    };
    assert_eq!(s.session_id_signature.expose(), "sig");
    assert_eq!(s.owner_external_id.unwrap().as_str(), "own-1");
    assert!(reply(r#"{"status":"success","sessionId":"s"}"#).is_err());
    assert!(reply(r#"{"status":"error"}"#).is_err());
    assert!(reply(r#"{"status":"weird"}"#).is_err());
}
