//! Generated secret values: from the operating system's CSPRNG, with unbiased selection
//! from a charset (rejection sampling), for secret rotation and shares.

use zeroize::Zeroizing;

/// The characters a generated value is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Letters, digits and punctuation that survive shells and connection strings.
    Symbols,
    Alphanumeric,
    Numbers,
    /// A random (version 4) UUID; the length is ignored.
    Uuid,
}

const DIGITS: &str = "0123456789";
const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SYMBOLS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%+-.:=?@^_~";

/// Shortest and longest generated value.
pub const LENGTHS: std::ops::RangeInclusive<usize> = 8..=256;

impl Charset {
    pub const ALL: [Charset; 4] = [
        Charset::Symbols,
        Charset::Alphanumeric,
        Charset::Numbers,
        Charset::Uuid,
    ];

    pub fn parse(text: &str) -> Option<Charset> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Symbols => "symbols",
            Charset::Alphanumeric => "alphanumeric",
            Charset::Numbers => "numbers",
            Charset::Uuid => "uuid",
        }
    }

    fn alphabet(self) -> &'static [u8] {
        match self {
            Charset::Symbols => SYMBOLS.as_bytes(),
            Charset::Alphanumeric | Charset::Uuid => ALPHANUMERIC.as_bytes(),
            Charset::Numbers => DIGITS.as_bytes(),
        }
    }
}

/// A value of `length` characters of `charset` (a UUID for [`Charset::Uuid`]).
pub fn generate(length: usize, charset: Charset) -> Zeroizing<String> {
    if charset == Charset::Uuid {
        return uuid_v4();
    }
    let alphabet = charset.alphabet();
    // The largest multiple of the alphabet's size that fits in a byte: a byte at or above it
    // is drawn again, so every character is equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = Zeroizing::new(String::with_capacity(length));
    while out.len() < length {
        for byte in super::random_bytes(length * 2).iter() {
            if usize::from(*byte) < limit && out.len() < length {
                out.push(char::from(alphabet[usize::from(*byte) % alphabet.len()]));
            }
        }
    }
    out
}

fn uuid_v4() -> Zeroizing<String> {
    let mut bytes = super::random_bytes(16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = Zeroizing::new(hex::encode(&bytes[..]));
    Zeroizing::new(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn values_have_the_length_and_only_the_charset() {
        for charset in [Charset::Symbols, Charset::Alphanumeric, Charset::Numbers] {
            let value = generate(64, charset);
            assert_eq!(value.len(), 64);
            assert!(value.bytes().all(|b| charset.alphabet().contains(&b)));
        }
    }

    #[test]
    fn every_character_is_drawn_about_equally_often() {
        let mut counts: BTreeMap<char, usize> = BTreeMap::new();
        let draws = 200_000;
        for c in generate(draws, Charset::Symbols).chars() {
            *counts.entry(c).or_default() += 1;
        }
        let alphabet = Charset::Symbols.alphabet().len();
        assert_eq!(counts.len(), alphabet, "every character appears");
        let expected = draws / alphabet;
        for (c, n) in counts {
            // A biased modulo would give the first 256 % 75 characters ~33% more draws.
            assert!(
                n > expected * 85 / 100 && n < expected * 115 / 100,
                "{c:?} drawn {n} times, expected about {expected}"
            );
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let id = generate(32, Charset::Uuid);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(generate(32, Charset::Uuid), id);
    }

    #[test]
    fn charsets_parse_by_name_only() {
        assert_eq!(Charset::parse("numbers"), Some(Charset::Numbers));
        assert_eq!(Charset::parse("hex"), None);
    }
}
