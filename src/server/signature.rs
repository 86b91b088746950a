//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the webhook secret, compared in
//! constant time. Several secrets may be configured (rotation): any one of them may match.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::config::Secret;

/// Why a delivery's signature was refused (the answer is 401 in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    /// No `X-Hub-Signature-256` (and no `X-Hub-Signature` either).
    Missing,
    /// Only the SHA-1 `X-Hub-Signature`: never accepted.
    Sha1Only,
    /// Not `sha256=` and 64 hex digits.
    Malformed,
    /// No configured secret produces it.
    Mismatch,
}

impl SigError {
    pub fn as_str(self) -> &'static str {
        match self {
            SigError::Missing => "missing X-Hub-Signature-256",
            SigError::Sha1Only => {
                "only the SHA-1 X-Hub-Signature was sent; eden accepts X-Hub-Signature-256"
            }
            SigError::Malformed => "X-Hub-Signature-256 is not sha256=<64 hex digits>",
            SigError::Mismatch => {
                "X-Hub-Signature-256 does not match any configured webhook secret"
            }
        }
    }
}

/// `sha256=<hex>` of `body` under `secret` (as GitHub sends it).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Check the delivery's signature headers against every secret.
pub fn verify(
    secrets: &[Secret],
    sha256: Option<&[u8]>,
    sha1_present: bool,
    body: &[u8],
) -> Result<(), SigError> {
    let header = match (sha256, sha1_present) {
        (Some(h), _) => h,
        (None, true) => return Err(SigError::Sha1Only),
        (None, false) => return Err(SigError::Missing),
    };
    let given = header
        .strip_prefix(b"sha256=")
        .filter(|h| h.len() == 64)
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SigError::Malformed)?;
    // Every secret is tried (no early exit), each compared in constant time.
    let mut matched = subtle::Choice::from(0);
    for s in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(s.expose().as_bytes()).expect("any key");
        mac.update(body);
        matched |= mac.finalize().into_bytes().as_slice().ct_eq(&given);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector (FIELD-NOTES).
    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secrets(s: &[&str]) -> Vec<Secret> {
        s.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn githubs_test_vector() {
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), VECTOR);
        let ok = secrets(&["It's a Secret to Everybody"]);
        assert_eq!(
            verify(&ok, Some(VECTOR.as_bytes()), false, b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            verify(&ok, Some(VECTOR.as_bytes()), false, b"Hello, World?"),
            Err(SigError::Mismatch)
        );
    }

    #[test]
    fn the_octokit_signature_of_a_fixture() {
        // npm @octokit/webhooks-methods `sign("fixture-secret", <ping.json>)`.
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/ping.json"
        ))
        .unwrap();
        let expected = "sha256=3794da00e81b17dd39439a736618974b32146b5616e20c9ae6d7b93ffa4010e3";
        assert_eq!(sign("fixture-secret", &body), expected);
    }

    #[test]
    fn any_rotated_secret_matches() {
        let s = secrets(&["old", "It's a Secret to Everybody", "new"]);
        assert_eq!(
            verify(&s, Some(VECTOR.as_bytes()), false, b"Hello, World!"),
            Ok(())
        );
        assert_eq!(
            verify(
                &secrets(&["old", "new"]),
                Some(VECTOR.as_bytes()),
                false,
                b"Hello, World!"
            ),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify(&[], Some(VECTOR.as_bytes()), false, b"Hello, World!"),
            Err(SigError::Mismatch)
        );
    }

    #[test]
    fn missing_sha1_only_and_malformed_are_refused() {
        let s = secrets(&["x"]);
        assert_eq!(verify(&s, None, false, b""), Err(SigError::Missing));
        assert_eq!(verify(&s, None, true, b""), Err(SigError::Sha1Only));
        for bad in [
            &VECTOR[7..], // no prefix
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
            "sha256=757107", // short
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert_eq!(
                verify(&s, Some(bad.as_bytes()), false, b"Hello, World!"),
                Err(SigError::Malformed),
                "{bad}"
            );
        }
    }
}
