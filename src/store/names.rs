//! Enums stored as text. Rows and events keep their statuses, kinds and outcomes as the
//! exact words of the wire format and the database; [`stored_names!`] declares such an enum
//! with the one `as_str`/`parse` pair that maps it to and from those words, so a word is
//! written in one place and a stored word that names no variant is refused, never guessed.

/// Declares a `Copy` enum whose variants are stored as the given words, with `as_str` (the
/// stored word) and `parse` (`None` for a word that names no variant).
macro_rules! stored_names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$( Self::$variant, )+];

            /// The word that stands for this variant on the wire and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }

            /// The variant `text` stands for, if any.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $( $word => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
