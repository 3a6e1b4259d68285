use super::*;
use crate::domain::machine::tests::t0;

fn key() -> Secret {
    Secret::new("a-test-signing-key-of-enough-length!!")
}

fn claims_for(purpose: Purpose) -> LinkClaims {
    claims(purpose)
}

fn claims(purpose: Purpose) -> LinkClaims {
    LinkClaims {
        purpose,
        user: UserKey::from_stored("abc123".into()),
        language: Language::parse("pl").expect("pl"),
        country: Country::parse("pl").expect("pl"),
        expires: (t0() + chrono::Duration::days(7)).timestamp(),
        record: (purpose == Purpose::Erase).then(|| "a-record".to_owned()),
    }
}

const OLD: &str = "an-old-signing-key-of-enough-length!!";
const NEW: &str = "a-new-signing-key-of-enough-length!!!";

/// A rotation: the new key first (it signs), the old one kept (it still verifies).
#[test]
fn a_token_signed_before_a_rotation_still_verifies() {
    let now = t0();
    let claims = claims(Purpose::Erase);
    // from a single key to a ring: the old tokens carry no key id
    let before = sign(&Secret::new(OLD), &claims);
    let ring = Secret::new(format!("k2:{NEW},k1:{OLD}"));
    assert_eq!(
        verify(&ring, &before, Purpose::Erase, now),
        Ok(claims.clone())
    );
    // from one ring to the next: the old tokens carry the old key's id
    let signed_by_k1 = sign(&Secret::new(format!("k1:{OLD}")), &claims);
    assert!(signed_by_k1.starts_with("k1."), "{signed_by_k1}");
    assert_eq!(
        verify(&ring, &signed_by_k1, Purpose::Erase, now),
        Ok(claims.clone())
    );
    // the first key signs, under its id
    let after = sign(&ring, &claims);
    assert!(after.starts_with("k2."), "{after}");
    assert_eq!(
        verify(
            &Secret::new(format!("k2:{NEW}")),
            &after,
            Purpose::Erase,
            now
        ),
        Ok(claims.clone())
    );
    // sessions, log-in links and form tokens alike
    let session = SessionClaims {
        user: claims.user.clone(),
        verified: 1_700_000_000_000,
        generation: 1,
        expires: claims.expires,
    };
    let s = sign_session(&Secret::new(format!("k1:{OLD}")), &session);
    assert_eq!(verify_session(&ring, &s, now), Ok(session));
    let f = sign_form(&Secret::new(OLD), Form::Erase, claims.expires, "b");
    assert!(verify_form(&ring, &f, Form::Erase, "b", now).is_ok());
}

#[test]
fn a_token_of_an_unknown_or_swapped_key_id_is_refused() {
    let now = t0();
    let claims = claims(Purpose::Erase);
    let retired = sign(&Secret::new(format!("k1:{OLD}")), &claims);
    let ring = Secret::new(format!("k2:{NEW}"));
    assert_eq!(
        verify(&ring, &retired, Purpose::Erase, now),
        Err(LinkError::Invalid)
    );
    // a token signed by k1 and relabelled k2 is checked against k2's key only
    let relabelled = retired.replacen("k1.", "k2.", 1);
    let both = Secret::new(format!("k2:{NEW},k1:{OLD}"));
    assert_eq!(
        verify(&both, &relabelled, Purpose::Erase, now),
        Err(LinkError::Invalid)
    );
    // an old, id-less token after its key left the ring
    let plain = sign(&Secret::new(OLD), &claims);
    assert_eq!(
        verify(&ring, &plain, Purpose::Erase, now),
        Err(LinkError::Invalid)
    );
}

#[test]
fn a_ring_with_a_short_key_or_an_id_twice_is_refused() {
    assert_eq!(
        key_problem(&Secret::new(format!("k2:{NEW},k1:{OLD}"))),
        None
    );
    assert_eq!(key_problem(&Secret::new(OLD)), None);
    assert!(key_problem(&Secret::new(format!("k2:{NEW},k1:short"))).is_some());
    assert!(key_problem(&Secret::new(format!("k1:{NEW},k1:{OLD}"))).is_some());
    assert!(key_problem(&Secret::new("short")).is_some());
}

