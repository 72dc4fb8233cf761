//! Generates the client from the crate's copy of the OpenAPI spec.
//!
//! The generation settings live here and nowhere else. The formatted output
//! is written to `$OUT_DIR/codegen.rs`, which `src/lib.rs` includes and the
//! snapshot test in `tests/generated_surface.rs` pins.
//!
//! Two kinds of spec type are generated here rather than by progenitor:
//!
//! - String enums become *open* enums. progenitor (through typify) makes a
//!   closed enum that fails to deserialize a value it does not know, yet the
//!   vendor's own page shows scopes its tables do not list, so a live server
//!   can send values newer than this client. Each open enum has one variant
//!   per spec value plus `Unknown`, which keeps any other string verbatim.
//!   progenitor is told to use them in place of its own (`with_replacement`).
//! - `ApiKeySecret` is replaced by a hand-written type that hides the secret
//!   from `Debug`.

use std::{env, fs, path::PathBuf};

use proc_macro2::TokenStream;
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypeImpl};
use quote::{format_ident, quote};
use serde_json::Value;

// `naming.rs` beside this file: the variant naming rule, shared with the
// tests and `cargo xtask check`.
mod naming;

/// Written by `cargo xtask gen` from `openapi/alphamoon-workspace.yaml`.
const SPEC: &str = "alphamoon-workspace.json";

/// The spec's string enums, generated as open enums.
const OPEN_ENUMS: [&str; 2] = ["Scope", "ApiKeyStatus"];

fn main() {
    println!("cargo::rerun-if-changed={SPEC}");
    let text = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read {SPEC}: {e}"));
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{SPEC} is not an OpenAPI 3.0 document: {e}"));
    let raw: Value = serde_json::from_str(&text).expect("the spec is JSON");

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        // Retries, timeouts and tracing live in `ClientHooks` for `Client`
        // (src/hooks.rs); `Expected` makes forgetting that impl an error.
        .with_inner_type(quote!(crate::hooks::ClientState))
        .with_hooks(HooksMode::Expected)
        // Lets tests hold the Rust types' schemas against the spec's.
        .with_derive("schemars::JsonSchema")
        .with_replacement("ApiKeySecret", "crate::ApiKeySecret", std::iter::empty());
    for name in OPEN_ENUMS {
        settings.with_replacement(
            name,
            format!("crate::{name}"),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }

    let mut tokens = Generator::new(&settings)
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {SPEC}: {e}"));

    let base_url = &spec.servers.first().expect("the spec names its server").url;
    tokens.extend(quote! {
        /// The production base URL, the first of the spec's `servers`.
        pub const DEFAULT_BASE_URL: &str = #base_url;
    });
    for name in OPEN_ENUMS {
        let schema = &raw["components"]["schemas"][name];
        tokens.extend(open_enum(name, schema));
    }
    tokens.extend(scope_groups(&raw["components"]["schemas"]["Scope"]));

    let file: syn::File = syn::parse2(tokens).expect("generated code is valid Rust");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("codegen.rs");
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The variant for a wire value. `cargo xtask check` rejects values that
/// would collide.
fn variant_ident(value: &str) -> proc_macro2::Ident {
    format_ident!("{}", naming::variant_name(value))
}

/// Doc comments are written as `#[doc]` strings, one per line, so that
/// rustdoc sees the spec's text as written.
fn docs(text: &str) -> TokenStream {
    let lines = text.trim_end().lines().map(|line| format!(" {line}"));
    quote! { #(#[doc = #lines])* }
}

fn open_enum(name: &str, schema: &Value) -> TokenStream {
    let ident = format_ident!("{name}");
    let values = strings(&schema["enum"]);
    let descriptions = strings(&schema["x-enum-descriptions"]);
    assert_eq!(
        values.len(),
        descriptions.len(),
        "{name}: one description per value"
    );
    let variants: Vec<_> = values.iter().map(|v| variant_ident(v)).collect();
    let variant_docs: Vec<_> = values
        .iter()
        .zip(&descriptions)
        .map(|(value, d)| docs(&format!("`{value}`: {d}")))
        .collect();
    let description = schema["description"]
        .as_str()
        .unwrap_or_default()
        .trim_end();
    let enum_docs = docs(&format!(
        "{description}\n\nGenerated from the spec as an open enum: a value this version \
         does not know deserializes to `Unknown` and serializes back unchanged."
    ));
    quote! {
        #enum_docs
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum #ident {
            #( #variant_docs #variants, )*
            /// A value this version of the client does not know, kept verbatim.
            Unknown(crate::UnknownValue),
        }

        impl #ident {
            /// Every value this version of the client knows, in spec order.
            pub const ALL: &'static [Self] = &[#(Self::#variants),*];

            /// The schema's description in the spec.
            pub const DESCRIPTION: &'static str = #description;

            /// The exact string sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#variants => #values, )*
                    Self::Unknown(value) => value.as_str(),
                }
            }

            /// The spec's description of this value, or `None` for an
            /// unknown one.
            pub fn description(&self) -> Option<&'static str> {
                match self {
                    #( Self::#variants => Some(#descriptions), )*
                    Self::Unknown(_) => None,
                }
            }

            /// Whether this version of the client knows the value.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl ::std::convert::From<&str> for #ident {
            fn from(value: &str) -> Self {
                match value {
                    #( #values => Self::#variants, )*
                    other => Self::Unknown(crate::UnknownValue::new(other)),
                }
            }
        }

        crate::open_enum_impls!(#ident);
    }
}

