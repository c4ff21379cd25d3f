//! The typed ids of [`crate::ids`] as database columns: each is stored as the text it
//! wraps, so `.bind(&id)` and row decoding work on ids as on strings. Generic over the
//! database (every one whose `String` is a column type), so another backend reuses it;
//! here rather than in `crate::ids`, which stays free of sqlx.

use crate::ids::for_each_id;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

/// Implements `Type`, `Encode` and `Decode` of each id by delegating to `String`. Called
/// with the list of `crate::ids::for_each_id`, whose doc comments it passes over.
macro_rules! text_columns {
    ($( $(#[$doc:meta])* $id:ident, )+) => {$(
        impl<DB: Database> Type<DB> for crate::ids::$id
        where
            String: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for crate::ids::$id
        where
            String: Encode<'q, DB>,
        {
            fn encode(self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <String as Encode<'q, DB>>::encode(self.into_string(), buf)
            }

            /// One copy of the text, as binding a `&String` makes.
            fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <String as Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for crate::ids::$id
        where
            String: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <String as Decode<'r, DB>>::decode(value).map(Self::from)
            }
        }
    )+};
}

for_each_id!(text_columns);

#[cfg(test)]
mod tests {
    use crate::ids::GroupId;
    use sqlx::{Connection, SqliteConnection};

    /// An id binds and decodes as the very text it wraps.
    #[tokio::test]
    async fn an_id_is_stored_as_its_text() {
        let mut db = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory database");
        let id = GroupId::from("grp_0123");
        let (text, back): (String, GroupId) = sqlx::query_as("SELECT ?, ?")
            .bind(&id)
            .bind(id.clone())
            .fetch_one(&mut db)
            .await
            .expect("round trip");
        assert_eq!(text, "grp_0123");
        assert_eq!(back, id);
    }
}
