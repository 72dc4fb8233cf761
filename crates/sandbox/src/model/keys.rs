//! The secret key format, key ids and the hash that is all the store keeps.
//!
//! A secret looks like `amk_` + 43 base62 characters carrying 256 bits from
//! the OS's CSPRNG + 6 base62 characters of CRC-32 over the random part.
//! The fixed prefix lets secret scanners find leaked keys, and the checksum
//! lets them tell a real key from a look-alike without asking the server
//! (the scheme of GitHub's tokens).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The prefix every secret starts with.
pub const SECRET_PREFIX: &str = "amk_";

const RANDOM_BYTES: usize = 32;
const RANDOM_CHARS: usize = 43; // ceil(256 / log2(62))
const CHECKSUM_CHARS: usize = 6; // ceil(32 / log2(62))
const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The SHA-256 of a secret: what the store keeps and looks keys up by.
pub type SecretHash = [u8; 32];

/// Makes a new secret from the OS's CSPRNG.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut random = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut random)?;
    Ok(secret_from(&random))
}

/// A well-formed secret derived from `seed` (its SHA-256 stands in for the
/// random part), so that a fixture file can name a key by a phrase. Anyone
/// who knows the seed knows the key: for test suites, never for keys that
/// guard anything.
pub fn from_seed(seed: &str) -> String {
    secret_from(&Sha256::digest(seed.as_bytes()).into())
}

/// The secret that `random` encodes.
fn secret_from(random: &[u8; RANDOM_BYTES]) -> String {
    let body = base62(random, RANDOM_CHARS);
    format!("{SECRET_PREFIX}{body}{}", checksum(&body))
}

/// The base62 CRC-32 that ends a secret.
fn checksum(body: &str) -> String {
    base62(&crc32(body.as_bytes()).to_be_bytes(), CHECKSUM_CHARS)
}

/// Whether `secret` has the format and a correct checksum. Scanners can run
/// this offline; the server uses it to refuse garbage before a lookup.
pub fn is_well_formed(secret: &str) -> bool {
    let Some(rest) = secret.strip_prefix(SECRET_PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS
        || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (body, sum) = rest.split_at(RANDOM_CHARS);
    checksum(body) == sum
}

/// The SHA-256 of a secret.
pub fn hash(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// A new key id: 32 lowercase hex digits, the form the vendor's ids have.
///
/// Like a UUIDv7, the id starts with the creation time in milliseconds and
/// ends in random bits, and ids made by one process strictly increase. Keys
/// are listed by `createdAt` (whole seconds) then `id`, so this puts keys
/// made within the same second in creation order, and a client paging
/// through the list never sees a new key jump ahead of the old ones.
pub fn new_id() -> Result<String, getrandom::Error> {
    static LAST: Mutex<u128> = Mutex::new(0);
    let mut random = [0u8; 10];
    getrandom::fill(&mut random)?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        & ((1 << 48) - 1);
    let candidate = random
        .iter()
        .fold(millis, |id, &byte| (id << 8) | u128::from(byte));
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    *last = candidate.max(*last + 1);
    Ok(format!("{:032x}", *last))
}

/// `bytes` random bytes from the OS's CSPRNG, as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random)?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

/// Big-endian base62 of `bytes`, left-padded with `0` to `width` digits.
///
/// base-x writes one `0` per leading zero byte, as base58 does; the key
/// format pads the number to a fixed width instead, so those are trimmed
/// before padding.
fn base62(bytes: &[u8], width: usize) -> String {
    let digits = base_x::encode(BASE62, bytes);
    format!("{:0>width$}", digits.trim_start_matches('0'))
}

fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_seed_always_makes_the_same_well_formed_key() {
        let key = super::from_seed("acme ci");
        assert!(super::is_well_formed(&key), "{key}");
        assert_eq!(key, super::from_seed("acme ci"));
        assert_ne!(key, super::from_seed("acme ci "));
    }

    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn base62_pads_and_encodes() {
        assert_eq!(base62(&[0], 3), "000");
        assert_eq!(base62(&[61], 1), "z");
        assert_eq!(base62(&[62], 2), "10");
        assert_eq!(
            base62(&[0xFF; 32], 43).len(),
            43,
            "2^256 - 1 fits in 43 digits"
        );
    }

    /// Keys already issued must keep verifying: these were made by the
    /// first, hand-written encoder (and checked against an independent
    /// implementation), including random parts with leading zero bytes.
    #[test]
    fn the_format_is_pinned_by_test_vectors() {
        let mut leading_zeros = [0u8; 32];
        leading_zeros[2] = 7;
        for (i, byte) in leading_zeros.iter_mut().enumerate().skip(3) {
            *byte = (i - 3) as u8;
        }
        let vectors: [([u8; 32], &str); 4] = [
            (
                std::array::from_fn(|i| i as u8),
                "amk_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf1Yo7hP",
            ),
            (
                [0; 32],
                "amk_00000000000000000000000000000000000000000002CZclj",
            ),
            (
                [0xFF; 32],
                "amk_yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp13sRzl1",
            ),
            (
                leading_zeros,
                "amk_00062G8g5i2IRdtGf0o6tAOtkO2g8VG65MQOAcN3OJA2FDwD8",
            ),
        ];
        for (random, secret) in vectors {
            assert_eq!(secret_from(&random), secret);
            assert!(is_well_formed(secret), "{secret}");
        }
    }

    #[test]
    fn secrets_are_well_formed_distinct_and_checksummed() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        assert_eq!(a.len(), SECRET_PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS);
        assert!(is_well_formed(&a) && is_well_formed(&b));
        // One changed character breaks the checksum.
        let mut tampered = a.clone().into_bytes();
        let i = SECRET_PREFIX.len() + 5;
        tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(
            &String::from_utf8(tampered).expect("ascii")
        ));
        assert!(!is_well_formed("ghp_0123"));
    }

    #[test]
    fn ids_are_32_lowercase_hex_and_increase() {
        let ids: Vec<String> = (0..1000).map(|_| new_id().expect("id")).collect();
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase");
    }
}
