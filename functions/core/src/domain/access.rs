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

fn key(link_key: &Secret) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA256, b"kontomatik-signin/multiple-access-token/v1")
        .extract(crate::domain::links::key_material(link_key).as_bytes());
    let okm = prk
        .expand(&[b"aes-256-gcm"], &AES_256_GCM)
        .expect("32 bytes is within HKDF-SHA256's output");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// Seals `token` for `owner`: base64 of a random nonce and the ciphertext with its tag.
pub fn seal_token(
    link_key: &Secret,
    owner: &OwnerExternalId,
    token: &Secret,
) -> Result<String, AccessError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| AccessError::Random)?;
    let mut data = token.expose().as_bytes().to_vec();
    key(link_key)
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

/// Opens what [`seal_token`] sealed for `owner`.
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
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AccessError::Unreadable)?;
    let mut data = rest.to_vec();
    let plain = key(link_key)
        .open_in_place(nonce, Aad::from(owner.as_str().as_bytes()), &mut data)
        .map_err(|_| AccessError::Unreadable)?;
    let token = std::str::from_utf8(plain).map_err(|_| AccessError::Unreadable)?;
    Ok(Secret::new(token))
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
        assert!(!sealed.contains("mat-123"), "sealed, not encoded");
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
}