#[test]
fn a_signed_link_verifies_until_it_expires() {
    let token = sign(&key(), &claims(Purpose::Resume));
    assert!(token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    assert_eq!(
        verify(&key(), &token, Purpose::Resume, t0()),
        Ok(claims(Purpose::Resume))
    );
    assert_eq!(
        verify(
            &key(),
            &token,
            Purpose::Resume,
            t0() + chrono::Duration::days(7)
        ),
        Err(LinkError::Expired)
    );
}

#[test]
fn tampering_wrong_key_and_wrong_purpose_are_refused() {
    let token = sign(&key(), &claims(Purpose::Resume));
    let other_key = Secret::new("another-key-another-key-another-key");
    assert_eq!(
        verify(&other_key, &token, Purpose::Resume, t0()),
        Err(LinkError::Invalid)
    );
    assert_eq!(
        verify(&key(), &token, Purpose::Unsubscribe, t0()),
        Err(LinkError::Invalid),
        "a resume link cannot unsubscribe"
    );
    // Change the payload (a later expiry) but keep the signature.
    let (_, sig) = token.split_once('.').expect("two parts");
    let mut forged = claims(Purpose::Resume);
    forged.expires += 86_400 * 365;
    let forged_token = sign(&other_key, &forged);
    let (payload, _) = forged_token.split_once('.').expect("two parts");
    assert_eq!(
        verify(&key(), &format!("{payload}.{sig}"), Purpose::Resume, t0()),
        Err(LinkError::Invalid)
    );
    for junk in [
        "",
        ".",
        "abc",
        "a.b",
        &"x".repeat(5000),
        &token[..token.len() - 2],
    ] {
        assert_eq!(
            verify(&key(), junk, Purpose::Resume, t0()),
            Err(LinkError::Invalid),
            "{junk:.20}"
        );
    }
}

#[test]
fn a_form_token_works_for_its_own_form_until_it_expires() {
    let exp = (t0() + chrono::Duration::hours(2)).timestamp();
    let token = sign_form(&key(), Form::Start, exp, "b1");
    let claims = verify_form(&key(), &token, Form::Start, "b1", t0()).expect("genuine");
    assert_eq!(claims.expires, exp);
    assert_eq!(claims.nonce.len(), 32);
    assert_eq!(
        verify_form(&key(), &token, Form::Start, "b2", t0()),
        Err(FormTokenError::Invalid),
        "a token is worthless in another browser"
    );
    assert_eq!(
        verify_form(&key(), &token, Form::Start, "", t0()),
        Err(FormTokenError::Invalid)
    );
    let again = sign_form(&key(), Form::Start, exp, "b1");
    assert_ne!(
        verify_form(&key(), &again, Form::Start, "b1", t0())
            .expect("genuine")
            .nonce,
        claims.nonce,
        "each token has its own nonce"
    );
    assert_eq!(
        verify_form(&key(), &token, Form::Erase, "b1", t0()),
        Err(FormTokenError::Invalid),
        "a start form's token does not work on the erase form"
    );
    assert_eq!(
        verify_form(
            &key(),
            &token,
            Form::Start,
            "b1",
            t0() + chrono::Duration::hours(2)
        ),
        Err(FormTokenError::Expired)
    );
    let other = Secret::new("another-key-another-key-another-key");
    assert_eq!(
        verify_form(&other, &token, Form::Start, "b1", t0()),
        Err(FormTokenError::Invalid)
    );
    // A link token is not a form token, and the other way round.
    let link = sign(&key(), &claims_for(Purpose::Erase));
    assert_eq!(
        verify_form(&key(), &link, Form::Erase, "b1", t0()),
        Err(FormTokenError::Invalid)
    );
    assert_eq!(
        verify(&key(), &token, Purpose::Erase, t0()),
        Err(LinkError::Invalid)
    );
    for junk in ["", ".", "a.b", &"x".repeat(300), &token[..token.len() - 3]] {
        assert_eq!(
            verify_form(&key(), junk, Form::Start, "b1", t0()),
            Err(FormTokenError::Invalid)
        );
    }
}

#[test]
fn pseudonyms_are_keyed_and_stable() {
    let a = pseudonym(&key(), "ip", "203.0.113.7");
    assert_eq!(a, pseudonym(&key(), "ip", "203.0.113.7"));
    assert_ne!(a, pseudonym(&key(), "ip", "203.0.113.8"));
    assert_ne!(
        a,
        pseudonym(
            &Secret::new("another-key-another-key-another-key"),
            "ip",
            "203.0.113.7"
        )
    );
    assert!(!a.contains("203"));
}

#[test]
fn an_erase_link_names_its_record_under_every_key_of_the_ring() {
    let owner = crate::domain::OwnerExternalId::parse("owner-1").expect("owner");
    let record = record_pseudonym(&Secret::new(OLD), &owner);
    let rotated = Secret::new(format!("k2:{NEW},k1:{OLD}"));
    assert!(names_record(&rotated, &owner, &record));
    let other = crate::domain::OwnerExternalId::parse("owner-2").expect("owner");
    assert!(!names_record(&rotated, &other, &record));
}
