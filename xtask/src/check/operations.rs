//! Operation-level rules, read through openapiv3's typed model.

use std::collections::{BTreeMap, BTreeSet};

use openapiv3::{OpenAPI, ReferenceOr, StatusCode};

use super::{Findings, token};

/// The schema every error response must use.
const ERROR_SCHEMA_REF: &str = "#/components/schemas/Error";

/// The one tag whose operations may take no credential: health probes,
/// which container runtimes call without any.
const OPEN_TAG: &str = "health";

/// Operation-level rules: identity, documentation, security, and the
/// response shapes that progenitor can turn into one success and one error
/// type.
pub(super) fn lint(spec: &OpenAPI, findings: &mut Findings) {
    let mut seen_ids = BTreeMap::new();
    for (path, method, op) in spec.operations() {
        let at = format!("/paths/{}/{method}", token(path));
        match op.operation_id.as_deref() {
            None | Some("") => findings.add(&at, "operation has no operationId"),
            Some(id) => {
                let camel = id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric());
                if !camel {
                    findings.add(
                        format!("{at}/operationId"),
                        format!("`{id}` is not camelCase"),
                    );
                }
                if let Some(other) = seen_ids.insert(id.to_owned(), at.clone()) {
                    findings.add(
                        format!("{at}/operationId"),
                        format!("`{id}` is also the operationId of {other}"),
                    );
                }
            }
        }
        if op.summary.as_deref().is_none_or(str::is_empty) {
            findings.add(&at, "operation has no summary");
        }
        if op.description.as_deref().is_none_or(str::is_empty) {
            findings.add(&at, "operation has no description");
        }
        if op.tags.is_empty() {
            findings.add(&at, "operation has no tag");
        }
        for (i, parameter) in op.parameters.iter().enumerate() {
            if let ReferenceOr::Item(parameter) = parameter
                && parameter
                    .parameter_data_ref()
                    .description
                    .as_deref()
                    .is_none_or(str::is_empty)
            {
                findings.add(
                    format!("{at}/parameters/{i}"),
                    "parameter has no description",
                );
            }
        }
        let security = op.security.as_ref().or(spec.security.as_ref());
        let open = security.is_none_or(|s| s.is_empty() || s.iter().any(|req| req.is_empty()));
        if open && !op.tags.iter().any(|tag| tag == OPEN_TAG) {
            findings.add(
                &at,
                format!("operation has no security requirement and is not tagged `{OPEN_TAG}`"),
            );
        }

        if op.responses.default.is_some() {
            findings.add(
                format!("{at}/responses/default"),
                "a `default` response panics progenitor; list each status",
            );
        }
        let mut success_schemas = BTreeSet::new();
        for (status, response) in &op.responses.responses {
            let code = match status {
                StatusCode::Code(code) => *code,
                StatusCode::Range(range) => range * 100,
            };
            let at = format!("{at}/responses/{status}");
            let Some(response) = resolve_response(spec, response) else {
                findings.add(&at, "response reference does not resolve");
                continue;
            };
            let schemas: Vec<Option<String>> = response
                .content
                .values()
                .map(|media| match &media.schema {
                    Some(ReferenceOr::Reference { reference }) => Some(reference.clone()),
                    _ => None,
                })
                .collect();
            if code >= 400 {
                if schemas.is_empty()
                    || schemas
                        .iter()
                        .any(|s| s.as_deref() != Some(ERROR_SCHEMA_REF))
                {
                    findings.add(&at, format!("error response must use `{ERROR_SCHEMA_REF}`"));
                }
            } else if (200..300).contains(&code) {
                success_schemas.extend(schemas);
            }
        }
        if success_schemas.len() > 1 {
            findings.add(
                format!("{at}/responses"),
                "success responses use different schemas; progenitor needs one",
            );
        }
    }
}

fn resolve_response<'a>(
    spec: &'a OpenAPI,
    response: &'a ReferenceOr<openapiv3::Response>,
) -> Option<&'a openapiv3::Response> {
    match response {
        ReferenceOr::Item(item) => Some(item),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/responses/")?;
            match spec.components.as_ref()?.responses.get(name)? {
                ReferenceOr::Item(item) => Some(item),
                ReferenceOr::Reference { .. } => None,
            }
        }
    }
}
