//! What a multiple-access sign-in leaves for imports without the applicant: Kontomatik's
//! `multipleAccessToken`, sealed (AES-256-GCM, under a key derived from the link-signing key
//! and bound to the owner id), kept with the person — erased with them — until the access
//! lapses. Never logged, never in a URL; only ever opened to start such an import.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Duration;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{OwnerExternalId, Secret, Timestamp};

/// How long a multiple access lasts at the bank (PSD2's 90 days): after that the grant is
/// forgotten.
pub const ACCESS_LIFE: Duration = Duration::days(90);

/// A kept multiple access of one owner id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrant {
    pub owner: OwnerExternalId,
    /// The token, sealed ([`seal_token`]).
    pub sealed_token: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AccessError {
    /// Not ours, altered, for another owner, or sealed under a key no longer in use.
    #[error("the kept access cannot be opened")]
    Unreadable,
    #[error("the system's random source failed")]
    Random,
}

/// The sealing key derived from one key of the link-signing ring.
fn key(material: &str) -> Result<LessSafeKey, AccessError> {
    let prk = Salt::new(HKDF_SHA256, b"kontomatik-signin/multiple-access-token/v1")
        .extract(material.as_bytes());
    let okm = prk
        .expand(&[b"aes-256-gcm"], &AES_256_GCM)
        .map_err(|_| AccessError::Unreadable)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// Seals `token` for `owner` under the current key of the link-signing ring: base64 of a
/// random nonce and the ciphertext with its tag.
pub fn seal_token(
    link_key: &Secret,
    owner: &OwnerExternalId,
    token: &Secret,
) -> Result<String, AccessError> {
    let current = crate::domain::links::key_materials(link_key)
        .into_iter()
        .next()
        .ok_or(AccessError::Unreadable)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| AccessError::Random)?;
    let mut data = token.expose().as_bytes().to_vec();
    key(current)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(owner.as_str().as_bytes()),
            &mut data,
        )
        .map_err(|_| AccessError::Unreadable)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(STANDARD.encode(out))
}

/// Opens what [`seal_token`] sealed for `owner`, under any key of the link-signing ring (a
/// rotation keeps the previous key in the ring for a while, and with it the kept accesses).
pub fn open_token(
    link_key: &Secret,
    owner: &OwnerExternalId,
    sealed: &str,
) -> Result<Secret, AccessError> {
    let raw = STANDARD
        .decode(sealed)
        .map_err(|_| AccessError::Unreadable)?;
    if raw.len() <= NONCE_LEN {
        return Err(AccessError::Unreadable);
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    for material in crate::domain::links::key_materials(link_key) {
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AccessError::Unreadable)?;
        let mut data = rest.to_vec();
        let opened =
            key(material)?.open_in_place(nonce, Aad::from(owner.as_str().as_bytes()), &mut data);
        if let Ok(plain) = opened {
            let token = std::str::from_utf8(plain).map_err(|_| AccessError::Unreadable)?;
            return Ok(Secret::new(token));
        }
    }
    Err(AccessError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(raw: &str) -> OwnerExternalId {
        OwnerExternalId::parse(raw).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_owner_under_its_key() {
        let k = Secret::new("a-link-signing-key-of-at-least-32-chars");
        let token = Secret::new("mat-123-secret");
        let sealed = seal_token(&k, &owner("own-a"), &token).unwrap();
        let raw = STANDARD.decode(&sealed).unwrap();
        assert!(
            !String::from_utf8_lossy(&raw).contains("mat-123"),
            "sealed, not merely encoded"
        );
        assert_eq!(
            open_token(&k, &owner("own-a"), &sealed).unwrap().expose(),
            "mat-123-secret"
        );
        assert_ne!(
            sealed,
            seal_token(&k, &owner("own-a"), &token).unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            open_token(&k, &owner("own-b"), &sealed),
            Err(AccessError::Unreadable)
        );
        let other = Secret::new("another-link-signing-key-of-32-chars!!");
        assert_eq!(
            open_token(&other, &owner("own-a"), &sealed),
            Err(AccessError::Unreadable)
        );
        let mut tampered = STANDARD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            open_token(&k, &owner("own-a"), &STANDARD.encode(tampered)),
            Err(AccessError::Unreadable)
        );
        assert_eq!(
            open_token(&k, &owner("own-a"), "short"),
            Err(AccessError::Unreadable)
        );
    }

    #[test]
    fn a_rotated_ring_still_opens_what_the_previous_key_sealed() {
        let old = Secret::new("k1:a-link-signing-key-of-at-least-32-chars");
        let rotated = Secret::new(
            "k2:the-new-link-signing-key-of-32-chars!!,k1:a-link-signing-key-of-at-least-32-chars",
        );
        let sealed = seal_token(&old, &owner("own-a"), &Secret::new("mat-9")).unwrap();
        assert_eq!(
            open_token(&rotated, &owner("own-a"), &sealed)
                .unwrap()
                .expose(),
            "mat-9"
        );
        let only_new = Secret::new("k2:the-new-link-signing-key-of-32-chars!!");
        assert_eq!(
            open_token(&only_new, &owner("own-a"), &sealed),
            Err(AccessError::Unreadable)
        );
    }
}