/// `ScopeGroup`: the spec's `x-scope-groups`, with each scope's group.
fn scope_groups(scope: &Value) -> TokenStream {
    let groups = scope["x-scope-groups"]
        .as_array()
        .expect("Scope has x-scope-groups");
    let mut variants = Vec::new();
    let mut names = Vec::new();
    let mut titles = Vec::new();
    let mut members = Vec::new();
    let mut member_groups = Vec::new();
    for group in groups {
        let name = group["name"].as_str().expect("group name");
        let variant = variant_ident(name);
        let scopes: Vec<_> = strings(&group["scopes"])
            .into_iter()
            .map(variant_ident)
            .collect();
        member_groups.push(quote! { #( Scope::#scopes )|* => Some(ScopeGroup::#variant) });
        members.push(quote! { &[#(Scope::#scopes),*] });
        variants.push(variant);
        names.push(name);
        titles.push(group["title"].as_str().expect("group title"));
    }
    let variant_docs = titles.iter().map(|t| docs(t));
    quote! {
        /// The groups the spec sorts scopes into (`x-scope-groups`), as the
        /// vendor's page presents them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ScopeGroup {
            #( #variant_docs #variants, )*
        }

        impl ScopeGroup {
            /// Every group, in spec order.
            pub const ALL: &'static [Self] = &[#(Self::#variants),*];

            /// The group's short name, e.g. `collections` or `user-admin`.
            pub fn name(self) -> &'static str {
                match self { #( Self::#variants => #names, )* }
            }

            /// The group's heading on the vendor's page.
            pub fn title(self) -> &'static str {
                match self { #( Self::#variants => #titles, )* }
            }

            /// The scopes in the group, in spec order.
            pub fn scopes(self) -> &'static [Scope] {
                match self { #( Self::#variants => #members, )* }
            }

            /// The group with this short name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { #( #names => Some(Self::#variants), )* _ => None }
            }
        }

        impl ::std::fmt::Display for ScopeGroup {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Scope {
            /// The group the scope belongs to, or `None` for an unknown one.
            pub fn group(&self) -> Option<ScopeGroup> {
                match self {
                    #( #member_groups, )*
                    Self::Unknown(_) => None,
                }
            }
        }
    }
}
