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
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The SHA-256 of a secret: what the store keeps and looks keys up by.
pub type SecretHash = [u8; 32];

/// Makes a new secret from the OS's CSPRNG.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut random = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut random)?;
    let body = base62(&random, RANDOM_CHARS);
    let checksum = base62(&crc32(body.as_bytes()).to_be_bytes(), CHECKSUM_CHARS);
    Ok(format!("{SECRET_PREFIX}{body}{checksum}"))
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
    let (body, checksum) = rest.split_at(RANDOM_CHARS);
    base62(&crc32(body.as_bytes()).to_be_bytes(), CHECKSUM_CHARS) == checksum
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
fn base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        // Long division of the whole number by 62.
        let mut remainder = 0u32;
        for byte in &mut number {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    digits.resize(width.max(digits.len()), b'0');
    digits.reverse();
    String::from_utf8(digits).expect("base62 digits are ASCII")
}

/// CRC-32 (IEEE 802.3, as in zlib), bit by bit: it runs once per key.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
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
