//! What every generated open enum (`Scope`, `ApiKeyStatus`) shares: the
//! unknown-value holder and the trait impls that only need `as_str` and
//! `From<&str>`. The per-value parts are generated from the spec by
//! `build.rs`.

/// A wire value that this version of the client does not know.
///
/// It can only be made by parsing or deserializing, so a known value is
/// always its typed variant and never an `Unknown` in disguise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnknownValue(String);

impl UnknownValue {
    pub(crate) fn new(value: &str) -> Self {
        Self(value.to_owned())
    }

    /// The value exactly as the server sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Implements `Display`, `FromStr`, serde and `JsonSchema` for an open enum
/// in terms of its generated `as_str`, `From<&str>`, `ALL` and
/// `DESCRIPTION`.
macro_rules! open_enum_impls {
    ($name:ident) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Parsing never fails: a value this version does not know becomes
        /// `Unknown`. Check [`Self::is_known`] to reject those.
        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;

            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let value = <::std::string::String as ::serde::Deserialize>::deserialize(
                    deserializer,
                )?;
                Ok(Self::from(value.as_str()))
            }
        }

        /// The spec's schema: a string with the known values as its enum.
        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                let values: ::std::vec::Vec<&str> = Self::ALL.iter().map(Self::as_str).collect();
                ::schemars::json_schema!({
                    "description": Self::DESCRIPTION,
                    "type": "string",
                    "enum": values,
                })
            }
        }
    };
}
pub(crate) use open_enum_impls;
