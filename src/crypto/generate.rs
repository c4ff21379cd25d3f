//! Generated values: random text of a chosen character set, for one-time shares (and, later,
//! secret rotation), drawn from the operating system's CSPRNG.
//!
//! Every character is chosen without bias: a random byte is used only when it falls below
//! the largest multiple of the alphabet's size that fits in a byte (rejection sampling), so
//! `byte % size` gives every character the same chance. A plain `byte % size` would favour
//! the first `256 % size` characters.

use zeroize::Zeroizing;

/// Default length of a generated value.
pub const DEFAULT_LENGTH: usize = 32;
/// The lengths a caller may ask for (a UUID ignores it).
pub const LENGTHS: std::ops::RangeInclusive<usize> = 8..=256;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
/// Punctuation of `symbols`: printable ASCII without quotes, backslash, backtick and space,
/// so a value pastes into a shell, a JSON string or a config file unescaped.
const PUNCTUATION: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";

/// What a generated value is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Letters, digits and punctuation.
    Symbols,
    /// Letters and digits.
    Alphanumeric,
    /// Digits only.
    Numbers,
    /// A random (version 4) UUID in its canonical text; the length is ignored.
    Uuid,
}

impl Charset {
    pub const ALL: [Charset; 4] = [
        Charset::Symbols,
        Charset::Alphanumeric,
        Charset::Numbers,
        Charset::Uuid,
    ];

    /// The charset named `text`, `None` for a name it does not know.
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

    /// The characters to draw from (empty for a UUID, which has its own shape).
    fn alphabet(self) -> Vec<u8> {
        let parts: &[&str] = match self {
            Charset::Symbols => &[UPPER, LOWER, DIGITS, PUNCTUATION],
            Charset::Alphanumeric => &[UPPER, LOWER, DIGITS],
            Charset::Numbers => &[DIGITS],
            Charset::Uuid => &[],
        };
        parts.iter().flat_map(|p| p.bytes()).collect()
    }
}

/// A fresh random value of `length` characters of `charset` (a UUID for [`Charset::Uuid`]).
/// The caller checks `length` against [`LENGTHS`]; here it is only clamped to it.
pub fn generate(length: usize, charset: Charset) -> Zeroizing<String> {
    if charset == Charset::Uuid {
        return uuid_v4();
    }
    let length = length.clamp(*LENGTHS.start(), *LENGTHS.end());
    from_alphabet(&charset.alphabet(), length)
}

/// `length` characters drawn uniformly from `alphabet` (ASCII, 2 to 256 characters).
pub(crate) fn from_alphabet(alphabet: &[u8], length: usize) -> Zeroizing<String> {
    assert!((2..=256).contains(&alphabet.len()) && alphabet.is_ascii());
    let limit = acceptance_limit(alphabet.len());
    let mut out = Zeroizing::new(String::with_capacity(length));
    while out.len() < length {
        let bytes = super::random_bytes(length.max(32));
        for byte in bytes.iter().map(|b| usize::from(*b)) {
            if byte < limit && out.len() < length {
                out.push(char::from(alphabet[byte % alphabet.len()]));
            }
        }
    }
    out
}

/// The bytes below this bound are used, the others drawn again: the largest multiple of
/// `size` not above 256, so every residue modulo `size` is equally likely.
fn acceptance_limit(size: usize) -> usize {
    256 - 256 % size
}

/// A version 4 UUID (RFC 9562): 122 random bits, the version and variant bits set.
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
    fn names_round_trip_and_unknown_names_are_none() {
        for charset in Charset::ALL {
            assert_eq!(Charset::parse(charset.as_str()), Some(charset));
        }
        assert_eq!(Charset::parse("emoji"), None);
        assert_eq!(Charset::parse("Symbols"), None);
    }

    #[test]
    fn values_have_the_asked_length_and_only_the_charset() {
        for charset in [Charset::Symbols, Charset::Alphanumeric, Charset::Numbers] {
            let alphabet = charset.alphabet();
            for length in [8, 32, 256] {
                let value = generate(length, charset);
                assert_eq!(value.len(), length);
                assert!(value.bytes().all(|b| alphabet.contains(&b)), "{charset:?}");
            }
        }
        assert_eq!(
            Charset::Symbols.alphabet().len(),
            26 + 26 + 10 + PUNCTUATION.len()
        );
        assert!(!PUNCTUATION.contains(['"', '\'', '\\', '`', ' ']));
    }

    /// Coarse check of uniformity: over many draws every character appears, and none is
    /// drawn more than twice as often as the expected count (a biased modulo over a
    /// 90-character alphabet would give the first 76 characters 2 chances in 256 and the
    /// rest 1, visible here as a factor of 2).
    #[test]
    fn every_character_is_drawn_and_none_is_favoured() {
        for charset in [Charset::Symbols, Charset::Alphanumeric, Charset::Numbers] {
            let alphabet = charset.alphabet();
            let mut counts: BTreeMap<u8, usize> = BTreeMap::new();
            let draws = 200 * alphabet.len();
            let text = from_alphabet(&alphabet, draws);
            for b in text.bytes() {
                *counts.entry(b).or_default() += 1;
            }
            assert_eq!(
                counts.len(),
                alphabet.len(),
                "{charset:?}: a character never drawn"
            );
            let (min, max) = (
                *counts.values().min().expect("drawn"),
                *counts.values().max().expect("drawn"),
            );
            assert!(max < 2 * min, "{charset:?}: {min}..{max}");
        }
    }

    #[test]
    fn the_rejection_bound_is_a_multiple_of_the_alphabet_size() {
        for size in 2..=256 {
            let limit = acceptance_limit(size);
            assert_eq!(limit % size, 0);
            assert!(limit <= 256 && limit > 256 - size, "{size}");
        }
        assert_eq!(acceptance_limit(10), 250);
        assert_eq!(acceptance_limit(62), 248);
    }

    #[test]
    fn a_uuid_is_canonical_version_4() {
        let a = generate(0, Charset::Uuid);
        let b = generate(999, Charset::Uuid);
        assert_ne!(*a, *b);
        for uuid in [a, b] {
            let groups: Vec<&str> = uuid.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(uuid.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
            assert!(!uuid.bytes().any(|c| c.is_ascii_uppercase()));
            assert_eq!(&groups[2][..1], "4");
            assert!("89ab".contains(&groups[3][..1]));
        }
    }
}
