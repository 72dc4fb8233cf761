//! String enum rules: unique values and variant names, descriptions in step
//! with the values, and scope groups that cover every scope once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Findings;
use super::schemas::schemas;

// The client's build script names variants with this; checking with the
// same function keeps the lint and the generated code in step.
#[path = "../../../crates/client/naming.rs"]
mod naming;

/// String enums: no duplicate values, no two values that become the same
/// Rust variant, descriptions in step with the values, and for the scope
/// enum, every value in exactly one group.
pub(super) fn lint(doc: &Value, findings: &mut Findings) {
    for (at, schema) in schemas(doc) {
        let Some(values) = schema.get("enum").and_then(Value::as_array) else {
            continue;
        };
        let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let mut seen = BTreeSet::new();
        let mut variants = BTreeMap::new();
        for value in &values {
            if !seen.insert(*value) {
                findings.add(format!("{at}/enum"), format!("`{value}` appears twice"));
                continue;
            }
            // Compared without case: names that differ only there would
            // confuse readers and collide in case-insensitive tools.
            let variant = naming::variant_name(value).to_ascii_lowercase();
            if let Some(other) = variants.insert(variant, *value) {
                findings.add(
                    format!("{at}/enum"),
                    format!("`{value}` and `{other}` would become the same Rust variant"),
                );
            }
        }

        match schema.get("x-enum-descriptions") {
            None => findings.add(&at, "enum has no `x-enum-descriptions`"),
            Some(Value::Array(descriptions)) => {
                if descriptions.len() != values.len() {
                    findings.add(
                        format!("{at}/x-enum-descriptions"),
                        format!(
                            "{} descriptions for {} values; keep one per value, in order",
                            descriptions.len(),
                            values.len()
                        ),
                    );
                }
                for (i, d) in descriptions.iter().enumerate() {
                    if d.as_str().is_none_or(|d| d.trim().is_empty()) {
                        findings.add(format!("{at}/x-enum-descriptions/{i}"), "empty description");
                    }
                }
            }
            Some(_) => findings.add(format!("{at}/x-enum-descriptions"), "must be an array"),
        }

        if let Some(groups) = schema.get("x-scope-groups") {
            lint_scope_groups(&at, groups, &values, findings);
        }
    }
}

/// The control spec's copy of the vendor's scopes: the sandbox accepts
/// exactly the vendor's `Scope` values in fixtures, so `ScopeName` must
/// list the same values, with the same descriptions, in the same order.
pub(super) fn lint_scope_copy(vendor: &Value, control: &Value, findings: &mut Findings) {
    const COPY: &str = "/components/schemas/ScopeName";
    let pointer = format!("{}#{COPY}", crate::derived::CONTROL_SPEC_YAML);
    for member in ["enum", "x-enum-descriptions"] {
        let original = vendor.pointer(&format!("/components/schemas/Scope/{member}"));
        if control.pointer(&format!("{COPY}/{member}")) != original {
            findings.add(
                format!("{pointer}/{member}"),
                format!(
                    "differs from `{member}` of Scope in {}; copy it again",
                    crate::derived::SPEC_YAML
                ),
            );
        }
    }
}

fn lint_scope_groups(at: &str, groups: &Value, values: &[&str], findings: &mut Findings) {
    let at = format!("{at}/x-scope-groups");
    let Some(groups) = groups.as_array() else {
        findings.add(at, "must be an array");
        return;
    };
    let mut grouped = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for key in ["name", "title"] {
            if group
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                findings.add(format!("{at}/{i}"), format!("group has no `{key}`"));
            }
        }
        let members = group.get("scopes").and_then(Value::as_array);
        for (j, scope) in members.into_iter().flatten().enumerate() {
            let scope = scope.as_str().unwrap_or_default();
            if !values.contains(&scope) {
                findings.add(
                    format!("{at}/{i}/scopes/{j}"),
                    format!("`{scope}` is not in the enum"),
                );
            }
            if let Some(other) = grouped.insert(scope, name) {
                findings.add(
                    format!("{at}/{i}/scopes/{j}"),
                    format!("`{scope}` is also in group `{other}`"),
                );
            }
        }
    }
    for value in values {
        if !grouped.contains_key(value) {
            findings.add(&at, format!("`{value}` is in no group"));
        }
    }
}
